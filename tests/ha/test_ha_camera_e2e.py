"""End to end: a camera Home Assistant already has (core's ``mjpeg`` camera on a real HTTP camera
playing vtest.avi) becomes a RoiWatch camera; the real analyzer detects on the pictures HA sends.

What a user would notice: the region turns on where people walk; a camera outage shows as
``unavailable`` (never a stale ``on``, never an ``off`` it did not see); a disarmed camera is not
asked for pictures; a picture that does not change is sent once; a removed camera entity raises
a repair issue naming it; no analyzer running says so.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Generator
from unittest.mock import patch

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, CONF_NAME, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.roiwatch import ha_camera, issues
from custom_components.roiwatch.const import CONF_KIND, CONF_OFF_DELAY, CONF_SOURCE, DOMAIN, KIND_HA
from custom_components.roiwatch.coordinator import RoiWatchCoordinator
from custom_components.roiwatch.diagnostics import async_get_config_entry_diagnostics
from custom_components.roiwatch.protocol import (
    STATE_RUNNING,
    Status,
    build_status,
    check_picture,
    parse_announce,
)
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.picture_server import PictureServer
from roiwatch_dev.waiting import wait_for

from .helpers import REAL_AGENT_MARKS, VIDEO, Agent, AgentProcesses, Recorder, add_region, is_state, retained

CAMERA = "yard"
REGION = "binary_sensor.yard_walkway"
SOURCE_SENSOR = "sensor.yard_picture_source"
FRAME_TOPIC = f"roiwatch/{CAMERA}/frame"
SLOW = 2.0  # seconds a slow camera takes for a picture: 4 ticks at 2 fps

pytestmark = REAL_AGENT_MARKS


@pytest.fixture
def server(socket_enabled: None) -> Generator[PictureServer]:
    """An IP camera on vtest.avi whose picture changes 5 times a second."""
    with PictureServer(VIDEO, fps=5, frames=200) as camera:
        yield camera


@pytest.fixture
def analyzer(agents: AgentProcesses) -> subprocess.Popen[bytes]:
    """The real analyzer: detects for every dumb camera on the broker."""
    return agents.start("analyzer")


async def _mjpeg_camera(hass: HomeAssistant, server: PictureServer) -> str:
    """Core's mjpeg camera on the server, as its config flow stores it; its entity id."""
    entry = MockConfigEntry(
        domain="mjpeg",
        title="Yard camera",
        data={},
        options={
            "authentication": "basic",
            "username": None,
            "password": "",
            "mjpeg_url": server.mjpeg_url,
            "still_image_url": server.snapshot_url,
            "verify_ssl": False,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (entity,) = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    return entity.entity_id


async def _add_ha_camera(hass: HomeAssistant, source: str) -> ConfigEntry:
    """ "Add device" -> a camera of Home Assistant -> the entity, as the UI does."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Yard", CONF_KIND: KIND_HA}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_SOURCE: source})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    return entry


def _frames(recorder: Recorder) -> list[bytes]:
    return [m.payload for m in recorder.received if m.topic == FRAME_TOPIC]


@pytest.mark.usefixtures("mqtt_entry")
async def test_ha_camera_end_to_end(
    hass: HomeAssistant,
    broker: Mosquitto,
    recorder: Recorder,
    server: PictureServer,
    analyzer: subprocess.Popen[bytes],
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Region on; outage unavailable and back; HA restart; still picture sent once; disarm; source
    removed."""
    source = await _mjpeg_camera(hass, server)
    entry = await _add_ha_camera(hass, source)
    # A long off delay: an ON kept from before an outage would still show after it.
    await add_region(hass, entry.entry_id, **{CONF_OFF_DELAY: 60})

    def coordinator() -> RoiWatchCoordinator:
        return entry.runtime_data  # a new region reloads the entry: looked up each time

    # Announced as a dumb camera whose host is Home Assistant; frames are JPEGs within limits.
    held = await retained(broker, f"roiwatch/{CAMERA}/announce")
    announce = parse_announce(held[f"roiwatch/{CAMERA}/announce"].payload, CAMERA)
    assert (announce.kind, announce.host) == ("dumb", "Home Assistant")
    await wait_for(is_state(hass, REGION, "on"), "a person in the region", 60)
    await recorder.flush()
    frames = _frames(recorder)
    assert frames and all(check_picture(f)[0] == 640 for f in frames)
    assert all(m.qos == 0 and not m.retain for m in recorder.received if m.topic == FRAME_TOPIC)
    assert hass.states.get(SOURCE_SENSOR).state == "ok"

    seen: list[str] = []

    @callback
    def region_changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen.append(new.state)

    unsubscribe = async_track_state_change_event(hass, [REGION], region_changed)
    try:
        # Outage: unavailable within 30 s, straight from on (an automation sees no false "off").
        server.stop()
        stopped = time.monotonic()
        gone = await wait_for(is_state(hass, REGION, "unavailable"), "the region to go unavailable", 30)
        print(f"camera stopped -> region unavailable: {gone - stopped:.1f} s")
        await hass.async_block_till_done()  # the listener has heard every change so far
        assert seen == ["unavailable"], seen
        assert hass.states.get(SOURCE_SENSOR).state == "failing"
        # Back with nobody in the picture: the region reads off, never the "on" from before.
        server.people = False
        server.start()
        await wait_for(is_state(hass, REGION, "off"), "the region to come back off", 60)
        await hass.async_block_till_done()
        assert "on" not in seen, seen
        server.people = True
        await wait_for(is_state(hass, REGION, "on"), "a person in the region again", 60)

        # HA restarts (the camera stops as at HA's stop, and starts again): it resumes by
        # itself, and the region with people in it stays on (unavailable while HA is away).
        seen.clear()
        assert await hass.config_entries.async_unload(entry.entry_id)
        await asyncio.sleep(2)
        requests = server.requests
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_for(lambda: coordinator().ha_camera.pump.counts.published, "pictures sent again")
        assert server.requests > requests
        await wait_for(is_state(hass, REGION, "on"), "the region on after the restart")
        await asyncio.sleep(2)  # longer than the analyzer takes to see a picture
        await hass.async_block_till_done()
        assert "off" not in seen, seen
        assert hass.states.get(REGION).state == "on"
    finally:
        unsubscribe()

    # A picture that does not change is sent once, however often it is taken.
    server.still = True
    await recorder.flush()
    frames_before, served = len(_frames(recorder)), server.requests
    await wait_for(lambda: server.requests >= served + 4, "the still picture taken 4 more times")
    await recorder.flush()
    assert len(_frames(recorder)) - frames_before <= 1  # (the still picture itself, if new)
    server.still = False

    # Diagnostics say where the pictures come from and at what rates.
    diagnostics = (await async_get_config_entry_diagnostics(hass, entry))["ha_camera"]
    assert diagnostics["source_entity_id"] == source
    assert diagnostics["source_state"] == "ok"
    assert diagnostics["repeated"] >= 3  # (of the 4 still pictures, the first may have been new)
    assert 0 < diagnostics["new_picture_rate"] <= diagnostics["fetch_rate"] <= 2.5, diagnostics
    # The panel's live picture is the source entity's.
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "roiwatch/cameras"})
    response = await client.receive_json()
    (camera,) = response["result"]["cameras"]
    assert camera["entities"]["camera"] == source
    assert hass.states.async_entity_ids("camera") == [source]  # no RoiWatch copy of the picture

    # Disarmed: no picture is taken.
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: "switch.yard_detection"}, True
    )
    await asyncio.sleep(0.5)  # a picture on its way as the switch went off lands
    requests = server.requests
    await asyncio.sleep(3)  # what must not happen has no event to wait for: 6 ticks at 2 fps
    assert server.requests == requests
    assert hass.states.get(SOURCE_SENSOR).state == "paused"
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: "switch.yard_detection"}, True
    )
    await wait_for(lambda: server.requests > requests, "pictures taken again")

    # The camera entity is removed: a repair issue names it; the region is unavailable.
    er.async_get(hass).async_remove(source)
    await hass.async_block_till_done()
    issue_id = issues.issue_id(issues.ISSUE_SOURCE_MISSING, entry.entry_id)
    await wait_for(
        lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None, "the repair issue", 10
    )
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.translation_placeholders == {"camera": "Yard", "source": source}
    await wait_for(is_state(hass, REGION, "unavailable"), "the region to go unavailable", 10)
    assert hass.states.get(SOURCE_SENSOR).state == "missing"


