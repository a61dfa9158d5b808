"""An agent restart as Home Assistant sees it (issue 19): HA's real core and MQTT client, a real
mosquitto, the real agent on vtest.avi with people on the walkway all the time.

A service restart (SIGTERM to the agent's process group, started again 2 s later) never moves the
region's binary_sensor from ``on``; the agent stopped for good makes it ``unavailable`` once the
restart grace is over, never ``off`` (nobody knows whether someone is there).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable

import pytest
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback

from custom_components.roiwatch.coordinator import RoiWatchCoordinator
from roiwatch_dev.agents import stop_group
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for

from .helpers import REAL_AGENT_MARKS, VIDEO, AgentProcesses, add_region, is_state, setup_real_mqtt
from .test_e2e import _add_discovered_camera

CAMERA = "porch"
REGION = "binary_sensor.porch_walkway"
DETECTION_STATE = "sensor.porch_detection_state"
# Short enough to wait for here, long enough for a restart on a busy machine (the default 30 s
# is asserted in tests/agent/test_agent_restart.py).
GRACE = 8
OFF_DELAY = 5  # longer than the person model's own misses on vtest.avi: an OFF is a restart's

pytestmark = REAL_AGENT_MARKS


@pytest.fixture
def start_agent(agents: AgentProcesses) -> Callable[[], subprocess.Popen[bytes]]:
    """Start the real agent for camera ``porch`` (again), as its systemd unit would."""
    return lambda: agents.start(
        *("smart", "--camera", CAMERA, "--source", str(VIDEO), "--loop", "--restart-grace", str(GRACE))
    )


@pytest.mark.usefixtures("socket_enabled", "mock_hass_config")
async def test_region_stays_on_across_a_restart_and_is_unavailable_when_stopped_for_good(
    hass: HomeAssistant, broker: Mosquitto, start_agent: Callable[[], subprocess.Popen[bytes]]
) -> None:
    mqtt_entry = await setup_real_mqtt(hass, broker)
    try:
        agent = start_agent()
        entry = await _add_discovered_camera(hass)
        await add_region(hass, entry.entry_id, "0,35 100,35 100,100 0,100", off_delay=OFF_DELAY)
        await wait_for(is_state(hass, REGION, "on"), "people on the walkway", 60)

        seen: list[str] = []

        @callback
        def changed(event: Event) -> None:
            if event.data["entity_id"] == REGION:
                seen.append(event.data["new_state"].state if event.data["new_state"] else "removed")

        unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, changed)

        def coordinator() -> RoiWatchCoordinator:
            return entry.runtime_data

        # A service restart: stopped, started again 2 s later.
        await hass.async_add_executor_job(stop_group, agent)
        stopped = time.monotonic()
        await asyncio.sleep(2)
        agent = start_agent()
        await wait_for(
            lambda: coordinator().detection_state == "running" and time.monotonic() > stopped + 3,
            "the restarted agent to detect",
            60,
        )
        await asyncio.sleep(OFF_DELAY + 1)  # its own frames have decided
        assert seen == [], seen
        assert hass.states.get(REGION).state == "on"

        # Stopped for good: unavailable once the grace is over, never off.
        await hass.async_add_executor_job(stop_group, agent)
        stopped = time.monotonic()
        gone = await wait_for(is_state(hass, REGION, STATE_UNAVAILABLE), "the region to be unavailable", 30)
        assert gone >= stopped + GRACE - 1  # not before: a restart would have been noticed
        assert "off" not in seen, seen
        assert hass.states.get(DETECTION_STATE).state == "offline"
        unsubscribe()
    finally:
        for camera in hass.config_entries.async_entries("roiwatch"):
            await hass.config_entries.async_unload(camera.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
