"""The app's stream cameras against a real RTSP server (roiwatch_dev/rtsp_server.py, GStreamer's).

Two IP cameras in the app's options, as a user types them: a 1920x1080 H.264 main stream and a
640x360 H.265 sub stream, behind a password with ``@``, ``:`` and ``/`` in it, URL-encoded, asked
by digest authentication as most IP cameras ask it. The app runs in its trixie root; the camera
runs on the host (its loopback is the root's).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from roiwatch_agent.video.redact import redact_source
from roiwatch_dev.agents import children_of, cmdline, descendants
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.recorder import Recorder
from roiwatch_dev.rtsp_camera import RtspCamera, missing
from tests.agent.conftest import TOPICS, WALKWAY, make_config, roi

from .conftest import PASSWORDS, App

USER, PASSWORD = "viewer", "Cam@pw:4/x9"
SECRETS = (PASSWORD, quote(PASSWORD, safe=""))
STREAMS = {"drive": ("/main", "1920x1080"), "porch": ("/sub", "640x360")}


@pytest.fixture
def rtsp_camera(tmp_path: Path) -> Iterator[RtspCamera]:
    if reason := missing():
        pytest.skip(reason)
    camera = RtspCamera(USER, PASSWORD, tmp_path / "rtsp-server.log", auth="digest")  # as most cameras
    camera.start()
    yield camera
    camera.kill()


@pytest.fixture
def ha(broker: Mosquitto) -> Iterator[Recorder]:
    """What Home Assistant publishes and sees, logged in as it."""
    recorder = Recorder(broker, ("homeassistant", PASSWORDS["homeassistant"]))
    yield recorder
    recorder.close()


def _detectors(app: App) -> list[int]:
    """The detection processes of the app's agents: the children of each agent's forkserver."""
    servers = [p for agent in app.agents("smart") for p in children_of(agent) if "forkserver" in cmdline(p)]
    return sorted(c for s in servers for c in children_of(s))


def test_rtsp_cameras_with_a_password_survive_the_camera_going_away(
    app: App, ha: Recorder, rtsp_camera: RtspCamera
) -> None:
    for cam in STREAMS:
        ha.publish(TOPICS.config(cam), make_config(cam, 1, [roi("walk", WALKWAY, off_delay=2)]))
    cameras = [{"id": cam, "source": rtsp_camera.url(path)} for cam, (path, _size) in STREAMS.items()]
    app.start({"analyzer": False, "cameras": cameras, "log_level": "info"})
    for cam, (path, size) in STREAMS.items():
        ha.wait_for(TOPICS.roi(cam, "walk"), lambda m: m.text == "ON", timeout=60)
        ha.wait_status(cam, state="running", revision=1, error=None, timeout=10)
        assert f"First frame from {redact_source(rtsp_camera.url(path))}: {size}" in app.output
    detectors = _detectors(app)
    assert len(detectors) == 2, detectors

    killed = time.monotonic()
    rtsp_camera.kill()
    for cam, (path, _size) in STREAMS.items():
        status = ha.wait_status(cam, state="error", after=killed, timeout=10)
        assert redact_source(rtsp_camera.url(path)) in status.error, status
    time.sleep(1)
    back = time.monotonic()
    rtsp_camera.start()
    for cam in STREAMS:
        ha.wait_status(cam, state="running", error=None, after=back, timeout=15)
    print(f"both cameras' frames again {time.monotonic() - back:.1f} s after the camera came back")
    assert _detectors(app) == detectors, "a detection process was restarted"

    # The password: in no log line, no MQTT message, no process title of the app and its agents.
    assert app.proc is not None
    titles = {pid: cmdline(pid) for pid in [app.proc.pid, *descendants(app.proc.pid)]}
    assert len(titles) >= 10, titles  # the app, and main, capture, forkserver, detection of each camera
    for secret in SECRETS:
        assert secret not in app.output
        assert not [m.topic for m in ha.messages if secret.encode() in m.payload]
        assert not [title for title in titles.values() if secret in title], titles
