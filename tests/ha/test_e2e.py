"""End to end: HA's real MQTT client, a real mosquitto, a real agent on a real video.

The camera is added from the agent's announce (discovery) and a region through the subentry flow,
exactly as the UI does; an automation fires when a person walks into the region.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_NAME,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_capture_events
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.roiwatch.const import (
    CONF_DETECT,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    DOMAIN,
    SUBENTRY_ROI,
)
from custom_components.roiwatch.coordinator import RoiWatchCoordinator
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for

from .helpers import REAL_AGENT_MARKS, VIDEO, AgentProcesses, is_state, retained_config, setup_real_mqtt

CAMERA = "porch"
REGION = "binary_sensor.porch_walkway"
APPLIED = "binary_sensor.porch_configuration_applied"
DETECTION_STATE = "sensor.porch_detection_state"
EVENT = "roiwatch_test_person"

pytestmark = REAL_AGENT_MARKS


@pytest.fixture
def agent(agents: AgentProcesses) -> subprocess.Popen[bytes]:
    """The real agent, replaying vtest.avi forever for camera ``porch``."""
    return agents.start("smart", "--camera", CAMERA, "--source", str(VIDEO), "--loop")


# mock_hass_config: MQTT reads configuration.yaml, which the test config dir lacks.
@pytest.mark.usefixtures("socket_enabled", "mock_hass_config")
async def test_person_in_region_end_to_end(
    hass: HomeAssistant, broker: Mosquitto, agent: subprocess.Popen[bytes]
) -> None:
    """Discovery -> camera -> region -> person detected -> automation; edit; switch off."""
    mqtt_entry = await setup_real_mqtt(hass, broker)
    timings: dict[str, float] = {}
    try:
        # The agent's retained announce makes HA offer the camera.
        await wait_for(
            lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN),
            "the discovered camera to be offered",
        )
        (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert flow["step_id"] == "discovery_confirm"
        assert flow["context"]["unique_id"] == CAMERA
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_NAME: "Porch"})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        await wait_for(is_state(hass, APPLIED, "on"), "the agent to run revision 1")

        # The automation a user would write: a person in the region fires an event.
        events = async_capture_events(hass, EVENT)
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "alias": "Person on the walkway",
                    "triggers": {"trigger": "state", "entity_id": REGION, "to": "on"},
                    "actions": {"event": EVENT, "event_data": {"camera": CAMERA}},
                }
            },
        )

        # "Add region", as the UI does it.
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_ROI), context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {
                CONF_NAME: "Walkway",
                CONF_DETECT: "person",
                CONF_POINTS: "0,30 100,30 100,100 0,100",
                CONF_SENSITIVITY: 50,
                CONF_OFF_DELAY: 3,
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        saved = time.monotonic()

        def coordinator() -> RoiWatchCoordinator:
            # Looked up each time: adding a region reloads the entry (new entities).
            return entry.runtime_data

        await wait_for(lambda: coordinator().publisher.revision == 2, "revision 2 published")
        applied = await wait_for(
            lambda: coordinator().running_revision == 2 and coordinator().detection_state == "running",
            "the agent to run revision 2",
        )
        assert hass.states.get(APPLIED).state == "on"
        timings["region saved -> agent running it"] = applied - saved

        detected = await wait_for(lambda: events, "a person in the region", 60)
        timings["agent running -> region sensor on"] = detected - applied
        assert events[0].data == {"camera": CAMERA}
        assert hass.states.get(REGION).attributes["device_class"] == "occupancy"
        await wait_for(is_state(hass, "binary_sensor.porch_detected", "on"), "camera detected")
        await wait_for(
            lambda: hass.states.get("image.porch_last_detection").state != "unknown",
            "a detection picture",
        )

        # Editing the region restarts detection with the next revision.
        (region_id,) = [
            s.subentry_id
            for s in entry.subentries.values()
            if s.subentry_type == SUBENTRY_ROI and s.title == "Walkway"
        ]
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_ROI),
            context={"source": "reconfigure", "subentry_id": region_id},
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {
                CONF_NAME: "Walkway",
                CONF_DETECT: "person",
                CONF_POINTS: "0,20 100,20 100,100 0,100",
                CONF_SENSITIVITY: 60,
                CONF_OFF_DELAY: 3,
            },
        )
        assert result["reason"] == "reconfigure_successful"
        edited = time.monotonic()
        applied = await wait_for(
            lambda: coordinator().running_revision == 3 and coordinator().detection_state == "running",
            "the agent to run revision 3",
        )
        timings["region edited -> agent running it"] = applied - edited
        assert hass.states.get(APPLIED).state == "on"
        await wait_for(is_state(hass, REGION, "on"), "the region to detect again", 60)

        # Detection off: the agent stops, the region reads off.
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: "switch.porch_detection"}, True
        )
        off = time.monotonic()
        stopped = await wait_for(is_state(hass, DETECTION_STATE, "stopped"), "detection to stop")
        timings["switch off -> status stopped"] = stopped - off
        assert hass.states.get(REGION).state == "off"
        assert hass.states.get(APPLIED).state == "on"

        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: "switch.porch_detection"}, True
        )
        await wait_for(is_state(hass, DETECTION_STATE, "running"), "detection to run again")

        # Removing the camera clears its retained config: held before, gone after (a fresh
        # subscriber's view, no waiting for something not to arrive).
        assert await retained_config(broker, CAMERA) is not None
        assert await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
        assert await retained_config(broker, CAMERA) is None
    finally:
        print("\nE2E timings (s):", {k: round(v, 2) for k, v in timings.items()})
        for camera in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(camera.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()


async def _add_discovered_camera(hass: HomeAssistant) -> ConfigEntry:
    """Confirm the camera the agent's announce offered, as the UI does."""
    await wait_for(
        lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN),
        "the discovered camera to be offered",
    )
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_NAME: "Porch"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry


@pytest.mark.usefixtures("socket_enabled", "mock_hass_config")
async def test_region_from_editor_end_to_end(
    hass: HomeAssistant,
    broker: Mosquitto,
    agent: subprocess.Popen[bytes],
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A region saved by the editor panel's API: the agent runs it and sees people walk in it."""
    mqtt_entry = await setup_real_mqtt(hass, broker)
    try:
        entry = await _add_discovered_camera(hass)
        await wait_for(is_state(hass, APPLIED, "on"), "the agent to run revision 1")
        client = await hass_ws_client(hass)
        await client.send_json_auto_id(
            {
                "type": "roiwatch/region/save",
                "entry_id": entry.entry_id,
                "name": "Walkway",
                "detect": "person",
                # Fractions of the picture: the lower 70 %, where people walk in vtest.avi.
                "points": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]],
                "sensitivity": 50,
                "off_delay": 3,
            }
        )
        response = await client.receive_json()
        assert response["success"], response
        revision = response["result"]["revision"]
        assert revision == 2
        # The answer names the revision built for the change; its publish may still be on the way.
        deadline = time.monotonic() + 10
        while (held := await retained_config(broker, CAMERA)).revision != revision:
            assert time.monotonic() < deadline, held
            await asyncio.sleep(0.1)
        assert [r.name for r in held.rois] == ["Walkway"]

        def coordinator() -> RoiWatchCoordinator:
            return entry.runtime_data  # a new region reloads the entry: looked up each time

        await wait_for(
            lambda: coordinator().running_revision == revision and coordinator().detection_state == "running",
            f"the agent to run revision {revision}",
        )
        assert hass.states.get(APPLIED).state == "on"
        await wait_for(is_state(hass, REGION, "on"), "a person in the region", 60)
    finally:
        for camera in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(camera.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
