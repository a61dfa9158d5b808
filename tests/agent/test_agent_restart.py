"""Restarts of the whole agent nobody notices (issue 19): what is NEVER published on the wire.

People walk the walkway of vtest.avi all the time and its region is ON. A service restart
(SIGTERM to the process group, as systemd sends it), a crash of the main process (SIGKILL) and a
stop for good: real mosquitto, real agent processes, every message recorded by a real client.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from roiwatch_agent import protocol
from roiwatch_agent.cli import build_parser
from roiwatch_dev.agents import pid_alive
from roiwatch_dev.waiting import wait_until
from tests.scene import write_scene

from .conftest import TOPICS, WALKWAY, make_config, roi
from .test_restarts import _dumb_camera, street  # noqa: F401 - a fixture

CAM = "porch"
OFF_DELAY = 5  # longer than the person model's own misses on vtest.avi: an OFF is a restart's


def _on_air(recorder, start_agent, vtest, *extra):
    """A smart agent on vtest.avi (looped) whose walkway region has turned ON."""
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 1, [roi("walk", WALKWAY, off_delay=OFF_DELAY)]))
    agent = start_agent("smart", "--camera", CAM, "--source", str(vtest), "--loop", *extra)
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)
    recorder.wait_for(TOPICS.detected(CAM), lambda m: m.text == "ON", timeout=5)
    return agent


def _texts(recorder, topic, after):
    return [m.text for m in recorder.on_topic(topic, after=after)]


def _states(recorder, after):
    return [protocol.parse_status(m.payload).state for m in recorder.on_topic(TOPICS.status(CAM), after)]


def _restarted(recorder, start_agent, vtest, t0, *extra):
    """The agent started again 2 s after ``t0``: wait until its detection has looked for a while."""
    time.sleep(max(0.0, t0 + 2 - time.monotonic()))
    agent = start_agent("smart", "--camera", CAM, "--source", str(vtest), "--loop", *extra)
    recorder.wait_status(CAM, state="running", revision=1, after=t0, timeout=30)
    time.sleep(OFF_DELAY + 1)  # past the off_delay of the carried-over state: the frames decided
    return agent


def _assert_unnoticed(recorder, t0):
    """Nothing an automation would see: no OFF, no offline, no stopped."""
    assert "OFF" not in _texts(recorder, TOPICS.roi(CAM, "walk"), t0)
    assert "OFF" not in _texts(recorder, TOPICS.detected(CAM), t0)
    assert "offline" not in _texts(recorder, TOPICS.availability(CAM), t0)
    assert set(_states(recorder, t0)) <= {"starting", "running"}, _states(recorder, t0)
    assert recorder.on_topic(TOPICS.roi(CAM, "walk"))[-1].text == "ON"


def test_service_restart_publishes_no_off_and_no_offline(recorder, start_agent, vtest):
    """SIGTERM to the group (systemctl restart, an upgrade), started again 2 s later (new state dir)."""
    agent = _on_air(recorder, start_agent, vtest)
    t0 = time.monotonic()
    os.killpg(agent.proc.pid, signal.SIGTERM)
    assert agent.stop() == 0
    # The stop itself publishes no region state, no detected, no availability.
    stopped = time.monotonic()
    for leaf in (TOPICS.roi(CAM, "walk"), TOPICS.detected(CAM), TOPICS.availability(CAM)):
        assert recorder.on_topic(leaf, after=t0) == [], leaf
    assert set(_states(recorder, t0)) <= {"running"}
    # The new agent has a fresh state dir: it carries the states retained on the broker over.
    again = _restarted(recorder, start_agent, vtest, stopped)
    _assert_unnoticed(recorder, t0)
    assert "carrying over region(s) walk as ON" in again.output


def test_crash_of_the_main_process_publishes_no_off_and_no_offline(recorder, start_agent, vtest, tmp_path):
    """SIGKILL of the main process only (OOM killer, a crash under Restart=), started again 2 s later."""
    state = str(tmp_path / "state")
    agent = _on_air(recorder, start_agent, vtest, "--state-dir", state)
    [detector] = agent.detector_pids()
    t0 = time.monotonic()
    agent.proc.kill()
    assert wait_until(lambda: not pid_alive(detector), timeout=10)  # it leaves by itself, quietly
    _restarted(recorder, start_agent, vtest, t0, "--state-dir", state)
    _assert_unnoticed(recorder, t0)


def test_stopped_for_good_is_offline_after_the_grace_and_never_off(recorder, start_agent, vtest):
    """SIGTERM and no restart: after the grace HA is told the camera is gone, never that nobody is there."""
    grace = 3
    agent = _on_air(recorder, start_agent, vtest, "--restart-grace", str(grace))
    t0 = time.monotonic()
    os.killpg(agent.proc.pid, signal.SIGTERM)
    assert agent.stop() == 0
    gone = recorder.wait_for(TOPICS.availability(CAM), lambda m: m.text == "offline", after=t0, timeout=15)
    status = recorder.wait_status(CAM, state="offline", after=t0, timeout=15)
    assert gone.at >= t0 + grace - 0.5  # the broker held the will for the grace
    assert status.error == "detection process gone"
    assert "OFF" not in _texts(recorder, TOPICS.roi(CAM, "walk"), t0)
    assert "OFF" not in _texts(recorder, TOPICS.detected(CAM), t0)


@pytest.fixture(scope="module")
def empty_street(vtest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "empty.avi"
    write_scene(vtest, out, empty_s=20, people_s=0, tail_s=0)
    return out


def test_a_person_who_left_during_the_downtime_goes_off_after_the_first_frames(
    recorder, start_agent, vtest, empty_street
):
    """Nobody is there when the agent is back: OFF once its frames have shown it for off_delay, not before."""
    agent = _on_air(recorder, start_agent, vtest)
    t0 = time.monotonic()
    os.killpg(agent.proc.pid, signal.SIGTERM)
    agent.stop()
    start_agent("smart", "--camera", CAM, "--source", str(empty_street), "--loop")
    first = recorder.wait_for(
        TOPICS.status(CAM),
        lambda m: protocol.parse_status(m.payload).state == "running",
        after=t0,
        timeout=30,
    )
    off = recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "OFF", after=t0, timeout=30)
    assert OFF_DELAY - 0.5 <= off.at - first.at <= OFF_DELAY + 3, off.at - first.at
    assert _texts(recorder, TOPICS.roi(CAM, "walk"), t0) in (["OFF"], ["ON", "OFF"])  # ON: carried over
    recorder.wait_for(TOPICS.detected(CAM), lambda m: m.text == "OFF", after=t0, timeout=5)


def test_an_analyzer_restart_keeps_its_dumb_cameras_regions(recorder, start_agent, street):  # noqa: F811
    """People stand still in a dumb camera's picture: the analyzer restarted, the region stays ON."""
    empty, still = street
    recorder.publish(
        TOPICS.config("gate"), make_config("gate", 1, [roi("walk", WALKWAY, off_delay=3)], kind="dumb")
    )
    analyzer = start_agent("analyzer")
    with _dumb_camera(recorder, "gate", [empty]) as picture:
        recorder.wait_status("gate", state="running", revision=1, timeout=30)
        picture[0] = still  # people appear, then stand still
        recorder.wait_for(TOPICS.roi("gate", "walk"), lambda m: m.text == "ON", timeout=30)
        recorder.wait_for(TOPICS.detected("gate"), lambda m: m.text == "ON", timeout=5)
        t0 = time.monotonic()
        os.killpg(analyzer.proc.pid, signal.SIGTERM)
        assert analyzer.stop() == 0
        start_agent("analyzer")  # a fresh state dir: the states come from the broker
        first = recorder.wait_for(
            TOPICS.status("gate"), lambda m: protocol.parse_status(m.payload).state == "running", after=t0
        )
        time.sleep(max(0.0, first.at + 3 + 1 - time.monotonic()))  # past the off_delay: confirmed
    assert _texts(recorder, TOPICS.roi("gate", "walk"), t0) in ([], ["ON"])
    assert "OFF" not in _texts(recorder, TOPICS.detected("gate"), t0)
    states = [protocol.parse_status(m.payload).state for m in recorder.on_topic(TOPICS.status("gate"), t0)]
    assert set(states) <= {"starting", "running"}, states


