"""Capture that outlives the detection process: the camera module (a fake rpicam-vid), HTTP
MJPEG streams and snapshot URLs, with real agent processes, a real mosquitto and vtest.avi."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from roiwatch_agent import protocol
from roiwatch_agent.video.redact import redact_source
from roiwatch_dev.agents import children_of, comm, pid_alive
from roiwatch_dev.fake_rpicam import FakeRpicam, rpicam_pids
from roiwatch_dev.waiting import wait_until

from .conftest import TOPICS, WALKWAY, make_config, roi, vtest_jpegs

CAM = "porch"
SMALL = ("--width", "640", "--height", "480", "--framerate", "10")
PASSWORD = "s3cret-Pw"


def _state(message) -> tuple[str, int]:
    status = protocol.parse_status(message.payload)
    return status.state, status.restarts


def capture_pids(agent) -> list[int]:
    return [p for p in children_of(agent.proc.pid) if comm(p) == "roiwatch-cap"]


@pytest.fixture
def install_rpicam(tmp_path, vtest, monkeypatch, start_agent) -> Iterator[Callable[[str], FakeRpicam]]:
    """Put a fake first on PATH, under the name given; the agents the test starts inherit it.

    (After start_agent: its agents are stopped before the leftovers are looked for.)
    """
    fakes: list[FakeRpicam] = []

    def install(name: str) -> FakeRpicam:
        fake = FakeRpicam(tmp_path, vtest, name)
        for key, value in fake.env.items():
            monkeypatch.setenv(key, value)
        fakes.append(fake)
        return fake

    yield install
    for fake in fakes:
        fake.kill_leftovers()


@pytest.fixture
def rpicam(install_rpicam) -> FakeRpicam:
    return install_rpicam("rpicam-vid")


def _start(recorder, start_agent, source, *extra, rois=None, role="smart", revision=1):
    recorder.publish(TOPICS.config(CAM), make_config(CAM, revision, rois or [roi("walk", WALKWAY)]))
    return start_agent(role, "--camera", CAM, "--source", source, *extra)


def test_rpicam_detects_and_is_started_once_across_revisions(recorder, start_agent, rpicam):
    agent = _start(recorder, start_agent, "rpicam", *SMALL)
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)
    [capture] = capture_pids(agent)
    for rev in range(2, 7):  # five revisions, each a new detection process
        t0 = time.monotonic()
        recorder.publish(TOPICS.config(CAM), make_config(CAM, rev, [roi("walk", WALKWAY, off_delay=rev)]))
        recorder.wait_status(CAM, state="running", revision=rev, after=t0, timeout=20)
    starts = rpicam.starts()
    assert len(starts) == 1, starts
    assert "--codec mjpeg --width 640 --height 480 --framerate 10 -o -" in starts[0]
    assert capture_pids(agent) == [capture]
    assert len(rpicam_pids()) == 1
    assert agent.stop() == 0
    assert wait_until(lambda: rpicam_pids() == [], timeout=5), "rpicam-vid outlived the agent"
    assert not list(Path("/dev/shm").glob(f"roiwatch-{CAM}-{agent.proc.pid}-*")), "segment left behind"


def test_kill9_of_detection_keeps_the_camera_and_agent_kill_releases_it(recorder, start_agent, rpicam):
    agent = _start(recorder, start_agent, "rpicam", *SMALL)
    recorder.wait_status(CAM, state="running", revision=1, timeout=30)
    [detector] = agent.detector_pids()
    t0 = time.monotonic()
    os.kill(detector, signal.SIGKILL)
    # The new process reports "running" on the first frame it analysed.
    running = recorder.wait_status(CAM, state="running", after=t0, timeout=10)
    assert running.restarts == 1
    first = recorder.wait_for(TOPICS.status(CAM), lambda m: _state(m) == ("running", 1), after=t0)
    print(f"frames analysed again {first.at - t0:.2f} s after kill -9 of detection")
    assert first.at - t0 < 2.0, f"frames analysed again {first.at - t0:.2f} s after kill -9"
    assert len(rpicam.starts()) == 1
    assert len(rpicam_pids()) == 1
    # Frames reach it through the capture's shared memory (no copy through a pipe).
    [new] = agent.detector_pids()
    segment = f"/dev/shm/roiwatch-{CAM}-{agent.proc.pid}-"
    assert segment in Path(f"/proc/{new}/maps").read_text()
    # The agent killed by SIGKILL (the OOM killer): its capture and the camera go with it, also
    # a camera that hangs (it gets no SIGPIPE from writing to the dead capture).
    rpicam.stall(True)
    time.sleep(0.3)
    children = capture_pids(agent)
    agent.proc.kill()
    assert wait_until(lambda: rpicam_pids() == [] and not any(pid_alive(p) for p in children), timeout=10)


def test_rpicam_exit_is_reported_and_capture_comes_back(recorder, start_agent, rpicam):
    agent = _start(recorder, start_agent, "rpicam", *SMALL)
    recorder.wait_status(CAM, state="running", revision=1, timeout=30)
    [detector] = agent.detector_pids()
    t0 = time.monotonic()
    rpicam.fail("ERROR: *** camera frontend has timed out! ***")
    status = recorder.wait_status(CAM, state="error", after=t0, timeout=15)
    assert "rpicam-vid exited with code 1: ERROR: *** camera frontend has timed out! ***" in status.error
    t1 = time.monotonic()
    rpicam.fail(None)
    recorder.wait_status(CAM, state="running", error=None, after=t1, timeout=20)
    # A camera that hangs: reported after 5 s without a frame, then started again.
    t2 = time.monotonic()
    rpicam.stall(True)
    status = recorder.wait_status(CAM, state="error", after=t2, timeout=15)
    assert status.error == "no frame for 5 s", status
    assert time.monotonic() - t2 >= 4.5
    t3 = time.monotonic()
    rpicam.stall(False)
    recorder.wait_status(CAM, state="running", error=None, after=t3, timeout=20)
    assert agent.detector_pids() == [detector], "the detection process was restarted"
    assert len(rpicam.starts()) >= 3
    assert len(rpicam_pids()) == 1


def test_missing_rpicam_is_a_clear_error(recorder, start_agent, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither rpicam-vid nor libcamera-vid
    _start(recorder, start_agent, "rpicam", *SMALL)
    status = recorder.wait_status(CAM, state="error", timeout=30)
    assert status.error == "rpicam-vid or libcamera-vid not found: install rpicam-apps"


def test_dumb_rpicam_forwards_the_cameras_jpegs(recorder, start_agent, install_rpicam):
    fake = install_rpicam("libcamera-vid")  # older releases' name
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 1, [roi("walk", WALKWAY)], kind="dumb", fps=4))
    agent = start_agent("dumb", "--camera", CAM, "--source", "rpicam", "--width", "320", "--framerate", "10")
    frame = recorder.wait_for(TOPICS.frame(CAM), timeout=30)
    t0 = frame.at
    time.sleep(2.5)
    pictures = recorder.on_topic(TOPICS.frame(CAM), after=t0)
    assert 5 <= len(pictures) <= 12, len(pictures)  # 4 a second of the camera's 10
    assert frame.payload[:2] == b"\xff\xd8" and frame.payload[-2:] == b"\xff\xd9"
    import cv2
    import numpy as np

    picture = cv2.imdecode(np.frombuffer(frame.payload, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[:2] == (180, 320)  # the camera's own size: forwarded, not re-encoded
    assert "--codec mjpeg --width 320 --height 180 --framerate 10" in fake.starts()[0]
    assert agent.stop() == 0
    assert wait_until(lambda: rpicam_pids() == [], timeout=5)


def test_dumb_camera_keeps_its_rate_when_a_config_is_refused(recorder, start_agent, install_rpicam):
    """A config the protocol refuses (here fps 60, above its 30) changes nothing on the dumb camera."""
    install_rpicam("rpicam-vid")
    wire = protocol.CameraConfig(CAM, "dumb", 1, (roi("walk", WALKWAY),)).to_wire()
    recorder.publish(TOPICS.config(CAM), json.dumps({**wire, "fps": 60}))
    agent = start_agent(
        "dumb", "--camera", CAM, "--source", "rpicam", "--fps", "4", "--width", "320", "--framerate", "10"
    )
    t0 = recorder.wait_for(TOPICS.frame(CAM), timeout=30).at
    time.sleep(2.5)
    assert 5 <= len(recorder.on_topic(TOPICS.frame(CAM), after=t0)) <= 12  # 4 a second, not 10
    assert f"ignoring {TOPICS.config(CAM)}: invalid config: fps" in agent.output


class CameraServer:
    """An HTTP camera in the test: an MJPEG stream at /stream, one JPEG at /snapshot.

    Needs basic authentication (cam / PASSWORD). ``stop()`` closes it, connections included;
    ``start()`` opens it again on the same port.
    """

    def __init__(self, jpegs: list[bytes], fps: float = 10.0) -> None:
        self.jpegs = jpegs
        self.fps = fps
        self.snapshots = 0
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.live = threading.Event()

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a: object) -> None:
                pass

            def do_GET(self) -> None:
                import base64

                want = "Basic " + base64.b64encode(f"cam:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != want:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="cam"')
                    self.end_headers()
                    return
                if self.path == "/snapshot":
                    outer.snapshots += 1
                    jpeg = outer.jpegs[outer.snapshots % len(outer.jpegs)]
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(jpeg)))
                    self.end_headers()
                    self.wfile.write(jpeg)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                while outer.live.is_set():
                    jpeg = outer.jpegs[i % len(outer.jpegs)]
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    try:
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                    except OSError:
                        return
                    i += 1
                    time.sleep(1 / outer.fps)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.live.set()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.live.clear()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str) -> str:
        return f"http://cam:{PASSWORD}@127.0.0.1:{self.port}{path}"


@pytest.fixture
def camera_server(vtest):
    server = CameraServer(vtest_jpegs(vtest, n=60, width=640))
    server.start()
    yield server
    server.stop()


def _assert_no_password(recorder, agent):
    assert PASSWORD not in agent.output
    leaked = [m.topic for m in recorder.messages if PASSWORD.encode() in m.payload]
    assert not leaked, leaked


def test_http_mjpeg_stream_outage_is_reported_and_capture_resumes(recorder, start_agent, camera_server):
    url = camera_server.url("/stream")
    agent = _start(recorder, start_agent, url)
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)
    [detector] = agent.detector_pids()
    t0 = time.monotonic()
    camera_server.stop()
    status = recorder.wait_status(CAM, state="error", after=t0, timeout=20)
    assert redact_source(url) in status.error, status  # names the camera, without its password
    time.sleep(1)
    t1 = time.monotonic()
    camera_server.start()
    recorder.wait_status(CAM, state="running", error=None, after=t1, timeout=20)
    assert agent.detector_pids() == [detector], "the detection process was restarted"
    _assert_no_password(recorder, agent)


def test_http_snapshot_url_is_polled_at_the_cameras_fps(recorder, start_agent, camera_server):
    agent = _start(recorder, start_agent, camera_server.url("/snapshot"))
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)
    before = camera_server.snapshots
    time.sleep(3)
    asked = camera_server.snapshots - before
    assert 9 <= asked <= 18, f"{asked} snapshots in 3 s at fps 5"
    _assert_no_password(recorder, agent)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (f"http://cam:{PASSWORD}@127.0.0.1:9/stream", "cannot reach http://cam:***@127.0.0.1:9/stream: "),
        (f"rtsp://cam:{PASSWORD}@127.0.0.1:9/live", "cannot open rtsp://cam:***@127.0.0.1:9/live"),
    ],
    ids=["http", "rtsp"],
)
def test_unreachable_stream_is_a_clear_error_without_its_password(recorder, start_agent, url, error):
    agent = _start(recorder, start_agent, url)  # port 9 (discard): nothing listens
    status = recorder.wait_status(CAM, state="error", timeout=30)
    assert status.error.startswith(error), status
    _assert_no_password(recorder, agent)


def test_redact_source():
    assert redact_source("rtsp://admin:pa:ss@cam.local:554/h264") == "rtsp://admin:***@cam.local:554/h264"
    assert redact_source("http://token@cam/snap.jpg") == "http://***@cam/snap.jpg"
    assert redact_source("rtsp://cam.local/live") == "rtsp://cam.local/live"
    assert redact_source("/dev/video0") == "/dev/video0"
    assert redact_source("rpicam") == "rpicam"


def test_handover_hands_the_newest_frame_once_and_reports_errors():
    import numpy as np

    from roiwatch_agent.capture.handover import FrameReader, FrameWriter, create_segment
    from roiwatch_agent.capture.process import _fit

    shm, handle = create_segment(f"roiwatch-test-{os.getpid()}")
    errors: list[str | None] = []
    writer = FrameWriter(handle)
    reader = FrameReader(handle, 5.0, errors.append)
    try:
        assert reader.read() is None
        for i in range(1, 5):  # more frames than slots
            writer.write(float(i), np.full((48, 64, 3), i, np.uint8))
        seq, ts, frame = reader.read()
        assert (seq, ts, int(frame[0, 0, 0])) == (4, 4.0, 4)
        writer.beat()
        got: list[float] = []

        def should_stop() -> bool:
            if got == [4.0] and errors == []:
                writer.set_error("camera gone")
            if errors == ["camera gone"] and got == [4.0]:
                writer.write(5.0, np.full((48, 64, 3), 5, np.uint8))
            return len(got) == 2

        for ts, _frame in reader.frames(should_stop):
            got.append(ts)
        assert got == [4.0, 5.0]  # each frame once, the newest
        assert errors == ["camera gone", None]  # reported, and cleared by the next frame
        # A 4K picture is scaled down to fit a slot, with its aspect.
        big = _fit(np.zeros((2160, 3840, 3), np.uint8), handle.slot_bytes)
        assert big.nbytes <= handle.slot_bytes and abs(big.shape[1] / big.shape[0] - 16 / 9) < 0.01
    finally:
        reader.close()
        writer.close()
        shm.close()
        shm.unlink()


def test_a_video_file_replays_on_across_revisions(recorder, start_agent, scene_video):
    """The scene: 2 s empty, 6 s of people, 30 s empty (at double speed). A revision once the
    people left must not replay them: the file goes on where it was, it is not reopened."""
    agent = _start(recorder, start_agent, str(scene_video), "--speed", "2")
    walk = TOPICS.roi(CAM, "walk")
    on = recorder.wait_for(walk, lambda m: m.text == "ON", timeout=30)
    recorder.wait_for(walk, lambda m: m.text == "OFF", after=on.at, timeout=30)
    t0 = time.monotonic()
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 2, [roi("walk", WALKWAY, off_delay=1)]))
    recorder.wait_status(CAM, state="running", revision=2, after=t0, timeout=20)
    time.sleep(3)  # a reopened file would show its people again after 1 s
    assert [m.text for m in recorder.on_topic(walk, after=t0) if m.text == "ON"] == []
    assert len(capture_pids(agent)) == 1


def test_a_killed_capture_process_is_restarted_without_restarting_detection(recorder, start_agent, rpicam):
    agent = _start(recorder, start_agent, "rpicam", *SMALL)
    recorder.wait_status(CAM, state="running", revision=1, timeout=30)
    [detector] = agent.detector_pids()
    [capture] = capture_pids(agent)
    os.kill(capture, signal.SIGKILL)  # e.g. the OOM killer
    assert wait_until(lambda: len(capture_pids(agent)) == 1 and capture_pids(agent) != [capture], timeout=10)
    assert wait_until(lambda: len(rpicam.starts()) == 2, timeout=10)
    # Detection goes on with the new capture's frames: the fps it reports every 5 s, counted
    # from a window that starts after the restart (the second report from now), is the config's.
    first = recorder.wait_for(TOPICS.status(CAM), after=time.monotonic(), timeout=15)
    status = recorder.wait_status(CAM, state="running", after=first.at + 0.1, timeout=15)
    assert status.fps and status.fps > 3.5, status
    assert agent.detector_pids() == [detector]
    assert wait_until(lambda: len(rpicam_pids()) == 1, timeout=5), "the old rpicam-vid is still there"
