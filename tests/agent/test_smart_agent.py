"""The smart camera end to end: real mosquitto, real agent processes, real video."""

from __future__ import annotations

import json
import os
import signal
import time

import cv2
import numpy as np

from roiwatch_agent import protocol
from roiwatch_dev.agents import pid_alive
from roiwatch_dev.waiting import wait_until

from .conftest import FEET, ROOFTOPS, TOPICS, TORSOS, WALKWAY, make_config, roi

CAM = "porch"


def _running_agent(recorder, start_agent, video, *extra, revision=1, rois=None):
    recorder.publish(TOPICS.config(CAM), make_config(CAM, revision, rois or [roi("walk", WALKWAY)]))
    agent = start_agent("smart", "--camera", CAM, "--source", str(video), *extra)
    recorder.wait_status(CAM, state="running", revision=revision, timeout=30)
    return agent


def test_person_turns_roi_on_then_off_after_delay(recorder, start_agent, scene_video):
    """Walkers for 6 s of video, at double speed: each ROI by its feet rule and off_delay."""
    rois = [
        roi("walk", WALKWAY, off_delay=2),
        roi("walk6", WALKWAY, off_delay=6),
        roi("roof", ROOFTOPS, off_delay=2),
        roi("torsos", TORSOS, off_delay=2),
        roi("feet", FEET, off_delay=2),
    ]
    start = time.monotonic()
    _running_agent(recorder, start_agent, scene_video, "--speed", "2", rois=rois)

    walk = TOPICS.roi(CAM, "walk")
    recorder.wait_for(walk, lambda m: m.text == "OFF", after=start)
    on = recorder.wait_for(walk, lambda m: m.text == "ON", timeout=30)
    assert recorder.wait_for(TOPICS.detected(CAM), lambda m: m.text == "ON").at >= on.at - 0.5
    snap = recorder.wait_for(TOPICS.snapshot(CAM))
    picture = cv2.imdecode(np.frombuffer(snap.payload, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[:2] == (576, 768)
    # The walkers leave after 6 s of video (3 s here); OFF follows after off_delay.
    off = recorder.wait_for(walk, lambda m: m.text == "OFF", after=on.at, timeout=30)
    off6 = recorder.wait_for(TOPICS.roi(CAM, "walk6"), lambda m: m.text == "OFF", after=on.at, timeout=30)
    # Both regions saw the same walkers in the same frames: the one with 4 s more off_delay
    # (2 s at double speed) turns OFF that much later. Generous bounds: a busy machine lags.
    assert 1.2 <= off6.at - off.at <= 3.5, off6.at - off.at
    # ON while the walkers were there (3 s) plus off_delay (1 s), not much longer.
    assert 1.0 <= off.at - on.at <= 3 + 1 + 2.5, off.at - on.at
    recorder.wait_for(TOPICS.detected(CAM), lambda m: m.text == "OFF", after=off6.at)
    assert [m.text for m in recorder.on_topic(TOPICS.roi(CAM, "walk6"))] == ["OFF", "ON", "OFF"]
    # The feet rule (geometry in conftest): feet in the thin band count, bodies in the torso band do not.
    assert "ON" in [m.text for m in recorder.on_topic(TOPICS.roi(CAM, "feet"))]
    assert [m.text for m in recorder.on_topic(TOPICS.roi(CAM, "torsos"))] == ["OFF"]
    # Nobody walks on the rooftops.
    assert [m.text for m in recorder.on_topic(TOPICS.roi(CAM, "roof"))] == ["OFF"]


def test_new_revision_restarts_detection_process(recorder, start_agent, vtest):
    agent = _running_agent(recorder, start_agent, vtest, "--loop")
    assert wait_until(lambda: len(agent.detector_pids()) == 1)
    [old] = agent.detector_pids()

    t0 = time.monotonic()
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 2, [roi("walk", WALKWAY), roi("roof", ROOFTOPS)]))
    status = recorder.wait_status(CAM, state="running", revision=2, after=t0)
    assert status.restarts == 0  # a planned restart is not a crash
    assert not pid_alive(old)
    assert wait_until(lambda: len(agent.detector_pids()) == 1)
    assert agent.detector_pids() != [old]
    # The new ROI is reported from the start.
    recorder.wait_for(TOPICS.roi(CAM, "roof"), lambda m: m.text == "OFF", after=t0)

    # The same config again (a retained repeat) restarts nothing.
    [current] = agent.detector_pids()
    t1 = time.monotonic()
    recorder.publish(TOPICS.config(CAM), make_config(CAM, 2, [roi("walk", WALKWAY), roi("roof", ROOFTOPS)]))
    # A bad armed payload after it: once its error is reported, the repeat was handled too.
    recorder.publish(TOPICS.armed(CAM), "MAYBE")
    status = _wait_error(recorder, t1, "expected ON or OFF")
    assert (status.state, status.revision) == ("running", 2)
    assert _states_since(recorder, t1) == {"running"}  # never "starting": no restart
    assert agent.detector_pids() == [current]


