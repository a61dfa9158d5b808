"""Dumb cameras and analyzers end to end: real mosquitto, real agent processes, real video."""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import numpy as np

from roiwatch_agent import protocol
from roiwatch_dev.waiting import wait_until

from .conftest import FEET, TOPICS, TORSOS, WALKWAY, make_config, roi, vtest_jpegs

CAM = "gate"


def test_dumb_camera_streams_jpeg_and_stops_while_disarmed(recorder, start_agent, vtest):
    start_agent("dumb", "--camera", CAM, "--source", str(vtest), "--loop", "--fps", "5", "--width", "320")
    announce = protocol.parse_announce(recorder.wait_for(TOPICS.announce(CAM)).payload, CAM)
    assert announce.kind == "dumb"
    recorder.wait_for(TOPICS.availability(CAM), lambda m: m.text == "online")
    frame = recorder.wait_for(TOPICS.frame(CAM))
    assert not frame.retain
    assert protocol.check_picture(frame.payload) == (320, 240)

    recorder.publish(TOPICS.armed(CAM), "OFF")
    time.sleep(0.5)  # frames already in flight may still land
    t0 = time.monotonic()
    time.sleep(1.5)
    assert recorder.on_topic(TOPICS.frame(CAM), after=t0) == []

    recorder.publish(TOPICS.armed(CAM), "ON")
    recorder.wait_for(TOPICS.frame(CAM), after=time.monotonic(), timeout=10)


def test_dumb_camera_to_analyzer_end_to_end(recorder, start_agent, scene_video):
    """Walkers for 3 s (6 s of video at double speed) on a dumb camera, detected by the analyzer."""
    rois = [
        roi("walk", WALKWAY, off_delay=2),
        roi("walk6", WALKWAY, off_delay=6),
        roi("torsos", TORSOS, off_delay=2),
        roi("feet", FEET, off_delay=2),
    ]
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 1, rois, kind="dumb"))
    analyzer = start_agent("analyzer")
    recorder.wait_for(TOPICS.status(CAM))  # the analyzer took the camera
    start_agent("dumb", "--camera", CAM, "--source", str(scene_video), "--speed", "2", "--width", "768")
    recorder.wait_status(CAM, state="running", revision=1, timeout=30)
    on = recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)
    snap = recorder.wait_for(TOPICS.snapshot(CAM))
    assert cv2.imdecode(np.frombuffer(snap.payload, np.uint8), cv2.IMREAD_COLOR) is not None
    off = recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "OFF", after=on.at, timeout=30)
    off6 = recorder.wait_for(TOPICS.roi(CAM, "walk6"), lambda m: m.text == "OFF", after=on.at, timeout=30)
    # The analyzer times frames by their arrival, so off_delay is in seconds of wall clock here.
    # Both regions saw the same walkers: the one with 4 s more off_delay turns OFF 4 s later.
    assert 3.0 <= off6.at - off.at <= 5.5, off6.at - off.at
    # ON while the walkers were there (3 s) plus off_delay (2 s), not much longer.
    assert 2.0 <= off.at - on.at <= 3 + 2 + 2.5, off.at - on.at
    assert "ON" in [m.text for m in recorder.on_topic(TOPICS.roi(CAM, "feet"))]
    assert [m.text for m in recorder.on_topic(TOPICS.roi(CAM, "torsos"))] == ["OFF"]

    # Disarming stops both the frame stream and the analyzer's detection process.
    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "OFF")
    recorder.wait_status(CAM, state="stopped", after=t0)
    assert wait_until(lambda: analyzer.detector_pids() == [])
    time.sleep(0.5)
    t1 = time.monotonic()
    time.sleep(1.0)
    assert recorder.on_topic(TOPICS.frame(CAM), after=t1) == []


