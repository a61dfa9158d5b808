"""Entity states driven by MQTT messages; availability; the detection switch; bad payloads."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, MqttMockHAClient

from roiwatch_dev.mosquitto import Mosquitto

from .conftest import CAMERA_ID, ROI_MOTION, ROI_PERSON
from .helpers import BASE, Agent, Recorder, camera_device, jpeg, retained

PATH = "binary_sensor.porch_path"
GATE = "binary_sensor.porch_gate"
DETECTED = "binary_sensor.porch_detected"
APPLIED = "binary_sensor.porch_configuration_applied"
SWITCH = "switch.porch_detection"
IMAGE = "image.porch_last_detection"
CAMERA = "camera.porch"
STATE = "sensor.porch_detection_state"
FPS = "sensor.porch_frames_per_second"
RESTARTS = "sensor.porch_restarts"
REVISION = "sensor.porch_running_revision"


def state(hass: HomeAssistant, entity_id: str) -> str:
    """The state of an entity."""
    return hass.states.get(entity_id).state


async def test_entities_and_device(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    loaded_entry: MockConfigEntry,
) -> None:
    """One device; names, classes, categories and subentries as specified."""
    device = camera_device(hass, loaded_entry.entry_id)
    assert device.manufacturer == "RoiWatch"
    assert device.model == "Smart camera"
    assert device.name == "Porch"
    entities = er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id)
    assert {e.entity_id for e in entities} == {
        PATH,
        GATE,
        DETECTED,
        APPLIED,
        SWITCH,
        IMAGE,
        CAMERA,
        STATE,
        FPS,
        RESTARTS,
        REVISION,
    }
    assert all(e.device_id == device.id for e in entities)
    assert all(e.translation_key for e in entities)
    by_id = {e.entity_id: e for e in entities}
    assert by_id[PATH].original_device_class == "occupancy"
    assert by_id[GATE].original_device_class == "motion"
    assert by_id[DETECTED].original_device_class == "occupancy"
    assert by_id[PATH].original_name == "Path"
    for diagnostic in (APPLIED, STATE, FPS, RESTARTS, REVISION):
        assert by_id[diagnostic].entity_category == "diagnostic"
    assert by_id[REVISION].disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(STATE).attributes["options"] == [
        "starting",
        "running",
        "stopped",
        "error",
        "offline",
    ]


async def test_nothing_heard_yet(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, loaded_entry: MockConfigEntry
) -> None:
    """Before the agent says anything, detection results are unavailable; armed by default."""
    assert "is unavailable" not in caplog.text
    for entity_id in (PATH, GATE, DETECTED, APPLIED, FPS, RESTARTS):
        assert state(hass, entity_id) == STATE_UNAVAILABLE
    assert state(hass, SWITCH) == STATE_ON
    assert state(hass, STATE) == STATE_UNKNOWN
    assert state(hass, IMAGE) == STATE_UNKNOWN


async def test_detections(hass: HomeAssistant, agent: Agent, loaded_entry: MockConfigEntry) -> None:
    """Region and camera sensors follow their topics."""
    await agent.running()
    assert state(hass, PATH) == STATE_UNKNOWN
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    await agent.send(f"roi/{ROI_MOTION}", "OFF")
    await agent.send("detected", "ON")
    assert (state(hass, PATH), state(hass, GATE), state(hass, DETECTED)) == (STATE_ON, STATE_OFF, STATE_ON)
    await agent.send(f"roi/{ROI_PERSON}", " off ")
    assert state(hass, PATH) == STATE_OFF
    # A retained topic cleared (ROI removed on the agent): unknown again.
    await agent.send(f"roi/{ROI_PERSON}", "")
    await agent.send("detected", "")
    assert state(hass, PATH) == STATE_UNKNOWN
    assert state(hass, DETECTED) == STATE_UNKNOWN
    # Regions HA does not know are ignored.
    await agent.send("roi/someone_else", "ON")
    assert state(hass, GATE) == STATE_OFF


async def test_diagnostic_sensors(hass: HomeAssistant, agent: Agent, loaded_entry: MockConfigEntry) -> None:
    """Detection state, frame rate, restarts, applied revision."""
    await agent.running(revision=1, restarts=2)
    assert state(hass, STATE) == "running"
    assert state(hass, FPS) == "4.8"
    assert state(hass, RESTARTS) == "2"
    assert state(hass, APPLIED) == STATE_ON
    await agent.send("status", {"state": "starting", "revision": 0})
    assert state(hass, STATE) == "starting"
    assert state(hass, APPLIED) == STATE_OFF
    assert state(hass, FPS) == STATE_UNKNOWN
    await agent.send("status", {"state": "stopped", "revision": 1})
    assert state(hass, STATE) == "stopped"
    assert state(hass, APPLIED) == STATE_ON
    # A withdrawn status: nothing known about the detector.
    await agent.send("status", "")
    assert state(hass, STATE) == STATE_UNKNOWN
    assert state(hass, APPLIED) == STATE_OFF


async def test_running_revision_sensor(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, loaded_entry: MockConfigEntry, agent: Agent
) -> None:
    """The disabled-by-default revision sensor works once enabled."""
    entity_registry.async_update_entity(REVISION, disabled_by=None)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await agent.running(revision=1)
    assert state(hass, REVISION) == "1"


@pytest.mark.parametrize(
    ("leaf", "payload", "detection_state"),
    [
        ("status", {"state": "offline", "revision": 1}, "offline"),
        ("status", {"state": "error", "revision": 1, "error": "camera unplugged"}, "error"),
        ("availability", "offline", "offline"),
    ],
)
async def test_unavailable_when_detector_down(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    leaf: str,
    payload: str | dict,
    detection_state: str,
    agent: Agent,
    loaded_entry: MockConfigEntry,
) -> None:
    """Offline or error: detections unavailable, the state sensor says why; logged once."""
    await agent.running()
    assert "is back online" not in caplog.text
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    assert state(hass, PATH) == STATE_ON
    caplog.clear()
    await agent.send(leaf, payload)
    for entity_id in (PATH, GATE, DETECTED):
        assert state(hass, entity_id) == STATE_UNAVAILABLE
    assert state(hass, STATE) == detection_state
    assert state(hass, SWITCH) == STATE_ON
    assert caplog.text.count("Camera Porch is unavailable") == 1
    await agent.send(leaf, payload)
    assert caplog.text.count("Camera Porch is unavailable") == 1

    await agent.running()
    assert state(hass, PATH) == STATE_ON
    assert "Camera Porch is back online" in caplog.text


async def test_running_with_refused_config_stays_available(
    hass: HomeAssistant, agent: Agent, loaded_entry: MockConfigEntry
) -> None:
    """A refused config keeps the old one running: detections stay available."""
    await agent.running(revision=1, error="rois.0.points: bad")
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    assert state(hass, PATH) == STATE_ON
    assert state(hass, STATE) == "running"


async def test_availability_without_status(
    hass: HomeAssistant, agent: Agent, loaded_entry: MockConfigEntry
) -> None:
    """An online agent whose detector has not reported yet."""
    await agent.send("availability", "online")
    assert state(hass, PATH) == STATE_UNKNOWN
    assert state(hass, STATE) == STATE_UNKNOWN
    await agent.send("availability", "")
    assert state(hass, PATH) == STATE_UNAVAILABLE


async def test_switch_publishes_armed_and_follows_topic(
    hass: HomeAssistant, recorder: Recorder, broker: Mosquitto, agent: Agent, loaded_entry: MockConfigEntry
) -> None:
    """The switch publishes ON/OFF retained QoS 1 and shows the armed topic."""
    await agent.running()
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    await agent.send("detected", "ON")
    await hass.services.async_call(SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await hass.async_block_till_done()
    assert await recorder.published(f"{BASE}/armed") == [("OFF", 1, True)]
    # Retained: an agent that (re)connects now finds detection off.
    held = (await retained(broker))[f"{BASE}/armed"]
    assert (held.payload, held.qos) == (b"OFF", 1)
    assert state(hass, SWITCH) == STATE_OFF
    # Switched off: nothing is detected, whatever the retained topics still say.
    assert state(hass, PATH) == STATE_OFF
    assert state(hass, DETECTED) == STATE_OFF

    await hass.services.async_call(SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await hass.async_block_till_done()
    assert (await recorder.published(f"{BASE}/armed"))[-1] == ("ON", 1, True)
    assert (await retained(broker))[f"{BASE}/armed"].payload == b"ON"
    assert state(hass, SWITCH) == STATE_ON
    assert state(hass, PATH) == STATE_ON

    # Someone else (another HA, a script) changes the retained topic.
    await agent.send("armed", "OFF")
    assert state(hass, SWITCH) == STATE_OFF
    await agent.send("armed", "")
    assert state(hass, SWITCH) == STATE_ON


async def test_switch_broker_error(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mocked_entry: MockConfigEntry
) -> None:
    """A failed publish raises a translated error and keeps the state.

    Fake client: a publish that raises on a connected client cannot be made with a real broker.
    """
    mqtt_mock.async_publish.side_effect = HomeAssistantError("no connection")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: SWITCH}, blocking=True
        )
    assert err.value.translation_key == "publish_failed"
    assert err.value.translation_placeholders == {"camera": "Porch", "error": "no connection"}
    assert state(hass, SWITCH) == STATE_ON


async def test_last_detection_image(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, agent: Agent, loaded_entry: MockConfigEntry
) -> None:
    """The snapshot topic feeds the image entity, served as image/jpeg."""
    picture = jpeg()
    await agent.send("snapshot", picture)
    image_state = hass.states.get(IMAGE)
    assert image_state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    client = await hass_client()
    response = await client.get(image_state.attributes["entity_picture"])
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    assert await response.read() == picture

    # A cleared snapshot keeps the last picture; a bad one is refused.
    await agent.send("snapshot", b"")
    await agent.send("snapshot", b"not a jpeg")
    await agent.send("snapshot", jpeg(5000, 5000))
    assert hass.states.get(IMAGE).state == image_state.state


async def test_version_from_announce_and_status(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, agent: Agent
) -> None:
    """The device's software version follows what the agent reports."""
    await agent.send("announce", {"camera_id": CAMERA_ID, "kind": "smart", "version": "0.1.0"})
    device = camera_device(hass, loaded_entry.entry_id)
    assert device.sw_version == "0.1.0"
    await agent.running(version="0.2.0")
    device = camera_device(hass, loaded_entry.entry_id)
    assert device.sw_version == "0.2.0"
    await agent.send("announce", "")
    await agent.send("status", {"state": "running", "revision": 1})
    device = camera_device(hass, loaded_entry.entry_id)
    assert device.sw_version == "0.2.0"


