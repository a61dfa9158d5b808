"""The app restarting its agents, or being restarted, as a user's automations see it (issue 19).

A dumb camera's region is ON (people walk by all the time, analysed by the app's analyzer). The
app's analyzer dies and is restarted by the app; then a stream camera is added to the options and
the app restarted, as HA offers right after saving them. Neither puts an OFF or an ``offline``
on the untouched camera.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from roiwatch_agent import protocol
from roiwatch_dev.agents import pid_alive
from roiwatch_dev.recorder import Recorder
from tests.agent.conftest import TOPICS, WALKWAY, make_config, roi

from .conftest import App
from .test_app import CAM, dumb_camera, ha  # noqa: F401 - fixtures

OFF_DELAY = 6  # longer than the person model's own misses on these pictures: an OFF is a restart's


def _unnoticed(recorder: Recorder, after: float) -> None:
    assert "OFF" not in [m.text for m in recorder.on_topic(TOPICS.roi(CAM, "walk"), after)]
    assert "OFF" not in [m.text for m in recorder.on_topic(TOPICS.detected(CAM), after)]
    states = [protocol.parse_status(m.payload).state for m in recorder.on_topic(TOPICS.status(CAM), after)]
    assert set(states) <= {"starting", "running"}, states


def test_an_app_restart_and_a_dead_agent_leave_other_cameras_regions_on(
    app: App,
    ha: Recorder,  # noqa: F811
    dumb_camera: subprocess.Popen[bytes],  # noqa: F811
) -> None:
    ha.publish(
        TOPICS.config(CAM), make_config(CAM, 1, [roi("walk", WALKWAY, off_delay=OFF_DELAY)], kind="dumb")
    )
    options = {"analyzer": True, "cameras": [], "log_level": "info"}
    app.start(options)
    ha.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=90)
    ha.wait_for(TOPICS.detected(CAM), lambda m: m.text == "ON", timeout=10)
    on_at = time.monotonic()

    # The analyzer dies; the app starts it again a second later.
    (analyzer,) = app.wait_for(app.agents, "the analyzer's agent")
    os.kill(analyzer, signal.SIGKILL)
    app.wait_for(lambda: [p for p in app.agents() if p != analyzer], "the analyzer restarted", 30)
    ha.wait_status(CAM, state="running", revision=1, after=on_at, timeout=60)

    # A stream camera added in the options, and the app restarted (stop, start).
    restart = time.monotonic()
    assert app.stop() == 0
    assert not pid_alive(analyzer)
    options["cameras"] = [{"id": "gate", "source": "rtsp://127.0.0.1:9/none"}]
    app.start(options)
    ha.wait_status(CAM, state="running", revision=1, after=restart, timeout=60)
    time.sleep(OFF_DELAY + 1)  # past the carried-over state's off_delay: the new frames decided

    _unnoticed(ha, on_at)
    assert ha.on_topic(TOPICS.roi(CAM, "walk"))[-1].text == "ON"
    assert app.wait_for(lambda: app.agents("smart"), "the new stream camera's agent")
