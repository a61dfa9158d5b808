"""The agent's control connection: MQTT in, camera controllers on the main thread.

The smart role controls its own camera; the analyzer role controls the dumb cameras of its
shard. Both run detection in one process per camera (see supervisor.py).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from typing import Any

import paho.mqtt.client as mqtt

from .. import protocol
from ..broker import connect_async, connection_accepted, disconnect_gracefully, make_client
from .camera import CameraController, DetectionSettings
from .config_store import ConfigStore

_LOGGER = logging.getLogger(__name__)
_CONNECTED = "$connected"  # an inbox marker, never a topic leaf


class ControlLoop:
    """Base: one MQTT connection, a queue of (camera, leaf, payload), controllers by camera."""

    client_prefix = "roiwatch"

    def __init__(self, settings: DetectionSettings, store: ConfigStore) -> None:
        self.settings = settings
        self.store = store
        self.topics = protocol.Topics(settings.base_topic)
        self.controllers: dict[str, CameraController] = {}
        self.releasing: list[CameraController] = []  # cameras let go of, until their process is gone
        self.inbox: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self.client = make_client(settings.broker, self.client_id(), will=self.will())
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # ---- hooks for the roles ------------------------------------------------------------

    def client_id(self) -> str:
        raise NotImplementedError

    def will(self) -> tuple[str, bytes] | None:
        return None

    def subscriptions(self) -> list[str]:
        raise NotImplementedError

    def on_connected(self) -> None:
        """Publish what this role announces (called on every connect)."""

    def dispatch(self, camera_id: str, leaf: str, payload: bytes) -> None:
        raise NotImplementedError

    def on_closing(self) -> None:
        """Last words before disconnecting."""

    # ---- MQTT thread --------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not connection_accepted(client, self.settings.broker, reason):
            return
        _LOGGER.info("Connected to %s", self.settings.broker.redacted_url)
        for topic in self.subscriptions():
            client.subscribe(topic, qos=1)
        self.on_connected()
        self.inbox.put(("", _CONNECTED, b""))  # resynchronise controllers on the main thread

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            _LOGGER.warning("Lost the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parsed = self.topics.parse(msg.topic)
        if parsed is None:
            return
        camera_id, leaf, _roi = parsed
        self.inbox.put((camera_id, leaf, msg.payload))

    def publish(self, topic: str, payload: bytes | str, qos: int, retain: bool) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    # ---- main thread --------------------------------------------------------------------

    def controller(self, camera_id: str) -> CameraController:
        ctl = self.controllers.get(camera_id)
        if ctl is None:
            ctl = CameraController(camera_id, self.settings, self.store, self.publish)
            self.controllers[camera_id] = ctl
            ctl.start()
        return ctl

    def _waiting_messages(self) -> list[tuple[str, str, bytes]]:
        """Every message waiting (after up to 0.1 s for the first; 0.02 s while a stop is under way).

        Controllers act on them together in tick(): a burst (retained config and armed at
        connect, quick edits in HA) costs one restart, not one each.
        """
        batch: list[tuple[str, str, bytes]] = []
        busy = any(ctl.busy for ctl in [*self.controllers.values(), *self.releasing])
        try:
            batch.append(self.inbox.get(timeout=0.02 if busy else 0.1))
            while True:
                batch.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return batch

    def run(self, stop: threading.Event) -> None:
        connect_async(self.client, self.settings.broker)
        try:
            while not stop.is_set():
                for camera_id, leaf, payload in self._waiting_messages():
                    if leaf == _CONNECTED:
                        for ctl in self.controllers.values():
                            ctl.resync()
                    else:
                        self.dispatch(camera_id, leaf, payload)
                if stop.is_set():
                    break  # a signal to the process group also stops the children: no restarts
                for ctl in [*self.controllers.values(), *self.releasing]:
                    ctl.tick()
                self.releasing = [ctl for ctl in self.releasing if not ctl.idle]
        finally:
            self.close()

    def close(self) -> None:
        every = [*self.controllers.values(), *self.releasing]
        for ctl in every:  # all stops at once, then wait for them together
            ctl.release()
        for ctl in every:
            ctl.close()
        self.on_closing()
        disconnect_gracefully(self.client)


class SmartLoop(ControlLoop):
    """A camera that detects by itself."""

    def __init__(
        self, camera_id: str, settings: DetectionSettings, store: ConfigStore, host_label: str = ""
    ) -> None:
        self.camera_id = camera_id
        self.host_label = host_label
        super().__init__(settings, store)
        self.controller(camera_id)

    def client_id(self) -> str:
        return f"roiwatch-smart-{self.camera_id}"

    def will(self) -> tuple[str, bytes]:
        return self.topics.availability(self.camera_id), protocol.OFFLINE.encode()

    def subscriptions(self) -> list[str]:
        return [self.topics.config(self.camera_id), self.topics.armed(self.camera_id)]

    def on_connected(self) -> None:
        cam = self.camera_id
        self.publish(
            self.topics.announce(cam),
            protocol.build_announce(cam, protocol.KIND_SMART, self.settings.version, self.host_label),
            1,
            True,
        )
        self.publish(self.topics.availability(cam), protocol.ONLINE, 1, True)

    def dispatch(self, camera_id: str, leaf: str, payload: bytes) -> None:
        if camera_id != self.camera_id:
            return
        if leaf == protocol.LEAF_CONFIG:
            self.controllers[camera_id].on_config(payload)
        elif leaf == protocol.LEAF_ARMED:
            self.controllers[camera_id].on_armed(payload)

    def on_closing(self) -> None:
        self.publish(self.topics.availability(self.camera_id), protocol.OFFLINE, 1, True)


class AnalyzerLoop(ControlLoop):
    """Detection for dumb cameras: all that have a config, or those named; one shard of them."""

    def __init__(
        self,
        settings: DetectionSettings,
        store: ConfigStore,
        cameras: list[str],
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.named = set(cameras)
        self.shard = shard
        super().__init__(settings, store)
        self._armed: dict[str, bytes] = {}
        for camera_id in store.cached_ids():
            if self.mine(camera_id):
                self.controller(camera_id)

    def client_id(self) -> str:
        return f"roiwatch-analyzer-{self.shard[0]}of{self.shard[1]}-{socket.gethostname()}-{os.getpid()}"

    def mine(self, camera_id: str) -> bool:
        if self.named:
            return camera_id in self.named
        return protocol.shard_of(camera_id, self.shard[1]) == self.shard[0]

    def subscriptions(self) -> list[str]:
        leaves = (protocol.LEAF_CONFIG, protocol.LEAF_ARMED)
        if self.named:
            return [f"{self.topics.base}/{cam}/{leaf}" for cam in sorted(self.named) for leaf in leaves]
        return [self.topics.all_cameras(leaf) for leaf in leaves]

    def dispatch(self, camera_id: str, leaf: str, payload: bytes) -> None:
        if not self.mine(camera_id):
            return
        if leaf == protocol.LEAF_ARMED:
            self._armed[camera_id] = payload
            if camera_id in self.controllers:
                self.controllers[camera_id].on_armed(payload)
            return
        if leaf != protocol.LEAF_CONFIG:
            return
        if payload and camera_id not in self.named and not self._is_dumb(payload):
            ctl = self.controllers.pop(camera_id, None)
            if ctl is not None:
                _LOGGER.info("Camera %s is not a dumb camera any more; releasing it", camera_id)
                ctl.release()
                self.releasing.append(ctl)
            return
        if not payload and camera_id not in self.controllers:
            return
        ctl = self.controller(camera_id)
        if camera_id in self._armed:
            ctl.on_armed(self._armed[camera_id])
        ctl.on_config(payload)

    @staticmethod
    def _is_dumb(payload: bytes) -> bool:
        """A config whose kind we cannot read is passed on, so its error gets reported."""
        try:
            return protocol.parse_config(payload)["kind"] == protocol.KIND_DUMB
        except protocol.ProtocolError:
            return True