@pytest.mark.usefixtures("mqtt_entry")
async def test_no_analyzer(hass: HomeAssistant, broker: Mosquitto, server: PictureServer) -> None:
    """Pictures go out and no analyzer reports: a repair issue says how to start one."""
    source = await _mjpeg_camera(hass, server)
    with patch.object(ha_camera, "NO_ANALYZER_AFTER", 1.0):
        entry = await _add_ha_camera(hass, source)
        issue_id = issues.issue_id(issues.ISSUE_NO_ANALYZER, entry.entry_id)
        await wait_for(
            lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None,
            "the no-analyzer issue",
            15,
        )
        assert hass.states.get(REGION) is None or hass.states.get(REGION).state == "unavailable"
        # An analyzer reports: the issue goes.
        agent = Agent(hass, broker, CAMERA)
        await agent.connected()
        try:
            await agent.send("status", build_status(Status(STATE_RUNNING, revision=1, version="0.1.0")))
        finally:
            agent.close()
        await wait_for(
            lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None, "the issue to go", 10
        )


@pytest.mark.usefixtures("mqtt_entry")
async def test_slow_camera(hass: HomeAssistant, server: PictureServer) -> None:
    """A camera slower than the fps: one picture at a time, ticks skipped, the loop never waits."""
    lock = threading.Lock()
    busy = [0, 0]  # requests being answered now, most at once
    plain = server.picture

    def slow_picture() -> bytes:
        with lock:
            busy[0] += 1
            busy[1] = max(busy)
        time.sleep(SLOW)  # in the server's thread: the camera takes its time
        with lock:
            busy[0] -= 1
        return plain()

    server.picture = slow_picture  # type: ignore[method-assign]
    source = await _mjpeg_camera(hass, server)
    entry = await _add_ha_camera(hass, source)
    pump = entry.runtime_data.ha_camera.pump
    try:
        # The event loop's lag, measured while the slow pictures are fetched.
        lag = 0.0
        end = time.monotonic() + 3 * SLOW
        while time.monotonic() < end:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            lag = max(lag, time.monotonic() - before - 0.05)
        # A fetch that blocked would hold the loop for the whole SLOW; half is slack for load.
        assert lag < SLOW / 2, f"the event loop waited {lag:.2f} s"
        assert busy[1] == 1, busy
        assert pump.counts.skipped >= 4, pump.counts
        assert pump.counts.published >= 2, pump.counts
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        server.picture = plain  # type: ignore[method-assign]
        # No server thread may outlive the test (the harness checks): the last slow answer lands.
        await wait_for(lambda: busy[0] == 0, "the last slow picture", 5)
