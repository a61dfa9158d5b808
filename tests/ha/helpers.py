"""Helpers of the RoiWatch Home Assistant tests: a real broker, the agent's client, a recorder."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as paho
import pytest
from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.roiwatch.const import (
    CONF_DETECT,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    SUBENTRY_ROI,
)
from custom_components.roiwatch.protocol import CameraConfig, parse_config
from roiwatch_dev import VIDEO
from roiwatch_dev.agents import stop_group
from roiwatch_dev.mosquitto import Mosquitto, find_mosquitto
from roiwatch_dev.waiting import wait_for

AGENT = Path(sys.executable).parent / "roiwatch-agent"
"""The agent installed beside this Python: each leg of the test matrix runs its own."""
REAL_AGENT_MARKS = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed"),
    pytest.mark.skipif(not AGENT.exists(), reason="roiwatch-agent is not installed"),
    pytest.mark.skipif(not VIDEO.exists(), reason="vtest.avi is missing (scripts/setup)"),
]
"""The marks of a test module that runs the real agent on the real video with a real broker."""

CAMERA_ID = "porch"
BASE = f"roiwatch/{CAMERA_ID}"
# Outside roiwatch/#: the recorder and the integration never see the tests' own sentinels.
SENTINEL = "roiwatch_test"
# As roiwatch_agent publishes: everything retained, QoS 1 but the snapshot (QoS 0).
AGENT_QOS = {"snapshot": 0}


def jpeg(width: int = 64, height: int = 48) -> bytes:
    """A JPEG header that declares a size (all the protocol reads before decoding)."""
    sof = (
        b"\xff\xc0\x00\x11\x08"
        + height.to_bytes(2, "big")
        + width.to_bytes(2, "big")
        + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + sof + b"\xff\xd9"


def camera_device(hass: HomeAssistant, entry_id: str) -> dr.DeviceEntry:
    """The one device of a camera's config entry (async_get_device is deprecated)."""
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry_id)
    assert len(devices) == 1, devices
    return devices[0]


def is_state(hass: HomeAssistant, entity_id: str, value: str) -> Callable[[], bool]:
    """A predicate on an entity's state."""

    def check() -> bool:
        state = hass.states.get(entity_id)
        return state is not None and state.state == value

    return check


async def add_region(
    hass: HomeAssistant, entry_id: str, points: str = "0,30 100,30 100,100 0,100", **fields: Any
) -> None:
    """ "Add region" as the UI does it (a person region named Walkway by default)."""
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_ROI), context={"source": SOURCE_USER}
    )
    user_input = {
        CONF_NAME: "Walkway",
        CONF_DETECT: "person",
        CONF_POINTS: points,
        CONF_SENSITIVITY: 50,
        CONF_OFF_DELAY: 3,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input | fields)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result


async def setup_real_mqtt(
    hass: HomeAssistant, broker: Mosquitto, credentials: tuple[str, str] | None = None
) -> MockConfigEntry:
    """The MQTT integration with its real paho client (no harness mocks), logged in if asked."""
    login = {CONF_USERNAME: credentials[0], CONF_PASSWORD: credentials[1]} if credentials else {}
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        data={mqtt.CONF_BROKER: "127.0.0.1", CONF_PORT: broker.port, **login},
        # No birth message: HA's own task for it fails unhandled when a test stops the broker
        # right after connecting; RoiWatch does not use it.
        options={"birth_message": {}},
        version=1,
        minor_version=2,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(lambda: mqtt.is_connected(hass), "HA to connect to mosquitto", 20)
    return entry


