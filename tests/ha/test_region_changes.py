"""What automations see while regions change and detection restarts: only what changed moves.

People are on region Path (retained ON states, published by a real MQTT client into a real
mosquitto); every state change HA makes is recorded from its state_changed events.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from homeassistant.components.mqtt.models import DATA_MQTT
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EVENT_STATE_CHANGED, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.roiwatch.const import (
    CONF_DETECT,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    SUBENTRY_ROI,
)
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for

from .conftest import ROI_MOTION, ROI_PERSON, SQUARE, TRIANGLE
from .helpers import BASE, Agent, Recorder, camera_device, is_state, jpeg

PATH = "binary_sensor.porch_path"
DETECTED = "binary_sensor.porch_detected"
CAMERA = "camera.porch"
IMAGE = "image.porch_last_detection"
APPLIED = "binary_sensor.porch_configuration_applied"
# Must never change while another region changes or detection restarts for a new revision.
WATCHED = (PATH, DETECTED, CAMERA, IMAGE)
LAWN_ID = "01JROI0LAWN00000000000003"
LAWN = "binary_sensor.porch_lawn"


class StateLog:
    """Every state change HA makes, and every entity registry change, in order."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.changes: list[tuple[str, str | None, str | None]] = []
        self.registry: list[tuple[str, str]] = []
        self._removers = [
            hass.bus.async_listen(EVENT_STATE_CHANGED, self._state_changed),
            hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, self._registry_changed),
        ]

    @callback
    def _state_changed(self, event: Event[Any]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        self.changes.append(
            (event.data["entity_id"], old and old.state, new and new.state)  # None: added / removed
        )

    @callback
    def _registry_changed(self, event: Event[Any]) -> None:
        self.registry.append((event.data["entity_id"], event.data["action"]))

    def of(self, entity_id: str) -> list[tuple[str | None, str | None]]:
        """(old, new) of each state change of one entity."""
        return [(old, new) for e, old, new in self.changes if e == entity_id]

    def touched(self) -> set[str]:
        """Every entity whose state or registry entry changed."""
        return {e for e, _, _ in self.changes} | {e for e, _ in self.registry}

    def close(self) -> None:
        for remove in self._removers:
            remove()


@pytest.fixture
def log(hass: HomeAssistant) -> Iterator[StateLog]:
    """Records from the moment the test asks for it."""
    recorded = StateLog(hass)
    yield recorded
    recorded.close()


async def people_on_path(hass: HomeAssistant, agent: Agent) -> None:
    """The detector runs revision 1 and sees someone on Path, with a picture of it."""
    await agent.running(revision=1)
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    await agent.send(f"roi/{ROI_MOTION}", "OFF")
    await agent.send("detected", "ON")
    await agent.send("snapshot", jpeg())
    for entity_id in (PATH, DETECTED):
        assert is_state(hass, entity_id, STATE_ON)(), entity_id


def subscribed(hass: HomeAssistant, topic: str) -> bool:
    """HA's MQTT client holds a subscription to exactly this topic."""
    return any(s.topic == topic for s in hass.data[DATA_MQTT].client.subscriptions)


def lawn(title: str = "Lawn") -> ConfigSubentry:
    return ConfigSubentry(
        data={CONF_DETECT: "person", CONF_POINTS: SQUARE, CONF_SENSITIVITY: 50, CONF_OFF_DELAY: 5},
        subentry_id=LAWN_ID,
        subentry_type=SUBENTRY_ROI,
        title=title,
        unique_id=None,
    )


async def test_region_changes_touch_that_region_only(
    hass: HomeAssistant,
    agent: Agent,
    recorder: Recorder,
    loaded_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    log: StateLog,
) -> None:
    """Add, edit, rename, delete a region: no reload; its sensor follows; nothing else moves."""
    await people_on_path(hass, agent)
    coordinator = loaded_entry.runtime_data
    log.changes.clear()
    log.registry.clear()
    entries = hass.config_entries
    lawn_topic = f"{BASE}/roi/{LAWN_ID}"

    entries.async_add_subentry(loaded_entry, lawn())
    await hass.async_block_till_done()
    added = entity_registry.async_get(LAWN)
    assert added is not None
    assert added.unique_id == f"porch_roi_{LAWN_ID}"
    assert added.device_id == camera_device(hass, loaded_entry.entry_id).id
    assert added.config_subentry_id is None  # on the entry: see registry.py
    assert subscribed(hass, lawn_topic)
    await agent.send(f"roi/{LAWN_ID}", "ON")
    assert is_state(hass, LAWN, STATE_ON)()

    entries.async_update_subentry(
        loaded_entry, loaded_entry.subentries[LAWN_ID], data={**lawn().data, CONF_POINTS: TRIANGLE}
    )
    await hass.async_block_till_done()

    entries.async_update_subentry(loaded_entry, loaded_entry.subentries[LAWN_ID], title="Big lawn")
    await hass.async_block_till_done()
    # HA keeps an entity's id when its name changes: automations naming it keep working.
    renamed = entity_registry.async_get(LAWN)
    assert renamed is not None
    assert renamed.original_name == "Big lawn"
    assert hass.states.get(LAWN).attributes["friendly_name"] == "Porch Big lawn"
    assert hass.states.get(LAWN).state == STATE_ON

    entries.async_update_subentry(
        loaded_entry, loaded_entry.subentries[LAWN_ID], data={**lawn().data, CONF_DETECT: "motion"}
    )
    await hass.async_block_till_done()
    assert entity_registry.async_get(LAWN).original_device_class == "motion"
    assert hass.states.get(LAWN).attributes["device_class"] == "motion"

    entries.async_remove_subentry(loaded_entry, LAWN_ID)
    await hass.async_block_till_done()
    assert hass.states.get(LAWN) is None
    assert entity_registry.async_get(LAWN) is None
    assert not subscribed(hass, lawn_topic)
    assert subscribed(hass, f"{BASE}/roi/{ROI_PERSON}")
    await agent.send(f"roi/{LAWN_ID}", "OFF")  # a late message of the removed region changes nothing
    assert LAWN_ID not in coordinator.data.rois

    # The other regions, the camera's detection, picture and camera never moved. The
    # configuration-applied sensor did: this fake agent never runs the new revisions.
    assert log.touched() - {LAWN} <= {APPLIED}, log.changes
    assert loaded_entry.runtime_data is coordinator  # never reloaded
    # Added (no message yet), ON, renamed, made a motion region (attributes), removed.
    assert log.of(LAWN) == [
        (None, "unknown"),
        ("unknown", STATE_ON),
        (STATE_ON, STATE_ON),
        (STATE_ON, STATE_ON),
        (STATE_ON, None),
    ]
    assert [a for e, a in log.registry if e == LAWN] == ["create", "update", "update", "remove"]
    # One new revision per change, each naming every region the camera had then.
    configs = await recorder.configs()
    assert [c.revision for c in configs] == [1, 2, 3, 4, 5, 6]
    regions = [[(r.id, r.name, r.detect, [list(p) for p in r.points]) for r in c.rois] for c in configs]
    path, gate = regions[0]
    assert regions[1:] == [
        [path, gate, (LAWN_ID, "Lawn", "person", SQUARE)],
        [path, gate, (LAWN_ID, "Lawn", "person", TRIANGLE)],
        [path, gate, (LAWN_ID, "Big lawn", "person", TRIANGLE)],
        [path, gate, (LAWN_ID, "Big lawn", "motion", SQUARE)],
        [path, gate],
    ]


async def test_options_republish_without_reload(
    hass: HomeAssistant, agent: Agent, recorder: Recorder, loaded_entry: MockConfigEntry, log: StateLog
) -> None:
    """A new frame rate goes out as a new revision; no entity moves but the applied one."""
    await people_on_path(hass, agent)
    log.changes.clear()
    coordinator = loaded_entry.runtime_data
    hass.config_entries.async_update_entry(loaded_entry, options={"fps": 2.0})
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data is coordinator
    configs = await recorder.configs()
    assert [(c.revision, c.fps) for c in configs] == [(1, 5.0), (2, 2.0)]
    assert log.touched() <= {APPLIED}, log.changes


# A detection process as roiwatch_agent starts one: its own connection, whose last will is a
# retained status `offline`; it reports starting, then running the revision.
DETECTOR = textwrap.dedent(
    """
    import json, signal, sys, threading
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    port, topic, revision = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    def status(state):
        return json.dumps({"state": state, "revision": revision, "error": None if state != "offline"
                           else "detection process died"})
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"det-{revision}")
    client.will_set(topic, status("offline"), qos=1, retain=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for state in ("starting", "running"):
        client.publish(topic, status(state), qos=1, retain=True).wait_for_publish(5)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    print("running", flush=True)
    stopping.wait(120)
    client.disconnect()
    client.loop_stop()
    """
)


class Detector:
    """A real detection process (a Python process with the agent's last will)."""

    def __init__(self, broker: Mosquitto, revision: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", DETECTOR, str(broker.port), f"{BASE}/status", str(revision)],
            stdout=subprocess.PIPE,
            text=True,
        )

    async def running(self) -> None:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), 30)
        assert line.strip() == "running"

    def stop(self) -> None:
        """A planned stop: a clean disconnect, no last will (the agent's SIGTERM path)."""
        self.process.terminate()
        self.process.wait(10)

    def kill(self) -> None:
        """kill -9: the broker publishes the last will."""
        self.process.kill()
        self.process.wait(10)