def test_the_grace_is_thirty_seconds_by_default():
    """The will delay every agent connection uses unless told otherwise (docs/protocol.md, Lifecycle)."""
    assert protocol.RESTART_GRACE == 30
    for role in (
        ["smart", "--camera", "c", "--source", "x"],
        ["analyzer"],
        ["dumb", "--camera", "c", "--source", "x"],
    ):
        assert build_parser().parse_args(role).restart_grace == protocol.RESTART_GRACE


def test_a_dumb_camera_restart_keeps_its_regions_and_a_stop_for_good_is_offline_after_the_grace(
    recorder, start_agent, vtest
):
    """A dumb camera rebooted or upgraded: the analyzer (which clears an offline camera's regions)
    never hears `offline`, so nothing flaps; stopped for good, `offline` comes after the grace."""
    recorder.publish(
        TOPICS.config("gate"),
        make_config("gate", 1, [roi("walk", WALKWAY, off_delay=OFF_DELAY)], kind="dumb"),
    )
    start_agent("analyzer")
    dumb = [
        "dumb",
        "--camera",
        "gate",
        "--source",
        str(vtest),
        "--loop",
        "--fps",
        "5",
        "--restart-grace",
        "4",
    ]
    camera = start_agent(*dumb)
    recorder.wait_for(TOPICS.roi("gate", "walk"), lambda m: m.text == "ON", timeout=30)
    t0 = time.monotonic()
    assert camera.stop() == 0
    time.sleep(1)
    camera = start_agent(*dumb)
    recorder.wait_for(TOPICS.frame("gate"), after=t0 + 1, timeout=15)
    time.sleep(4 + 2)  # past the grace of the first run: its will was cancelled
    assert "offline" not in _texts(recorder, TOPICS.availability("gate"), t0)
    assert "OFF" not in _texts(recorder, TOPICS.roi("gate", "walk"), t0)
    assert "OFF" not in _texts(recorder, TOPICS.detected("gate"), t0)

    t1 = time.monotonic()
    assert camera.stop() == 0
    gone = recorder.wait_for(TOPICS.availability("gate"), lambda m: m.text == "offline", after=t1, timeout=15)
    assert gone.at - t1 >= 4 - 0.5, gone.at - t1  # not before the grace
