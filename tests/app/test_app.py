"""The app in its trixie root: options, the Supervisor's broker, the analyzer, restarts, secrets.

What a user of Home Assistant OS gets from the app, on the real broker: a dumb camera's
pictures analysed by the app's analyzer, a dead agent brought back, a bad option refused with
one line that says what to fix, and no password in the log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roiwatch_agent import protocol
from roiwatch_dev import VIDEO
from roiwatch_dev.agents import cmdline, descendants, pid_alive
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.recorder import Recorder
from roiwatch_dev.waiting import wait_until
from tests.agent.conftest import TOPICS, WALKWAY, make_config, roi

from .conftest import PASSWORDS, App

# The dumb camera runs where dumb cameras run: on its own device (here the host's agent).
HOST_AGENT = Path(sys.executable).parent / "roiwatch-agent"
CAM = "yard"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (
            {"analyzer": True, "cameras": [{"id": "Front Door", "source": "rtsp://cam.lan/stream"}]},
            "cameras[0].id: invalid camera id 'Front Door'",
        ),
        (
            {"analyzer": False, "cameras": [{"id": "gate", "source": "rtsp//admin:hunter2@cam.lan/live"}]},
            "cameras[0].source (camera gate) is not a URL",
        ),
        ({"analyzer": True, "cameras": [], "shard": "2/2"}, "shard '2/2'"),
        ({"analyzer": False, "cameras": []}, "nothing to run"),
    ],
    ids=["camera-id", "source-not-a-url", "shard", "nothing"],
)
def test_bad_option_is_one_clear_line_and_exit_2(app: App, options: dict, says: str) -> None:
    """The app refuses to start, and its log (all the user sees) says which option to fix."""
    assert app.start({"log_level": "info", **options}).wait_exit() == 2
    lines = app.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert "ERROR roiwatch-app: Invalid option: " in lines[0]
    assert says in lines[0]
    assert "hunter2" not in app.output


def test_no_broker_from_the_supervisor_is_one_clear_line_and_exit_3(app: App, supervisor) -> None:
    """The Supervisor refuses the token: the app says what is missing instead of retrying forever."""
    assert app.start({"analyzer": True, "cameras": []}, token="not-the-apps-token").wait_exit() == 3
    (line,) = app.output.strip().splitlines()
    assert "ERROR roiwatch-app: no MQTT broker: the Supervisor answered HTTP 401" in line
    assert "Mosquitto" in line
    assert supervisor.requests == ["/services/mqtt"]


@pytest.fixture
def dumb_camera(broker: Mosquitto, tmp_path: Path) -> subprocess.Popen[bytes]:
    """An ESP32-CAM-like dumb camera: vtest.avi's frames as JPEGs over MQTT, with its own login."""
    if not VIDEO.exists():
        pytest.skip("vtest.avi is missing: run scripts/setup")
    log = (tmp_path / "dumb.log").open("wb")
    proc = subprocess.Popen(
        [
            *(str(HOST_AGENT), "dumb", "--camera", CAM, "--source", str(VIDEO), "--loop"),
            *("--fps", "5", "--width", "384", "--broker", f"mqtt://{CAM}@127.0.0.1:{broker.port}"),
        ],
        env={**os.environ, "ROIWATCH_MQTT_PASSWORD": PASSWORDS[CAM]},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    proc.wait(15)
    log.close()


@pytest.fixture
def ha(broker: Mosquitto) -> Recorder:
    """What Home Assistant publishes and sees, logged in as it."""
    recorder = Recorder(broker, ("homeassistant", PASSWORDS["homeassistant"]))
    yield recorder
    recorder.close()


def test_dumb_camera_analysed_and_a_dead_agent_restarted(
    app: App, ha: Recorder, dumb_camera: subprocess.Popen[bytes]
) -> None:
    """The analyzer in the app detects people for a dumb camera; killed, it comes back and goes on."""
    ha.publish(TOPICS.config(CAM), make_config(CAM, 1, [roi("walk", WALKWAY, off_delay=2)], kind="dumb"))
    app.start({"analyzer": True, "cameras": [], "log_level": "info"})
    status = ha.wait_status(CAM, state="running", revision=1, timeout=90)
    assert status.detector == "ssdlite/onnxruntime"  # the app's image (amd64, aarch64) has ONNX Runtime
    ha.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=60)

    (analyzer,) = app.wait_for(app.agents, "the analyzer's agent")
    killed = time.monotonic()
    os.kill(analyzer, signal.SIGKILL)
    app.wait_for(lambda: not pid_alive(analyzer), "the killed analyzer to be gone")
    (again,) = app.wait_for(lambda: [p for p in app.agents() if p != analyzer], "the analyzer restarted", 30)
    assert "analyzer's agent exited with code -9; restarting it in 1 s" in app.output
    # The new analyzer takes the camera again (its status goes through starting to running).
    ha.wait_status(CAM, state="starting", after=killed, timeout=60)
    ha.wait_status(CAM, state="running", revision=1, after=killed, timeout=90)
    assert app.agents() == [again]

    # The MQTT password reached the agent in its environment: not in the log, not on a command line.
    secret = PASSWORDS["addons"]
    assert secret not in app.output
    assert secret not in Path(f"/proc/{again}/cmdline").read_bytes().decode()
    assert "RoiWatch app: broker mqtt://addons@127.0.0.1:" in app.output  # the Supervisor's broker
    assert protocol.parse_status(ha.on_topic(TOPICS.status(CAM))[-1].payload).error is None

    # Stopped (as the Supervisor stops an app: SIGTERM), it leaves nothing running.
    processes = [app.proc.pid, *descendants(app.proc.pid)]
    assert len(processes) >= 4  # the app, the analyzer, its forkserver, the detection process
    assert app.stop() == 0
    # (the forkserver and resource tracker end on their own once the agent's pipes close)
    assert wait_until(lambda: not [pid for pid in processes if pid_alive(pid)], 10), [
        cmdline(pid) for pid in processes if pid_alive(pid)
    ]
    assert "Stopped" in app.output.splitlines()[-1]
