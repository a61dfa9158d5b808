"""IP cameras: the smart agent against a real RTSP server (GStreamer's, roiwatch_dev/rtsp_server.py)
serving vtest.avi as a 1920x1080 H.264 main stream and a 640x360 H.265 sub stream, behind a
password with ``@``, ``:`` and ``/`` in it, URL-encoded as a user types it, asked by digest (as
most cameras do) or basic authentication.

The URL goes in ``ROIWATCH_SOURCE``, as the README tells users to do, so that the password is on
no command line; the tests read every process title of the agent to hold it to that.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from roiwatch_agent.video.redact import redact_source
from roiwatch_dev.agents import AgentProcess, cmdline
from roiwatch_dev.recorder import Recorder
from roiwatch_dev.rtsp_camera import RtspCamera, missing

from .conftest import TOPICS, WALKWAY, make_config, roi

USER, PASSWORD = "viewer", "p@ss:w/rd-7Qx"
SECRETS = (PASSWORD, quote(PASSWORD, safe=""))  # as typed, and as it stands in the URL


@pytest.fixture
def rtsp_camera(tmp_path: Path) -> Iterator[RtspCamera]:
    if reason := missing():
        pytest.skip(reason)
    camera = RtspCamera(USER, PASSWORD, tmp_path / "rtsp-server.log")
    camera.start()
    yield camera
    camera.kill()


def _start(recorder, start_agent, monkeypatch, camera: str, url: str) -> AgentProcess:
    recorder.publish(TOPICS.config(camera), make_config(camera, 1, [roi("walk", WALKWAY, off_delay=2)]))
    monkeypatch.setenv("ROIWATCH_SOURCE", url)  # read by the agent at its start, off its command line
    return start_agent("smart", "--camera", camera, name=camera)


def _comm(pid: int) -> str:
    """The name ps shows (set by the process itself, e.g. roiwatch-cap)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return ""


def _assert_no_password(recorder: Recorder, agent: AgentProcess) -> None:
    """Not in the log, not in any MQTT message, not in any process title of the agent."""
    titles = {pid: cmdline(pid) + _comm(pid) for pid in [agent.proc.pid, *agent.descendants()]}
    assert len(titles) >= 4, titles  # main, capture, forkserver, detection (and the resource tracker)
    for secret in SECRETS:
        assert secret not in agent.output
        assert not [m.topic for m in recorder.messages if secret.encode() in m.payload]
        assert not [title for title in titles.values() if secret in title], titles


def test_h264_main_stream_and_h265_sub_stream_with_a_password(
    recorder: Recorder, start_agent, rtsp_camera: RtspCamera, monkeypatch, tmp_path: Path
) -> None:
    """Two IP cameras at once: each logs in (digest, as most cameras ask, and basic), decodes its
    codec at its size, and sees the walkers."""
    digest = RtspCamera(USER, PASSWORD, tmp_path / "rtsp-digest.log", auth="digest", mounts=("/main",))
    digest.start()
    try:
        streams = {"drive": (digest, "/main", "1920x1080"), "porch": (rtsp_camera, "/sub", "640x360")}
        agents = {
            cam: _start(recorder, start_agent, monkeypatch, cam, server.url(path))
            for cam, (server, path, _size) in streams.items()
        }
        for cam, (server, path, size) in streams.items():
            recorder.wait_for(TOPICS.roi(cam, "walk"), lambda m: m.text == "ON", timeout=45)
            status = recorder.wait_status(cam, state="running", revision=1, timeout=10)
            assert status.error is None
            label = redact_source(server.url(path))
            assert label == f"rtsp://viewer:***@127.0.0.1:{server.port}{path}"
            assert f"First frame from {label}: {size}" in agents[cam].output
            _assert_no_password(recorder, agents[cam])
    finally:
        digest.kill()


def test_camera_gone_is_reported_and_resumes_in_the_same_detection_process(
    recorder: Recorder, start_agent, rtsp_camera: RtspCamera, monkeypatch
) -> None:
    """The camera hangs or loses its cable (nothing comes, nothing resets), then loses power (its
    connections reset): each time status.error within 10 s; back, frames within 15 s, read by
    the same detection process (the capture reconnects by itself)."""
    cam = "porch"
    agent = _start(recorder, start_agent, monkeypatch, cam, rtsp_camera.url("/sub"))
    recorder.wait_status(cam, state="running", revision=1, error=None, timeout=45)
    [detector] = agent.detector_pids()
    for how in ("stalls", "dies"):
        gone = time.monotonic()
        rtsp_camera.pause(True) if how == "stalls" else rtsp_camera.kill()
        status = recorder.wait_status(cam, state="error", after=gone, timeout=10)
        assert redact_source(rtsp_camera.url("/sub")) in status.error, status  # named, no password
        print(f"status.error {time.monotonic() - gone:.1f} s after the camera {how}: {status.error}")
        time.sleep(1)  # gone a little longer: the capture's next try meets it gone
        back = time.monotonic()
        rtsp_camera.pause(False) if how == "stalls" else rtsp_camera.start()
        recorder.wait_status(cam, state="running", error=None, after=back, timeout=15)
        print(f"frames again {time.monotonic() - back:.1f} s after the camera came back")
    assert agent.detector_pids() == [detector], "the detection process was restarted"
    _assert_no_password(recorder, agent)
