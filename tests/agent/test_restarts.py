"""Restarts nobody notices: region states handed on across revisions and crashes, stops that never block.

Real mosquitto, real agent processes, real video; every message is recorded by a real MQTT client.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import pytest

from roiwatch_agent import protocol
from roiwatch_agent.detection.person_model import load_person_detector
from roiwatch_agent.detection.pipeline import HeldState, Pipeline
from roiwatch_dev.agents import pid_alive
from roiwatch_dev.waiting import wait_until
from tests.scene import read_street

from .conftest import FEET, ROOFTOPS, TOPICS, WALKWAY, make_config, roi

CAM = "porch"


def _texts(recorder, topic, after=0.0):
    return [m.text for m in recorder.on_topic(topic, after=after)]


def _revision(recorder, camera, revision, rois, kind="smart"):
    t = time.monotonic()
    recorder.publish(TOPICS.config(camera), make_config(camera, revision, rois, kind=kind))
    recorder.wait_status(camera, state="running", revision=revision, after=t, timeout=30)


def _people_on_the_walkway(recorder, start_agent, vtest, *extra):
    """A smart agent on vtest.avi (looped) whose walkway region has turned ON."""
    # off_delay 5: longer than the person model's own misses on vtest.avi, so an OFF is a restart's.
    walk = roi("walk", WALKWAY, off_delay=5)
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 1, [walk]))
    agent = start_agent("smart", "--camera", CAM, "--source", str(vtest), "--loop", *extra)
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)
    return agent, walk


def test_a_region_with_people_never_flaps_across_revisions_and_a_kill(recorder, start_agent, vtest):
    """People walk the walkway all the time: other regions come and go, the detector is killed."""
    agent, walk = _people_on_the_walkway(recorder, start_agent, vtest)
    on_at = time.monotonic()

    _revision(recorder, CAM, 2, [walk, roi("roof", ROOFTOPS)])  # a region added
    _revision(recorder, CAM, 3, [walk, roi("roof", FEET)])  # edited
    _revision(recorder, CAM, 4, [walk])  # removed
    [pid] = agent.detector_pids()
    t_kill = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    status = recorder.wait_status(CAM, state="running", revision=4, after=t_kill, timeout=15)
    assert status.restarts == 1
    time.sleep(2)  # the new process has decided from its own frames

    assert "OFF" not in _texts(recorder, TOPICS.roi(CAM, "walk"), after=on_at)
    assert "OFF" not in _texts(recorder, TOPICS.detected(CAM), after=on_at)
    states = {protocol.parse_status(m.payload).state for m in recorder.on_topic(TOPICS.status(CAM), on_at)}
    assert states <= {"starting", "running"}, states  # never offline or error: HA keeps the sensors
    # The other region was reported, and its retained topic cleared once it was removed.
    assert [m.payload for m in recorder.on_topic(TOPICS.roi(CAM, "roof"))][-1] == b""


def test_a_real_stop_clears_the_regions(recorder, start_agent, vtest):
    agent, _ = _people_on_the_walkway(recorder, start_agent, vtest)

    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "OFF")
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "OFF", after=t0, timeout=10)
    recorder.wait_for(TOPICS.detected(CAM), lambda m: m.text == "OFF", after=t0, timeout=10)
    recorder.wait_status(CAM, state="stopped", after=t0)

    # Re-armed, it starts from nothing: ON again only once someone is seen.
    t1 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "ON")
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", after=t1, timeout=30)

    t2 = time.monotonic()
    recorder.publish(TOPICS.config(CAM), b"")  # the camera's config removed in HA
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "OFF", after=t2, timeout=10)
    recorder.wait_for(TOPICS.detected(CAM), lambda m: m.text == "OFF", after=t2, timeout=10)
    assert wait_until(lambda: agent.detector_pids() == [])


def test_a_real_stop_clears_the_regions_of_a_hung_process(recorder, start_agent, vtest):
    """A process that cannot answer (SIGSTOP) is killed; the agent clears its regions for it."""
    agent, _ = _people_on_the_walkway(recorder, start_agent, vtest, "--restart-grace", "5")
    [pid] = agent.detector_pids()
    os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "OFF")
    recorder.wait_status(CAM, state="stopped", after=t0, timeout=15)
    assert not pid_alive(pid)
    assert _texts(recorder, TOPICS.roi(CAM, "walk"), after=t0) == ["OFF"]
    assert _texts(recorder, TOPICS.detected(CAM), after=t0) == ["OFF"]
    # The broker publishes the killed process's will (offline) the grace later; the agent,
    # which stopped detection on purpose, says "stopped" again right after it.
    will = recorder.wait_for(TOPICS.status(CAM), lambda m: b"offline" in m.payload, after=t0, timeout=20)
    recorder.wait_status(CAM, state="stopped", after=will.at, timeout=10)


@pytest.fixture(scope="module")
def street(vtest):
    """(empty street, a still frame with people standing in it) of vtest.avi, as JPEGs."""
    _, frames, empty = read_street(vtest)
    return [cv2.imencode(".jpg", f)[1].tobytes() for f in (empty, frames[130])]


@contextmanager
def _dumb_camera(recorder, camera, pictures: list[bytes], fps: float = 5) -> Iterator[list[bytes]]:
    """Publish ``pictures[0]`` on the camera's frame topic at ``fps`` (change it in place)."""
    stop = threading.Event()

    def send():
        while not stop.wait(1 / fps):
            recorder.client.publish(TOPICS.frame(camera), pictures[0], qos=0)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield pictures
    finally:
        stop.set()
        thread.join(5)


