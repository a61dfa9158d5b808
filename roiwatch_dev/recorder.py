"""A real MQTT client that records every message under roiwatch/ and waits for the ones wanted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from roiwatch_agent import protocol

from .mosquitto import Mosquitto

TOPICS = protocol.Topics()


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    at: float

    @property
    def text(self) -> str:
        return self.payload.decode(errors="replace")


class Recorder:
    """A real MQTT client that records everything under roiwatch/ and can publish."""

    def __init__(self, broker: Mosquitto, credentials: tuple[str, str] | None = None) -> None:
        self.messages: list[Message] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("roiwatch/#", qos=1)
        if credentials:
            self.client.username_pw_set(*credentials)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert subscribed.wait(10), "recorder could not subscribe"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(Message(msg.topic, msg.payload, bool(msg.retain), time.monotonic()))
            self.cond.notify_all()

    def publish(self, topic: str, payload: bytes | str, retain: bool = True, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def wait_for(
        self,
        topic: str,
        predicate: Callable[[Message], bool] = lambda m: True,
        timeout: float = 20.0,
        after: float = 0.0,
    ) -> Message:
        """First message on ``topic`` received at or after ``after`` matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages:
                    if m.topic == topic and m.at >= after and predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, m.text[:120]) for m in self.messages if m.topic == topic][-5:]
                    raise AssertionError(f"no matching message on {topic} in {timeout}s; last: {seen}")
                self.cond.wait(left)

    def wait_status(
        self, camera: str, timeout: float = 20.0, after: float = 0.0, **want: Any
    ) -> protocol.Status:
        def ok(m: Message) -> bool:
            try:
                status = protocol.parse_status(m.payload)
            except protocol.ProtocolError:
                return False
            return all(getattr(status, k) == v for k, v in want.items())

        return protocol.parse_status(self.wait_for(TOPICS.status(camera), ok, timeout, after).payload)

    def on_topic(self, topic: str, after: float = 0.0) -> list[Message]:
        with self.cond:
            return [m for m in self.messages if m.topic == topic and m.at >= after]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
