"""Benchmark of cameras of Home Assistant (kind ``ha``), run by ``scripts/bench --only ha_camera``.

Not collected by the test suite (its name does not start with test_); run it explicitly:
``.venv/bin/pytest tests/ha/bench_ha_camera.py -s -q -p no:cacheprovider``. HA's real core, its
core ``mjpeg`` camera integration on roiwatch_dev/picture_server.py (vtest.avi), HA's real MQTT client,
a real mosquitto and, for the latency, the real analyzer and a real dumb camera agent. Figures:
- the event-loop time each fetch-and-publish holds HA's loop (the sum of its coroutine's steps);
- HA's process CPU (and its event-loop thread's) with 1, 4 and 8 such cameras at 2 fps, against
  the same HA with none (the picture server runs in its own process: not counted);
- a person appearing in the source's picture -> the region ``on`` in HA, against a dumb camera
  (the agent reading the same server's MJPEG stream, frames over MQTT) in the same run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.const import CONF_NAME
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.roiwatch.const import CONF_CAMERA_ID, CONF_FPS, CONF_KIND, CONF_SOURCE, DOMAIN
from custom_components.roiwatch.pump import FramePump
from roiwatch_dev import REPO
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.picture_server import PictureServer
from roiwatch_dev.ports import free_port
from roiwatch_dev.waiting import wait_for

from .bench_e2e import _agent
from .conftest import camera_entry, set_up
from .helpers import VIDEO, add_region, setup_real_mqtt

FPS = 2.0
COUNTS = (1, 4, 8)
SECONDS = float(os.environ.get("ROIWATCH_BENCH_SECONDS", "20"))
ROUNDS = int(os.environ.get("ROIWATCH_BENCH_ROUNDS", "10"))
LOWER = "0,30 100,30 100,100 0,100"  # where vtest.avi's people walk
FAST = ("--fps", "10", "--width", "640")  # the picture server at the video's own rate

pytestmark = [
    pytest.mark.usefixtures("socket_enabled", "mock_hass_config"),
    pytest.mark.skipif(not VIDEO.exists(), reason="vtest.avi is missing (scripts/setup)"),
]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _ms(values: list[float], digits: int = 2) -> str:
    return (
        f"{statistics.median(values) * 1e3:.{digits}f} ms median,"
        f" {_pct(values, 0.95) * 1e3:.{digits}f} ms p95"
        f" ({len(values)} samples)"
    )


@types.coroutine
def _stepped(coro: Coroutine[Any, Any, Any], busy: list[float]) -> Generator[Any, Any, Any]:
    """Drive ``coro`` step by step, adding the time each step holds the loop to ``busy[0]``."""
    value: Any = None
    error: BaseException | None = None
    while True:
        start = time.perf_counter()
        try:
            yielded = coro.throw(error) if error is not None else coro.send(value)
        except StopIteration as done:
            busy[0] += time.perf_counter() - start
            return done.value
        except BaseException:  # the fetch's own error or a cancellation: passed on
            busy[0] += time.perf_counter() - start
            raise
        busy[0] += time.perf_counter() - start
        try:
            value, error = (yield yielded), None
        except BaseException as err:  # e.g. a cancellation thrown into the task
            value, error = None, err


@pytest.fixture(autouse=True)
def quiet(hass: HomeAssistant, caplog: pytest.LogCaptureFixture) -> None:
    """HA as it runs at home: no debug logging (MQTT's logs every payload) nor asyncio debug mode."""
    for name in ("", "homeassistant", "paho", "custom_components", "asyncio", "aiohttp"):
        caplog.set_level(logging.WARNING, logger=name)
    hass.loop.set_debug(False)


@pytest.fixture
def loop_times(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The event-loop time of every fetch-and-publish of every pump, in order."""
    times: list[float] = []
    original = FramePump._async_fetch

    async def timed(pump: FramePump) -> None:
        busy = [0.0]
        try:
            await _stepped(original(pump), busy)
        finally:
            times.append(busy[0])

    monkeypatch.setattr(FramePump, "_async_fetch", timed)
    return times


async def _mjpeg_camera(hass: HomeAssistant, name: str, url: str, query: str = "") -> str:
    """HA's core MJPEG IP Camera on ``url`` (its config flow, as the UI does); its entity id."""
    result = await hass.config_entries.flow.async_init("mjpeg", context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_NAME: name,
            "mjpeg_url": f"{url}/stream.mjpg{query}",
            "still_image_url": f"{url}/snapshot.jpg{query}",
            "password": "",
            "verify_ssl": False,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    (entity,) = er.async_entries_for_config_entry(er.async_get(hass), result["result"].entry_id)
    return entity.entity_id


async def _ha_camera(hass: HomeAssistant, camera_id: str, source: str) -> ConfigEntry:
    """A RoiWatch camera of Home Assistant, through "Add integration" (kind ha, then the entity)."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: camera_id.title(), CONF_CAMERA_ID: camera_id, CONF_KIND: "ha"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_SOURCE: source})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry = result["result"]
    assert entry.options.get(CONF_FPS, FPS) == FPS
    return entry


def _pump(entry: ConfigEntry) -> FramePump:
    pump: FramePump = entry.runtime_data.ha_camera.pump
    return pump


def _heading(what: str) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n[home assistant] {what}; {os.cpu_count()} cores, load average {load}")


async def test_bench_ha_camera_cost(hass: HomeAssistant, broker: Mosquitto, loop_times: list[float]) -> None:
    """HA's CPU and event-loop time with 0, 1, 4 and 8 cameras of HA fetching at 2 fps."""
    mqtt_entry = await setup_real_mqtt(hass, broker)
    port = free_port()
    # One server process for every source (distinct URLs by query): its CPU is not HA's.
    # At the video's own 10 fps every fetch at 2 fps finds a new picture: each one is published.
    serve = [sys.executable, "-m", "roiwatch_dev.picture_server", "--port", str(port), "--video", str(VIDEO)]
    server = subprocess.Popen(
        [*serve, *FAST],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    entries: list[ConfigEntry] = []
    try:
        assert server.stdout is not None
        assert "serving" in await hass.async_add_executor_job(server.stdout.readline)
        url = f"http://127.0.0.1:{port}"
        sources = [await _mjpeg_camera(hass, f"Source {k}", url, f"?cam={k}") for k in range(max(COUNTS))]

        async def measure() -> tuple[float, float, int, list[float]]:
            """(process CPU share, loop thread CPU share, pictures published, loop times) over SECONDS."""
            await asyncio.sleep(3)  # settle: the new cameras' first fetches, HA's own start-up work
            published = sum(_pump(e).counts.published for e in entries)
            first = len(loop_times)
            wall, cpu, loop_cpu = time.monotonic(), time.process_time(), time.thread_time()
            await asyncio.sleep(SECONDS)
            # time.thread_time() here is the event loop's thread: the test runs in it.
            wall = time.monotonic() - wall
            cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
            pictures = sum(_pump(e).counts.published for e in entries) - published
            return cpu / wall, loop_cpu / wall, pictures, loop_times[first:]

        base_cpu, base_loop, _, _ = await measure()
        rows = []
        for count in COUNTS:
            while len(entries) < count:
                entries.append(await _ha_camera(hass, f"bench{len(entries)}", sources[len(entries)]))
            await wait_for(
                lambda: all(_pump(e).counts.published for e in entries), "every camera publishing", 30
            )
            rows.append((count, *await measure()))

        _heading(f"cameras of Home Assistant: core mjpeg cameras at {FPS:g} fps, 640 px, real mosquitto")
        print(
            f"  {'HA process CPU, no camera of HA (baseline)':<56} {base_cpu * 100:5.2f} % of a core"
            f" (event-loop thread {base_loop * 100:.2f} %)"
        )
        every: list[float] = []
        for count, cpu, loop_cpu, pictures, times in rows:
            rate = pictures / SECONDS
            extra = (cpu - base_cpu) / rate * 1e3 if rate else float("nan")
            print(
                f"  {f'HA process CPU, {count} camera(s) of HA':<56} {cpu * 100:5.2f} % of a core"
                f" (+{(cpu - base_cpu) * 100:.2f} %; loop thread {loop_cpu * 100:.2f} %);"
                f" {rate:.1f} pictures/s published, {extra:.1f} ms CPU per picture"
            )
            every += times
        print(f"  {'event-loop time per fetch and publish':<56} {_ms(every)}")
        skipped = sum(_pump(e).counts.skipped for e in entries)
        repeated = sum(_pump(e).counts.repeated for e in entries)
        print(f"    (ticks skipped while a fetch ran: {skipped}; repeated pictures not sent: {repeated})")
    finally:
        for entry in entries:
            await hass.config_entries.async_unload(entry.entry_id)
        for entry in hass.config_entries.async_entries("mjpeg"):
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
        server.terminate()
        server.wait(15)


async def test_bench_ha_camera_latency(hass: HomeAssistant, broker: Mosquitto, tmp_path: Path) -> None:
    """A person appears in the source's picture -> region on in HA; the same for a dumb camera."""
    mqtt_entry = await setup_real_mqtt(hass, broker)
    server = PictureServer(VIDEO, fps=10, width=640, frames=300)
    server.start()
    server.people = False
    source = await _mjpeg_camera(hass, "Latency source", server.url)
    ha_entry = await _ha_camera(hass, "benchha", source)
    dumb_entry = await set_up(hass, camera_entry("benchdumb", "Benchdumb", "dumb", subentries=[], fps=FPS))
    for entry in (ha_entry, dumb_entry):
        await add_region(hass, entry.entry_id, LOWER, off_delay=1)
    await hass.async_block_till_done()
    regions = {
        kind: next(
            e.entity_id
            for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
            if e.domain == "binary_sensor" and e.unique_id.endswith(next(iter(entry.subentries)))
        )
        for kind, entry in (("ha", ha_entry), ("dumb", dumb_entry))
    }
    agents = [
        _agent("analyzer", tmp_path, broker),
        _agent(
            "dumb",
            tmp_path,
            broker,
            "--camera",
            "benchdumb",
            "--source",
            server.mjpeg_url,
            "--fps",
            f"{FPS:g}",
            "--width",
            "640",
        ),
    ]
    on_at: dict[str, float] = {}

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        kind = next(k for k, e in regions.items() if e == event.data["entity_id"])
        if new is not None and new.state == "on":
            on_at.setdefault(kind, time.monotonic())

    def off() -> bool:
        return all((s := hass.states.get(e)) is not None and s.state == "off" for e in regions.values())

    untrack = async_track_state_change_event(hass, list(regions.values()), on_change)
    latencies: dict[str, list[float]] = {"ha": [], "dumb": []}
    try:
        for entry in (ha_entry, dumb_entry):
            coordinator = entry.runtime_data
            await wait_for(lambda c=coordinator: c.applied, f"{entry.title} running its regions", 90)
        for _ in range(ROUNDS):
            server.people = False
            await wait_for(off, "both regions off on the empty street", 60)
            await asyncio.sleep(1.0)  # both analysers have seen the empty street a while
            on_at.clear()
            appeared = time.monotonic()
            server.people = True
            await wait_for(lambda: len(on_at) == 2, "both regions on with people", 30)
            for kind in latencies:
                latencies[kind].append(on_at[kind] - appeared)
        _heading("person in the source's picture -> region on in HA (analyzer, 2 fps, 640 px)")
        print(f"  {'camera of Home Assistant (core mjpeg camera, snapshots)':<56} {_ms(latencies['ha'], 0)}")
        print(f"  {'dumb camera over MQTT (agent on the same MJPEG stream)':<56} {_ms(latencies['dumb'], 0)}")
    finally:
        untrack()
        for proc in agents:
            proc.terminate()
        for proc in agents:
            proc.wait(15)
        for entry in (ha_entry, dumb_entry):
            await hass.config_entries.async_unload(entry.entry_id)
        for entry in hass.config_entries.async_entries("mjpeg"):
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
        server.stop()