def test_disarm_stops_detection_and_rearm_starts_it(recorder, start_agent, vtest):
    agent = _running_agent(recorder, start_agent, vtest, "--loop")
    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "OFF")
    recorder.wait_status(CAM, state="stopped", after=t0)
    assert wait_until(lambda: agent.detector_pids() == [])
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "OFF")

    t1 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "ON")
    recorder.wait_status(CAM, state="running", revision=1, after=t1)
    assert wait_until(lambda: len(agent.detector_pids()) == 1)


def test_killed_detection_process_is_noticed_and_restarted(recorder, start_agent, vtest):
    agent = _running_agent(recorder, start_agent, vtest, "--loop")
    assert wait_until(lambda: len(agent.detector_pids()) == 1)
    [pid] = agent.detector_pids()
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    status = recorder.wait_status(CAM, state="running", after=t0, timeout=15)
    assert status.restarts == 1
    assert wait_until(lambda: len(agent.detector_pids()) == 1)
    assert agent.detector_pids() != [pid]
    # The broker holds the dead process's last will (WILL_DELAY) and drops it when the new
    # process connects under the camera's client id: HA never sees the detector offline.
    time.sleep(1)
    assert "offline" not in _states_since(recorder, t0)


def test_broker_restart_resynchronises_state(broker, recorder, start_agent, vtest):
    agent = _running_agent(recorder, start_agent, vtest, "--loop")
    [pid] = agent.detector_pids()
    recorder.close()
    broker.stop()
    # A broker that lost everything (no persistence file) is the worst case.
    for f in broker.dir.glob("*.db"):
        f.unlink()
    time.sleep(2)
    broker.start()
    from roiwatch_dev.recorder import Recorder

    fresh = Recorder(broker)
    try:
        fresh.wait_for(TOPICS.availability(CAM), lambda m: m.text == "online", timeout=40)
        status = fresh.wait_status(CAM, state="running", revision=1, timeout=20)
        assert status.restarts == 0
        fresh.wait_for(TOPICS.roi(CAM, "walk"))
        fresh.wait_for(TOPICS.announce(CAM))
        assert agent.detector_pids() == [pid]  # detection never stopped
    finally:
        fresh.close()


def test_cached_config_detects_after_reboot_with_broker_down(broker, recorder, start_agent, vtest, tmp_path):
    state = tmp_path / "persistent-state"
    first = _running_agent(recorder, start_agent, vtest, "--loop", "--state-dir", str(state))
    assert first.stop() == 0
    recorder.close()
    broker.stop()
    for f in broker.dir.glob("*.db"):
        f.unlink()

    second = start_agent(
        "smart", "--camera", CAM, "--source", str(vtest), "--loop", "--state-dir", str(state)
    )
    # No broker, no config on the wire: it detects from the cached config anyway.
    assert wait_until(lambda: len(second.detector_pids()) == 1, timeout=10)
    time.sleep(1)
    broker.start()
    from roiwatch_dev.recorder import Recorder

    fresh = Recorder(broker)
    try:
        fresh.wait_status(CAM, state="running", revision=1, timeout=40)
    finally:
        fresh.close()


