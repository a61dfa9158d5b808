"""A broker restart (a home broker restarts on every HA OS update): every role is back within 5 s."""

from __future__ import annotations

import time
from collections.abc import Callable

from roiwatch_agent import protocol
from roiwatch_dev.recorder import Message, Recorder

from .conftest import TOPICS, WALKWAY, make_config, roi

DOWN_S = 8  # long enough for an uncapped exponential back-off to overshoot
BACK_WITHIN_S = 5.0


def _online(m: Message) -> bool:
    return m.text == protocol.ONLINE


def _running(m: Message) -> bool:
    return protocol.parse_status(m.payload).state == protocol.STATE_RUNNING


def _back_after_restart(broker, live: dict[str, tuple[str, Callable[[Message], bool]]]) -> dict[str, float]:
    """Start the (stopped) broker; seconds until each expected message is published again."""
    broker.start()
    started = time.monotonic()
    # Subscribed within milliseconds, before any agent's next try: what the agents publish on
    # reconnecting arrives live (retain flag clear), told apart from the retained copies of old.
    after = Recorder(broker)
    try:
        took = {
            what: after.wait_for(topic, lambda m, ok=ok: not m.retain and ok(m), timeout=15).at - started
            for what, (topic, ok) in live.items()
        }
    finally:
        after.close()
    print("back after the broker restart:", {k: f"{v:.2f} s" for k, v in took.items()})
    return took


def test_every_role_reports_its_state_within_5_s_of_a_broker_restart(broker, recorder, start_agent, vtest):
    recorder.publish(TOPICS.config("porch"), make_config("porch", 1, [roi("walk", WALKWAY)]))
    recorder.publish(TOPICS.config("gate"), make_config("gate", 1, [roi("walk", WALKWAY)], kind="dumb"))
    smart = start_agent("smart", "--camera", "porch", "--source", str(vtest), "--loop")
    start_agent("analyzer")
    start_agent("dumb", "--camera", "gate", "--source", str(vtest), "--loop", "--fps", "2", "--width", "320")
    recorder.wait_status("porch", state="running", revision=1, timeout=60)
    recorder.wait_status("gate", state="running", revision=1, timeout=60)  # the analyzer's
    recorder.wait_for(TOPICS.availability("gate"), _online)
    detectors = smart.detector_pids()

    recorder.close()
    broker.stop()
    time.sleep(DOWN_S)
    took = _back_after_restart(
        broker,
        {
            "smart: availability": (TOPICS.availability("porch"), _online),
            "smart: status": (TOPICS.status("porch"), _running),
            "dumb: availability": (TOPICS.availability("gate"), _online),
            "analyzer: status": (TOPICS.status("gate"), _running),
        },
    )
    assert max(took.values()) <= BACK_WITHIN_S, took
    # The broker kept the retained config and sends it again: the same config, no restart. (The
    # analyzer's may: the dumb camera's last will reaches it as mosquitto shuts down.)
    assert smart.detector_pids() == detectors


def test_an_agent_started_while_the_broker_is_down_reports_within_5_s(broker, recorder, start_agent, vtest):
    """It runs its cached config meanwhile, and reports it as soon as the broker is back."""
    recorder.publish(TOPICS.config("porch"), make_config("porch", 1, [roi("walk", WALKWAY)]))
    args = ("smart", "--camera", "porch", "--source", str(vtest), "--loop", "--state-dir")
    first = start_agent(*args, str(broker.dir / "state"))
    recorder.wait_status("porch", state="running", revision=1, timeout=60)
    assert first.stop() == 0

    recorder.close()
    broker.stop()
    start_agent(*args, str(broker.dir / "state"))
    time.sleep(DOWN_S)
    took = _back_after_restart(broker, {"smart: status": (TOPICS.status("porch"), _running)})
    assert took["smart: status"] <= BACK_WITHIN_S, took