def test_a_person_standing_still_stays_on_across_a_revision(recorder, start_agent, street):
    """Nothing moves after the people appear: the new process confirms them with the person model."""
    empty, still = street
    walk = roi("walk", WALKWAY, off_delay=2)
    recorder.publish(TOPICS.config("gate"), make_config("gate", 1, [walk], kind="dumb"))
    start_agent("analyzer")
    with _dumb_camera(recorder, "gate", [empty]) as picture:
        recorder.wait_status("gate", state="running", revision=1, timeout=30)
        time.sleep(1)
        picture[0] = still  # people appear, then stand still
        recorder.wait_for(TOPICS.roi("gate", "walk"), lambda m: m.text == "ON", timeout=20)
        on_at = time.monotonic()
        time.sleep(3)  # well past the motion: they only stay ON by being confirmed
        _revision(recorder, "gate", 2, [walk, roi("roof", ROOFTOPS)], kind="dumb")
        time.sleep(4)  # twice the off_delay under the new process
        assert _texts(recorder, TOPICS.roi("gate", "walk"), after=on_at) in ([], ["ON"])
        assert "OFF" not in _texts(recorder, TOPICS.detected("gate"), after=on_at)


def test_the_analyzer_handles_one_camera_while_another_is_slow_to_stop(recorder, start_agent):
    for cam in ("cam_a", "cam_b"):
        recorder.publish(TOPICS.config(cam), make_config(cam, 1, [roi("walk", WALKWAY)], kind="dumb"))
    analyzer = start_agent("analyzer")
    for cam in ("cam_a", "cam_b"):
        recorder.wait_status(cam, state="starting", revision=1, timeout=30)
    assert wait_until(lambda: len(analyzer.detector_pids()) == 2)
    a_old, b_old = _pid_of(analyzer, "cam_a"), _pid_of(analyzer, "cam_b")
    os.kill(a_old, signal.SIGSTOP)  # it cannot answer the stop: killed after the grace time (3 s)
    try:
        t0 = time.monotonic()
        recorder.publish(TOPICS.config("cam_a"), make_config("cam_a", 2, [roi("walk", WALKWAY)], kind="dumb"))
        time.sleep(0.3)  # camera A's revision is handled first
        recorder.publish(TOPICS.config("cam_b"), make_config("cam_b", 2, [roi("walk", WALKWAY)], kind="dumb"))
        b = _status(recorder, "cam_b", t0, state="starting", revision=2)
        assert pid_alive(a_old), "camera B's revision waited for camera A's old process to be killed"
        a = _status(recorder, "cam_a", t0, state="starting", revision=2)
        assert a.at > b.at
    finally:
        if pid_alive(a_old):
            os.kill(a_old, signal.SIGCONT)
    assert not pid_alive(a_old) and not pid_alive(b_old)
    assert wait_until(lambda: len(analyzer.detector_pids()) == 2)  # one each, the new ones


def _status(recorder, camera, after, **want):
    def ok(m):
        status = protocol.parse_status(m.payload)
        return all(getattr(status, k) == v for k, v in want.items())

    return recorder.wait_for(TOPICS.status(camera), ok, timeout=20, after=after)


def _pid_of(agent, camera):
    for pid in agent.detector_pids():
        log = agent.output
        if f"Camera {camera}: detection process {pid} started" in log:
            return pid
    raise AssertionError(f"no detection process of {camera} in {agent.detector_pids()}")


# ---- the pipeline's side of the hand-over (no processes) ------------------------------------


@pytest.fixture(scope="module")
def person():
    return load_person_detector()


def _cfg(*rois):
    return protocol.CameraConfig("cam", "smart", 1, rois)


def test_held_region_decides_by_the_same_rules(person, street):
    empty, still = (cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in street)
    walk = roi("walk", WALKWAY, off_delay=2)
    moved = roi("moved", ROOFTOPS, off_delay=2)  # was elsewhere; nobody's feet in the new shape
    held = {"walk": HeldState(True, 100.0), "moved": HeldState(True, 100.0), "gone": HeldState(True, 100.0)}
    # The new process's clock starts again at 0 (a replayed file): last seen 100 means now.
    pipeline = Pipeline(_cfg(walk, moved), person, held=held)
    changes = []
    for i in range(20):  # 4 s at 5 fps of people standing still
        now = i * 0.2
        changes += [(now, rid, on) for rid, on in pipeline.process(still, now).changes]
    assert [(rid, on) for _, rid, on in changes] == [("moved", False)], changes
    assert 2.0 <= changes[0][0] <= 2.4  # after its off_delay, not at once
    assert pipeline.inferences > 0
    # Nobody there any more: the held region goes OFF after its off_delay too.
    empty_changes = [
        (t, c) for t in (4.0 + 0.2 * i for i in range(20)) for c in pipeline.process(empty, t).changes
    ]
    assert [c for _, c in empty_changes] == [("walk", False)]
