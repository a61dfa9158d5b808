"""Live preview end to end: real mosquitto, real agent processes, real video (docs/protocol.md).

HA's side is played by the recorder: it publishes ``preview_request`` and reads ``preview``.
Waits are generous (seconds for a 1 s contract); the latency itself is measured in scripts/bench.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from roiwatch_agent import protocol
from roiwatch_dev.recorder import Recorder
from roiwatch_dev.waiting import wait_until

from .conftest import TOPICS, WALKWAY, make_config, roi

CAM = "porch"
SILENCE = 2.5  # seconds without an answer that count as "no answer" (HA gives up after 1 s)


def _ask(recorder: Recorder, cam: str = CAM, payload: bytes = b"") -> float:
    """Publish one request as HA does (QoS 0, not retained); returns when it was sent."""
    sent = time.monotonic()
    recorder.publish(TOPICS.preview_request(cam), payload, retain=False, qos=0)
    return sent


def _ask_until_answered(recorder: Recorder, cam: str = CAM, timeout: float = 30.0):
    """A detector that has just started may have no frame yet: ask again until it answers."""
    deadline = time.monotonic() + timeout
    while True:
        sent = _ask(recorder, cam)
        try:
            return recorder.wait_for(TOPICS.preview(cam), after=sent, timeout=2.0)
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _decode(payload: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None, "the preview is not a JPEG"
    return picture


def _closest_source_frame(picture: np.ndarray, video: Path) -> np.ndarray:
    """The frame of the video that the picture shows (the least different one)."""
    cap = cv2.VideoCapture(str(video))
    best, best_diff = None, float("inf")
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        diff = cv2.norm(frame, picture, cv2.NORM_L1)
        if diff < best_diff:
            best, best_diff = frame, diff
    cap.release()
    assert best is not None
    return best


def _running(recorder: Recorder, start_agent, video: Path, rois: list, fps: float = 5, revision: int = 1):
    recorder.publish(TOPICS.config(CAM), make_config(CAM, revision, rois, fps=fps))
    agent = start_agent("smart", "--camera", CAM, "--source", str(video), "--loop")
    recorder.wait_status(CAM, state="running", revision=revision, timeout=30)
    return agent


def test_smart_camera_without_regions_answers_with_the_live_plain_frame(broker, recorder, start_agent, vtest):
    """A new camera (no region drawn yet) runs and shows its live picture, as it comes."""
    _running(recorder, start_agent, vtest, rois=[])
    first = _ask_until_answered(recorder)
    assert not first.retain
    width, height = protocol.check_picture(first.payload)
    assert width <= protocol.PREVIEW_MAX_WIDTH
    assert abs(height / width - 576 / 768) < 0.01  # the video's aspect ratio
    assert _decode(first.payload).shape[:2] == (height, width)

    time.sleep(2.0)  # 20 frames of video later: people have walked on
    second = recorder.wait_for(TOPICS.preview(CAM), after=_ask(recorder), timeout=10)
    a, b = _decode(first.payload), _decode(second.payload)
    assert cv2.norm(a, b, cv2.NORM_L1) / a.size > 0.5  # mean grey levels: walkers moved

    # The first region drawn: the preview still shows the plain frame, no outline on it.
    t0 = time.monotonic()
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 2, [roi("walk", WALKWAY)]))
    recorder.wait_status(CAM, state="running", revision=2, after=t0, timeout=30)
    picture = _decode(_ask_until_answered(recorder).payload)
    source = _closest_source_frame(picture, vtest)
    # Mean difference per row around the region's top edge (y = 0.35 * 575 = 201), where the
    # snapshot draws a 2 px line: JPEG noise is a few grey levels, a drawn line about 100.
    rows = np.abs(picture[190:215].astype(np.int16) - source[190:215]).mean(axis=(1, 2))
    assert rows.max() < 20, rows.round(1)

    # Never retained: a viewer arriving later gets no old picture from the broker.
    late = Recorder(broker)
    try:
        time.sleep(1.0)
        assert late.on_topic(TOPICS.preview(CAM)) == []
    finally:
        late.close()


def test_slow_camera_answers_from_the_frame_it_holds(recorder, start_agent, vtest):
    """At fps 0.2 a new frame comes every 5 s; the answer must not wait for it."""
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 1, [], fps=0.2))
    start_agent("smart", "--camera", CAM, "--source", str(vtest), "--loop")

    def running(m) -> bool:
        return protocol.parse_status(m.payload).state == "running"

    # "running" is published just after the first frame was read; the next comes 5 s after it.
    started = recorder.wait_for(TOPICS.status(CAM), running, timeout=30).at
    answer = recorder.wait_for(TOPICS.preview(CAM), after=_ask(recorder), timeout=10)
    assert answer.at - started < 3.5, answer.at - started  # the 1 s contract, with room for a busy machine


def test_a_burst_of_requests_gets_few_answers(recorder, start_agent, vtest):
    """20 requests within a second: the detector answers at most every 0.5 s, all waiting together."""
    _running(recorder, start_agent, vtest, rois=[])
    _ask_until_answered(recorder)
    time.sleep(1.0)
    t0 = time.monotonic()
    for _ in range(20):
        _ask(recorder)
        time.sleep(0.045)
    time.sleep(3.0)  # a detector answering each request, even at 2 a second, would still be at it
    answers = recorder.on_topic(TOPICS.preview(CAM), after=t0)
    # Requests spread over 0.9 s: answers at about 0, 0.5 and 1.0 s. A 4th only if the broker
    # delivered the requests spread over more than 1 s; one per request would be 20.
    assert 1 <= len(answers) <= 4, len(answers)


def test_no_answer_while_disarmed_or_unconfigured_or_asked_too_much(recorder, start_agent, vtest):
    agent = _running(recorder, start_agent, vtest, rois=[roi("walk", WALKWAY)])
    _ask_until_answered(recorder)  # the positive control

    t0 = _ask(recorder, payload=b"x" * (protocol.MAX_SMALL_PAYLOAD + 1))
    assert wait_until(lambda: "refused preview request" in agent.output, timeout=10), agent.output[-2000:]
    time.sleep(SILENCE)
    assert recorder.on_topic(TOPICS.preview(CAM), after=t0) == []
    _ask_until_answered(recorder)  # still answering ordinary requests

    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "OFF")
    recorder.wait_status(CAM, state="stopped", after=t0)
    assert wait_until(lambda: agent.detector_pids() == [])
    t1 = _ask(recorder)
    time.sleep(SILENCE)
    assert recorder.on_topic(TOPICS.preview(CAM), after=t1) == []

    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "ON")
    recorder.wait_status(CAM, state="running", after=t0, timeout=30)
    _ask_until_answered(recorder)

    t0 = time.monotonic()
    recorder.publish(TOPICS.config(CAM), b"")  # the camera was removed in HA
    recorder.wait_status(CAM, state="stopped", after=t0)
    assert wait_until(lambda: agent.detector_pids() == [])
    t1 = _ask(recorder)
    time.sleep(SILENCE)
    assert recorder.on_topic(TOPICS.preview(CAM), after=t1) == []


class _FakeDumbCamera:
    """Publishes JPEGs on a camera's frame topic, as a dumb camera does, until stopped."""

    def __init__(self, recorder: Recorder, cam: str, jpegs: list[bytes], period: float = 0.25) -> None:
        self.sent: list[bytes] = []
        self._stop = threading.Event()

        def run() -> None:
            i = 0
            while not self._stop.is_set():
                jpeg = jpegs[i % len(jpegs)]
                recorder.client.publish(TOPICS.frame(cam), jpeg, qos=0, retain=False)
                self.sent.append(jpeg)
                i += 1
                self._stop.wait(period)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _jpegs(vtest: Path, width: int, n: int = 6) -> list[bytes]:
    cap = cv2.VideoCapture(str(vtest))
    out = []
    for i in range(n * 10):
        ok, frame = cap.read()
        assert ok
        if i % 10 == 0:  # a second apart: different pictures
            out.append(cv2.imencode(".jpg", cv2.resize(frame, (width, width * 3 // 4)))[1].tobytes())
    cap.release()
    return out


def test_analyzer_answers_for_a_dumb_camera(recorder, start_agent, vtest):
    """Narrow pictures are passed on byte for byte; wider ones are scaled to 1280 px."""
    cam = "gate"
    recorder.publish(TOPICS.config(cam), make_config(cam, 1, [], kind="dumb"))
    start_agent("analyzer")
    narrow = _jpegs(vtest, 640)
    camera = _FakeDumbCamera(recorder, cam, narrow)
    try:
        recorder.wait_status(cam, state="running", revision=1, timeout=30)
        time.sleep(1.0)
    finally:
        camera.stop()
    time.sleep(0.5)
    # No frame comes any more: the answer is the latest picture the analyzer holds, as it came.
    answer = recorder.wait_for(TOPICS.preview(cam), after=_ask(recorder, cam), timeout=10)
    assert answer.payload in narrow

    wide = _jpegs(vtest, 1920, n=3)
    camera = _FakeDumbCamera(recorder, cam, wide, period=0.4)
    time.sleep(2.0)
    camera.stop()
    time.sleep(0.5)
    answer = recorder.wait_for(TOPICS.preview(cam), after=_ask(recorder, cam), timeout=10)
    assert protocol.check_picture(answer.payload) == (1280, 960)
    picture = _decode(answer.payload)
    scaled = [cv2.resize(_decode(j), (1280, 960), interpolation=cv2.INTER_AREA) for j in wide]
    diffs = [cv2.norm(picture, s, cv2.NORM_L1) / picture.size for s in scaled]
    assert min(diffs) < 4, diffs  # one of the pictures sent, only scaled