def test_bad_configs_are_refused_and_last_good_keeps_running(recorder, start_agent, vtest):
    agent = _running_agent(recorder, start_agent, vtest, "--loop")
    [pid] = agent.detector_pids()
    good = protocol.CameraConfig(CAM, "smart", 2, (roi("walk", WALKWAY),))
    wire = good.to_wire()  # broken on the wire, as no valid CameraConfig can be

    def sent(**changed: object) -> bytes:
        return json.dumps({**wire, **changed}).encode()

    bad_payloads = {
        "not valid JSON": b"{not json",
        "unknown config schema": sent(schema=2),
        "not 'porch'": sent(camera_id="garden"),
        "outside the picture": sent(rois=[{**wire["rois"][0], "points": [[0, 0], [1.5, 0], [1, 1]]}]),
        "crosses itself": sent(rois=[{**wire["rois"][0], "points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]),
        "exceeds 65536 bytes": b" " * (200 * 1024 * 1024),
    }
    for expected, payload in bad_payloads.items():
        t0 = time.monotonic()
        recorder.publish(TOPICS.config(CAM), payload)
        status = _wait_error(recorder, t0, expected)
        assert status.state == "running" and status.revision == 1, status
        assert agent.detector_pids() == [pid], f"{expected}: detection was restarted"
        assert expected in agent.output
    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "MAYBE")
    _wait_error(recorder, t0, "expected ON or OFF")
    # A good config clears the error.
    t0 = time.monotonic()
    recorder.publish(TOPICS.config(CAM), protocol.build_config(good))
    status = recorder.wait_status(CAM, state="running", revision=2, after=t0)
    assert status.error is None


def _states_since(recorder, after):
    messages = recorder.on_topic(TOPICS.status(CAM), after=after)
    return {protocol.parse_status(m.payload).state for m in messages}


def _wait_error(recorder, after, text):
    def has(m):
        try:
            return text in (protocol.parse_status(m.payload).error or "")
        except protocol.ProtocolError:
            return False

    return protocol.parse_status(recorder.wait_for(TOPICS.status(CAM), has, timeout=30, after=after).payload)


def test_sigterm_stops_everything_cleanly(recorder, start_agent, scene_video):
    """Every process ends; the regions stay as they are and the camera is offline after the grace."""
    agent = _running_agent(
        recorder, start_agent, scene_video, "--loop", "--speed", "2", "--restart-grace", "2"
    )
    recorder.wait_for(TOPICS.roi(CAM, "walk"), lambda m: m.text == "ON", timeout=30)
    children = agent.descendants()
    t0 = time.monotonic()
    os.killpg(agent.proc.pid, signal.SIGTERM)  # as systemd does: the whole group
    assert agent.stop() == 0
    assert wait_until(lambda: not any(pid_alive(p) for p in children), timeout=5)
    recorder.wait_for(TOPICS.availability(CAM), lambda m: m.text == "offline", after=t0, timeout=10)
    recorder.wait_status(CAM, state="offline", after=t0, timeout=10)
    assert recorder.on_topic(TOPICS.roi(CAM, "walk"), after=t0) == []  # nobody knows: not OFF
    assert "Traceback" not in agent.output


def test_disarmed_state_survives_a_broker_that_lost_everything(broker, recorder, start_agent, vtest):
    _running_agent(recorder, start_agent, vtest, "--loop")
    t0 = time.monotonic()
    recorder.publish(TOPICS.armed(CAM), "OFF")
    recorder.wait_status(CAM, state="stopped", after=t0)
    recorder.close()
    broker.stop()
    for f in broker.dir.glob("*.db"):
        f.unlink()
    broker.start()
    from roiwatch_dev.recorder import Recorder

    fresh = Recorder(broker)
    try:
        fresh.wait_status(CAM, state="stopped", revision=1, timeout=40)
        fresh.wait_for(TOPICS.availability(CAM), lambda m: m.text == "online")
    finally:
        fresh.close()


def test_detector_does_not_outlive_a_killed_agent(recorder, start_agent, vtest):
    agent = _running_agent(recorder, start_agent, vtest, "--loop", "--restart-grace", "2")
    [pid] = agent.detector_pids()
    t0 = time.monotonic()
    agent.proc.kill()  # the agent's main process only, as the OOM killer would
    recorder.wait_for(TOPICS.availability(CAM), lambda m: m.text == "offline", after=t0, timeout=10)
    recorder.wait_status(CAM, state="offline", after=t0, timeout=10)
    assert wait_until(lambda: not pid_alive(pid), timeout=10)


def test_a_burst_of_revisions_restarts_detection_once(broker, recorder, start_agent, vtest):
    agent = _running_agent(recorder, start_agent, vtest, "--loop")
    t0 = time.monotonic()
    # Quick edits in HA: five revisions in a row, sent back to back as HA's MQTT client would.
    sent = [
        recorder.client.publish(TOPICS.config(CAM), make_config(CAM, rev, rois), qos=1, retain=True)
        for rev, rois in ((rev, [roi("walk", WALKWAY, off_delay=rev)]) for rev in range(2, 7))
    ]
    for info in sent:
        info.wait_for_publish(10)
    recorder.wait_status(CAM, state="running", revision=6, after=t0)
    # Each detection process says "starting" on its own connection before it runs; the one
    # running revision 6 was started last, so every earlier "starting" has arrived by now.
    started = [
        protocol.parse_status(m.payload).revision
        for m in recorder.on_topic(TOPICS.status(CAM), after=t0)
        if protocol.parse_status(m.payload).state == "starting"
    ]
    # The agent acts on the first message at once, so revision 2 or 3 starts alone; the rest
    # cost one restart together (2 starts measured every time; one per revision would be 5).
    assert started[-1] == 6 and len(started) <= 3, started
    # Never two processes publishing at once: no status of an older revision after a newer one.
    revisions = [
        protocol.parse_status(m.payload).revision for m in recorder.on_topic(TOPICS.status(CAM), t0)
    ]
    assert revisions == sorted(revisions), revisions
    # Every detection process of a camera connects under one client id: had two been connected
    # at once, the broker would have closed the older connection.
    assert "already connected, closing old connection" not in broker.log.read_text()
    assert wait_until(lambda: len(agent.detector_pids()) == 1)