def test_analyzer_refuses_bad_pictures_and_keeps_running(recorder, start_agent):
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 1, [roi("walk", WALKWAY)], kind="dumb"))
    analyzer = start_agent("analyzer")
    _, good = cv2.imencode(".jpg", np.full((240, 320, 3), 128, np.uint8))
    good = good.tobytes()

    def running():  # pictures are not retained: send until the analyzer listens
        recorder.publish(TOPICS.frame(CAM), good, retain=False, qos=0)
        return any(
            protocol.parse_status(m.payload).state == "running"
            for m in recorder.on_topic(TOPICS.status(CAM))
        )

    assert wait_until(running, timeout=30, interval=0.3)
    [pid] = analyzer.detector_pids()

    # A header declaring 20000x20000 pixels: refused before decoding.
    sof = good.index(b"\xff\xc0")
    huge = good[: sof + 5] + (20000).to_bytes(2, "big") + (20000).to_bytes(2, "big") + good[sof + 9 :]
    cases = {
        "not a JPEG": b"this is not a picture",
        "20000x20000": huge,
        "does not decode": good[: good.index(b"\xff\xda")],  # headers, no picture data
        "byte limit": b"\xff\xd8" + b"\0" * (9 * 1024 * 1024),
    }
    for expected, payload in cases.items():
        time.sleep(0.3)  # the analyzer takes at most 5 pictures a second
        t0 = time.monotonic()
        recorder.publish(TOPICS.frame(CAM), payload, retain=False, qos=0)

        def names_problem(m, expected=expected):
            return expected in (protocol.parse_status(m.payload).error or "")

        status = protocol.parse_status(
            recorder.wait_for(TOPICS.status(CAM), names_problem, after=t0, timeout=10).payload
        )
        assert status.state == "running", status
        assert expected in analyzer.output
    assert analyzer.detector_pids() == [pid]


def test_two_analyzers_split_cameras_by_shard(recorder, start_agent):
    cameras = [f"cam{i}" for i in range(8)]
    for cam in cameras:
        recorder.publish(TOPICS.config(cam), make_config(cam, 1, [roi("walk", WALKWAY)], kind="dumb"))
    recorder.publish(TOPICS.config("smartcam"), make_config("smartcam", 1, [roi("walk", WALKWAY)]))
    analyzers = [start_agent("analyzer", "--shard", f"{k}/2") for k in range(2)]

    def taken(agent):
        return set(re.findall(r"Camera (\S+): detection process \d+ started", agent.output))

    assert wait_until(lambda: sum(len(taken(a)) for a in analyzers) >= len(cameras), timeout=30)
    time.sleep(1)
    first, second = (taken(a) for a in analyzers)
    assert first.isdisjoint(second)
    assert first | second == set(cameras)  # every dumb camera, and no smart one
    assert first and second
    assert all(protocol.shard_of(cam, 2) == 0 for cam in first)
    assert wait_until(
        lambda: sorted(len(a.detector_pids()) for a in analyzers) == sorted([len(first), len(second)])
    )


def test_mjpeg_on_stdin_is_forwarded_without_opencv(recorder, start_agent, vtest):
    import subprocess

    jpegs = vtest_jpegs(vtest)
    agent = start_agent(
        "dumb", "--camera", CAM, "--source", "-", "--fps", "5", "--restart-grace", "2", stdin=subprocess.PIPE
    )
    recorder.wait_for(TOPICS.availability(CAM), lambda m: m.text == "online")
    # Junk between pictures (as a camera tool may print) must not break the stream.
    agent.proc.stdin.write(b"garbage" + b"".join(jpegs[:5]) + b"\xff\xd8 truncated")
    agent.proc.stdin.flush()
    first = recorder.wait_for(TOPICS.frame(CAM), timeout=10)
    assert first.payload in jpegs[:5]  # forwarded byte for byte
    t0 = time.monotonic()
    for j in jpegs[5:-1]:  # 34 pictures in ~1.2 s: only about 5 a second may go out
        agent.proc.stdin.write(j)
        agent.proc.stdin.flush()
        time.sleep(0.035)
    time.sleep(0.5)  # then a pause, longer than the 0.2 s between pictures at 5 fps
    agent.proc.stdin.write(jpegs[-1])
    agent.proc.stdin.flush()
    # After a pause the next picture goes out at once: when it arrives, the burst is done.
    last = recorder.wait_for(TOPICS.frame(CAM), lambda m: m.payload == jpegs[-1], after=t0, timeout=10)
    burst = [m for m in recorder.on_topic(TOPICS.frame(CAM), after=t0) if m.at < last.at]
    # At most 5 a second (plus the first at once), however long the burst took here.
    assert 2 <= len(burst) <= 5 * (last.at - t0) + 1, (len(burst), last.at - t0)
    assert len(burst) < len(jpegs[5:-1]) / 3
    assert all(m.payload in jpegs[5:-1] for m in burst)
    maps = Path(f"/proc/{agent.proc.pid}/maps").read_text()
    assert "cv2" not in maps and "numpy" not in maps  # the light path loads no OpenCV
    t1 = time.monotonic()
    assert agent.stop() == 0
    recorder.wait_for(TOPICS.availability(CAM), lambda m: m.text == "offline", after=t1)
    assert "Fatal" not in agent.output and "Traceback" not in agent.output