class Delivered(NamedTuple):
    """One message as a client received it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class _Client:
    """A paho client on its own thread whose arrivals wake the test's event loop."""

    def __init__(self, broker: Mosquitto, protocol: int = paho.MQTTv311) -> None:
        self.loop = asyncio.get_running_loop()
        self.name = uuid.uuid4().hex[:12]
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{self.name}", protocol=protocol
        )
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._threadsafe(self._ready)
        self.client.on_message = self._on_message
        self.received: list[Delivered] = []
        self.sessions = 0
        """Connections made and subscribed."""
        self._changed = asyncio.Event()
        self._counter = itertools.count()
        self.client.connect_async("127.0.0.1", broker.port)
        self.client.loop_start()

    def subscriptions(self) -> list[tuple[str, Any]]:
        """What to subscribe to on each connection."""
        return []

    def _threadsafe(self, func: Callable[..., None], *args: Any) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(func, *args)

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        if subscriptions := self.subscriptions():
            client.subscribe(subscriptions)
        else:
            self._threadsafe(self._ready)

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        self._threadsafe(self._arrived, Delivered(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    def _ready(self) -> None:
        self.sessions += 1
        self._changed.set()

    def _arrived(self, delivered: Delivered) -> None:
        self.received.append(delivered)
        self._changed.set()

    async def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds, woken by each arrival (no polling)."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None

    async def connected(self) -> None:
        """Until connected (and subscribed)."""
        await self.wait(lambda: self.sessions, "a test client to connect")

    async def round_trip(self, qos: int = 1) -> None:
        """Publish a sentinel to ourselves and wait for it: what the broker had before is delivered."""
        topic = f"{SENTINEL}/{self.name}/{next(self._counter)}"
        self.client.publish(topic, b"sentinel", qos=qos)
        await self.wait(lambda: any(m.topic == topic for m in self.received), f"sentinel {topic}")

    def close(self) -> None:
        """Disconnect and stop the thread (the harness fails a test that leaves one)."""
        self.client.disconnect()
        self.client.loop_stop()


class Recorder(_Client):
    """Every message the broker delivers on roiwatch/#, as published (retain flag included).

    MQTT 5 "retain as published" keeps the publisher's retain flag; "do not send retained"
    keeps the broker's replay after a reconnect out of the record. What is published while it
    is disconnected (a broker restart) is not recorded: read ``retained`` then.
    """

    def __init__(self, broker: Mosquitto) -> None:
        super().__init__(broker, paho.MQTTv5)

    def subscriptions(self) -> list[tuple[str, Any]]:
        live = SubscribeOptions(
            qos=2, retainAsPublished=True, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND
        )
        return [("roiwatch/#", live), (f"{SENTINEL}/{self.name}/#", SubscribeOptions(qos=2))]

    def on(self, topic: str) -> list[tuple[str, int, bool]]:
        """(payload, qos, retain) of every message on ``topic`` so far, oldest first."""
        return [(m.payload.decode(), m.qos, m.retain) for m in self.received if m.topic == topic]

    async def flush(self) -> None:
        """Everything published (acknowledged by the broker) before this call has been recorded.

        QoS 1 like what the integration publishes: the broker delivers one QoS in order.
        """
        await self.round_trip(1)

    async def published(self, topic: str) -> list[tuple[str, int, bool]]:
        """``on(topic)`` after a flush."""
        await self.flush()
        return self.on(topic)

    async def configs(self, camera_id: str = CAMERA_ID) -> list[CameraConfig]:
        """Every config published for a camera, each retained, QoS 1 and valid for the protocol."""
        configs = []
        for payload, qos, retain in await self.published(f"roiwatch/{camera_id}/config"):
            assert (qos, retain) == (1, True)
            configs.append(parse_config(payload, expected_camera_id=camera_id))
        return configs


class _Reader(_Client):
    def __init__(self, broker: Mosquitto, topic_filter: str) -> None:
        self.topic_filter = topic_filter
        super().__init__(broker)

    def subscriptions(self) -> list[tuple[str, Any]]:
        return [(self.topic_filter, 2), (f"{SENTINEL}/{self.name}/#", 2)]


async def retained(broker: Mosquitto, topic_filter: str = "roiwatch/#") -> dict[str, Delivered]:
    """What the broker holds: the retained messages a fresh subscriber gets, by topic."""
    reader = _Reader(broker, topic_filter)
    try:
        await reader.connected()
        # Retained messages are queued at the subscription, before our later sentinel.
        await reader.round_trip(1)
    finally:
        reader.close()
    return {m.topic: m for m in reader.received if m.retain}


async def retained_config(broker: Mosquitto, camera_id: str = CAMERA_ID) -> CameraConfig | None:
    """The camera's config the broker holds (checked against the protocol, retained at QoS 1)."""
    held = (await retained(broker, f"roiwatch/{camera_id}/config")).get(f"roiwatch/{camera_id}/config")
    if held is None:
        return None
    assert held.qos == 1
    return parse_config(held.payload, expected_camera_id=camera_id)


class Agent(_Client):
    """The camera's agent as the broker sees it: a paho client publishing what roiwatch_agent does."""

    def __init__(self, hass: HomeAssistant, broker: Mosquitto, camera_id: str = CAMERA_ID) -> None:
        self.hass = hass
        self.base = f"roiwatch/{camera_id}"
        self.preview: Callable[[int], bytes | None] | None = None
        """Answers the n-th preview request (1, 2, ...) with this picture, as the detector does."""
        self.preview_requests = 0
        super().__init__(broker)

    def subscriptions(self) -> list[tuple[str, Any]]:
        return [(f"{self.base}/preview_request", 0)]

    def _arrived(self, delivered: Delivered) -> None:
        if delivered.topic == f"{self.base}/preview_request":
            self.preview_requests += 1
            if self.preview is not None and (picture := self.preview(self.preview_requests)) is not None:
                self.client.publish(f"{self.base}/preview", picture, qos=0, retain=False)
        super()._arrived(delivered)

    async def send(self, leaf: str, payload: Any) -> None:
        """Publish on ``<base>/<leaf>`` (retained, as the agent) and wait until HA has handled it."""
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        qos = AGENT_QOS.get(leaf, 1)
        self.client.publish(f"{self.base}/{leaf}", payload, qos=qos, retain=True)
        await self.sync(qos)

    async def running(self, revision: int | None = 1, **status: Any) -> None:
        """The agent is online and its detector runs ``revision``."""
        await self.send("availability", "online")
        await self.send("status", {"state": "running", "revision": revision, "fps": 4.8} | status)

    async def sync(self, qos: int = 1) -> None:
        """Wait until HA has handled everything this client published before.

        A retained sentinel on a topic HA subscribes to now, at the QoS of what came before: HA
        gets it after its earlier subscriptions are live (one batch or later) and after what
        we published before it, in order.
        """
        topic = f"{SENTINEL}/{self.name}/sync/{next(self._counter)}"
        arrived = self.loop.create_future()

        @callback
        def sentinel(_msg: mqtt.ReceiveMessage) -> None:
            if not arrived.done():
                arrived.set_result(None)

        unsubscribe = await mqtt.async_subscribe(self.hass, topic, sentinel, qos=2)
        try:
            self.client.publish(topic, b"sync", qos=qos, retain=True)
            async with asyncio.timeout(10):
                await arrived
        finally:
            unsubscribe()
        await self.hass.async_block_till_done()


class AgentProcesses:
    """Real ``roiwatch-agent`` processes on the test's broker, each in a process group of its own
    (as a service's), sharing one state dir and one log, whose tail is printed at the end (shown
    by pytest when a test fails)."""

    def __init__(self, broker: Mosquitto, tmp_path: Path) -> None:
        self.broker = broker
        self.state_dir = tmp_path / "state"
        self.log = tmp_path / "agents.log"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """``roiwatch-agent ROLE ARGS...`` with the broker and the state dir."""
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [str(AGENT), *args, "--broker", self.broker.url, "--state-dir", str(self.state_dir)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            stop_group(proc)
        if self.log.exists():
            print(self.log.read_text()[-3000:])