async def test_device_says_where_a_stream_camera_is_analysed(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, agent: Agent
) -> None:
    """A stream camera that the app analyses announces its host: the device's model names it."""
    assert camera_device(hass, loaded_entry.entry_id).model == "Smart camera"
    announce = {"camera_id": CAMERA_ID, "kind": "smart", "version": "0.1.0", "host": "Home Assistant app"}
    await agent.send("announce", announce)
    assert camera_device(hass, loaded_entry.entry_id).model == "Smart camera (Home Assistant app)"
    await agent.send("announce", {"camera_id": CAMERA_ID, "kind": "smart", "version": "0.1.0"})
    assert camera_device(hass, loaded_entry.entry_id).model == "Smart camera"


@pytest.mark.parametrize(
    ("leaf", "payload"),
    [
        (f"roi/{ROI_PERSON}", "MAYBE"),
        (f"roi/{ROI_PERSON}", b"\xff\xfe"),
        (f"roi/{ROI_PERSON}", "ON" * 3000),
        ("detected", "{}"),
        ("status", "not json"),
        ("status", '{"state": "dancing"}'),
        ("status", "[]"),
        ("availability", "maybe"),
        ("armed", "perhaps"),
        ("announce", '{"camera_id": "garden", "kind": "smart"}'),
        ("announce", "{"),
        ("snapshot", b"\x00\x01"),
    ],
)
async def test_malformed_payloads_keep_last_state(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    leaf: str,
    payload: str | bytes,
    agent: Agent,
    loaded_entry: MockConfigEntry,
) -> None:
    """A bad message is a logged warning; every entity keeps its last good state."""
    await agent.running()
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    await agent.send("detected", "ON")
    await agent.send("snapshot", jpeg())
    before = {s.entity_id: s.state for s in hass.states.async_all()}
    caplog.clear()
    await agent.send(leaf, payload)
    assert f"Camera Porch: ignoring malformed message on {BASE}/{leaf}" in caplog.text
    assert "Traceback" not in caplog.text
    assert {s.entity_id: s.state for s in hass.states.async_all()} == before


async def test_unknown_region_topic_is_ignored(
    hass: HomeAssistant, agent: Agent, loaded_entry: MockConfigEntry
) -> None:
    """A state for a region the camera does not have (e.g. a deleted one's) changes nothing."""
    await agent.running()
    before = {s.entity_id: s.state for s in hass.states.async_all()}
    await agent.send("roi/gone", "ON")
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    after = {s.entity_id: s.state for s in hass.states.async_all()}
    assert {e for e in after if before.get(e) != after[e]} == {PATH}


async def test_offline_from_the_start_is_logged(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, agent: Agent, loaded_entry: MockConfigEntry
) -> None:
    """A camera whose agent is known to be offline is reported, once."""
    await agent.send("availability", "offline")
    assert caplog.text.count("Camera Porch is unavailable (detection state offline)") == 1