async def test_detection_restart(
    hass: HomeAssistant, agent: Agent, broker: Mosquitto, loaded_entry: MockConfigEntry, log: StateLog
) -> None:
    """A revision restart leaves a region that still sees people ON; a detector gone for good is unavailable.

    The real agent delays its detection will, so a crash it restarts never shows (test_restarts.py).
    """
    await people_on_path(hass, agent)
    old = Detector(broker, 1)
    try:
        await old.running()
        await agent.sync()
        log.changes.clear()
        # A new revision: the old process is stopped, the new one starts and runs it.
        old.stop()
        new = Detector(broker, 2)
        try:
            await new.running()
            await agent.sync()
            await wait_for(lambda: loaded_entry.runtime_data.running_revision == 2, "revision 2 running")
            for entity_id in WATCHED:
                assert log.of(entity_id) == [], (entity_id, log.changes)
            # killed -9: its last will says the detector is gone; HA says it does not know.
            new.kill()
            await wait_for(is_state(hass, PATH, STATE_UNAVAILABLE), "the crashed detector's last will")
            assert hass.states.get(CAMERA).state != STATE_UNAVAILABLE  # the last picture stays shown
        finally:
            new.kill()
        restarted = Detector(broker, 2)
        try:
            await restarted.running()
            await wait_for(is_state(hass, PATH, STATE_ON), "Path back from the retained ON")
        finally:
            restarted.kill()
        assert log.of(PATH) == [(STATE_ON, STATE_UNAVAILABLE), (STATE_UNAVAILABLE, STATE_ON)]
    finally:
        old.kill()


async def test_region_deleted_right_after_it_was_added(
    hass: HomeAssistant,
    agent: Agent,
    loaded_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its topic is unsubscribed while the subscribe may still be in flight: no error, nothing left."""
    await people_on_path(hass, agent)
    lawn_topic = f"{BASE}/roi/{LAWN_ID}"
    hass.config_entries.async_add_subentry(loaded_entry, lawn())
    await wait_for(lambda: subscribed(hass, lawn_topic), "the new region's subscription", 10)
    hass.config_entries.async_remove_subentry(loaded_entry, LAWN_ID)
    await hass.async_block_till_done()
    await agent.send(f"roi/{LAWN_ID}", "ON")
    await agent.sync()
    assert not subscribed(hass, lawn_topic)
    assert hass.states.get(LAWN) is None
    assert entity_registry.async_get(LAWN) is None
    assert is_state(hass, PATH, STATE_ON)()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
