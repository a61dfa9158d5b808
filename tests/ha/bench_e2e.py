"""Benchmark through HA's real MQTT client, a real mosquitto and a real agent (run by scripts/bench).

Not collected by the test suite (its name does not start with test_); run it explicitly:
``.venv/bin/pytest tests/ha/bench_e2e.py -s -q``. Figures:
- region saved in HA (subentry flow) -> the agent running that revision, as HA sees it;
- a person appearing in the region in the video -> HA's binary_sensor turning on;
- a look at a camera entity (HA publishes ``preview_request``) -> the live picture in HA, for a
  smart camera and for a dumb camera through the analyzer.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from homeassistant.components import mqtt
from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.roiwatch import protocol
from custom_components.roiwatch.const import (
    CONF_CAMERA_ID,
    CONF_DETECT,
    CONF_KIND,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    DOMAIN,
    SUBENTRY_ROI,
)
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for
from tests.scene import write_scene

from .conftest import camera_entry, set_up
from .helpers import AGENT, VIDEO, setup_real_mqtt

CAMERA = "benchcam"
REGION = "binary_sensor.benchcam_walkway"
EMPTY_S, PEOPLE_S, TAIL_S = 2.0, 4.0, 4.0
ROUNDS = int(os.environ.get("ROIWATCH_BENCH_ROUNDS", "10"))


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _report(label: str, values: list[float]) -> None:
    print(
        f"  {label:<52} {statistics.median(values) * 1e3:6.0f} ms median, "
        f"{_pct(values, 0.95) * 1e3:.0f} ms p95 ({len(values)} samples)"
    )


@pytest.mark.usefixtures("socket_enabled", "mock_hass_config")
async def test_bench_ha_end_to_end(hass: HomeAssistant, broker: Mosquitto, tmp_path: Path) -> None:
    mqtt_entry = await setup_real_mqtt(hass, broker)
    cycle = write_scene(VIDEO, tmp_path / "scene.avi", EMPTY_S, PEOPLE_S, TAIL_S)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Benchcam", CONF_CAMERA_ID: CAMERA, CONF_KIND: "smart"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()

    def region(off_delay: float, sensitivity: int) -> dict:
        return {
            CONF_NAME: "Walkway",
            CONF_DETECT: "person",
            CONF_POINTS: "0,30 100,30 100,100 0,100",
            CONF_SENSITIVITY: sensitivity,
            CONF_OFF_DELAY: off_delay,
        }

    flow = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ROI), context={"source": SOURCE_USER}
    )
    flow = await hass.config_entries.subentries.async_configure(flow["flow_id"], region(1, 50))
    assert flow["type"] is FlowResultType.CREATE_ENTRY
    (region_id,) = [s.subentry_id for s in entry.subentries.values() if s.subentry_type == SUBENTRY_ROI]

    running_at: dict[int, float] = {}

    @callback
    def on_status(msg: mqtt.ReceiveMessage) -> None:
        try:
            status = protocol.parse_status(msg.payload)
        except protocol.ProtocolError:
            return
        if status.state == "running" and status.revision not in running_at:
            running_at[status.revision] = time.monotonic()

    unsubscribe = await mqtt.async_subscribe(hass, f"roiwatch/{CAMERA}/status", on_status)
    log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen(
        [
            str(AGENT),
            "smart",
            "--camera",
            CAMERA,
            "--source",
            str(tmp_path / "scene.avi"),
            "--loop",
            "--broker",
            broker.url,
            "--state-dir",
            str(tmp_path / "state"),
            "--log-level",
            "WARNING",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_for(lambda: entry.runtime_data.applied, "the first revision to run", 60)

        # Region saved -> running. Each save is a new revision and a new detection process.
        restarts: list[float] = []
        for i in range(ROUNDS):
            flow = await hass.config_entries.subentries.async_init(
                (entry.entry_id, SUBENTRY_ROI), context={"source": "reconfigure", "subentry_id": region_id}
            )
            flow = await hass.config_entries.subentries.async_configure(flow["flow_id"], region(1, 51 + i))
            assert flow["reason"] == "reconfigure_successful"
            saved = time.monotonic()
            coordinator = entry.runtime_data
            await wait_for(lambda c=coordinator: c.applied and c.detection_state == "running", "apply", 30)
            restarts.append(time.monotonic() - saved)

        # Person appears in the region (video time EMPTY_S of each loop) -> HA binary_sensor on.
        revision = entry.runtime_data.running_revision
        ons: list[float] = []

        @callback
        def on_change(event: Event[EventStateChangedData]) -> None:
            new = event.data["new_state"]
            if new is not None and new.state == "on":
                ons.append(time.monotonic())

        untrack = async_track_state_change_event(hass, [REGION], on_change)
        await wait_for(lambda: len(ons) >= 4, "four person entries", cycle * 6 + 30)
        untrack()
        start = running_at[revision]
        latencies = []
        for t in ons:
            k = round((t - start - EMPTY_S) / cycle)
            latencies.append(t - (start + k * cycle + EMPTY_S))
        print(f"\n[home assistant] real HA core + MQTT client, mosquitto, agent; {os.cpu_count()} cores")
        _report("region saved in HA -> agent running it (seen in HA)", restarts)
        _report("person appears in the video -> HA binary_sensor on", latencies)
    finally:
        unsubscribe()
        agent.terminate()
        agent.wait(15)
        log.close()
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()


def _agent(role: str, tmp_path: Path, broker: Mosquitto, *args: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{role}.log").open("wb")
    extra = [] if role == "dumb" else ["--state-dir", str(tmp_path / f"state-{role}")]
    return subprocess.Popen(
        [str(AGENT), role, "--broker", broker.url, "--log-level", "WARNING", *extra, *args],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.usefixtures("socket_enabled", "mock_hass_config")
async def test_bench_live_preview(hass: HomeAssistant, broker: Mosquitto, tmp_path: Path) -> None:
    """A look at camera.<cam> (request published) -> the live picture in HA, one look at a time."""
    mqtt_entry = await setup_real_mqtt(hass, broker)
    cameras = {"benchsmart": "smart", "benchdumb": "dumb"}
    entries = [await set_up(hass, camera_entry(cam, cam.title(), kind)) for cam, kind in cameras.items()]
    video = str(VIDEO)
    agents = [
        _agent("smart", tmp_path, broker, "--camera", "benchsmart", "--source", video, "--loop"),
        _agent("dumb", tmp_path, broker, "--camera", "benchdumb", "--source", video, "--loop", "--fps", "5"),
        _agent("analyzer", tmp_path, broker),
    ]
    try:
        figures: dict[str, tuple[list[float], int]] = {}
        for entry in entries:
            coordinator = entry.runtime_data
            entity_id = f"camera.{coordinator.camera_id}"
            await wait_for(lambda c=coordinator: c.detection_state == "running", f"{entity_id} running", 60)
            latencies: list[float] = []
            missed = 0
            while len(latencies) < max(ROUNDS * 2, 10) and missed < 20:
                # Looks further apart than the detector's rate limit: each one is a fresh request.
                await asyncio.sleep(protocol.PREVIEW_MIN_INTERVAL + 0.1)
                asked = time.monotonic()
                await async_get_image(hass, entity_id)
                took = time.monotonic() - asked
                if hass.states.get(entity_id).attributes["picture"] == "live":
                    latencies.append(took)
                else:
                    missed += 1  # a fresh detector has no frame yet, or the answer came too late
            assert latencies, f"{entity_id}: no live picture ({missed} looks without one)"
            figures[cameras[coordinator.camera_id]] = latencies, missed
        cores = os.cpu_count()
        print(f"\n[home assistant] live preview, real HA core, mosquitto, agents; {cores} cores")
        for kind, (latencies, missed) in figures.items():
            _report(f"look at a {kind} camera -> live picture in HA", latencies)
            if missed:
                print(f"    ({missed} looks got no live picture within {protocol.PREVIEW_TIMEOUT} s)")
    finally:
        for proc in agents:
            proc.terminate()
        for proc in agents:
            proc.wait(15)
        for entry in entries:
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
