"""A broker restart (a home broker restarts on every HA OS update): every role is back within 5 s."""

from __future__ import annotations

import time

from roiwatch_agent import protocol

from .conftest import TOPICS, WALKWAY, Recorder, make_config, roi

DOWN_S = 8  # long enough for an uncapped exponential back-off to overshoot
BACK_WITHIN_S = 5.0


def test_every_role_reports_its_state_within_5_s_of_a_broker_restart(broker, recorder, start_agent, vtest):
    recorder.publish(TOPICS.config("porch"), make_config("porch", 1, [roi("walk", WALKWAY)]))
    recorder.publish(TOPICS.config("gate"), make_config("gate", 1, [roi("walk", WALKWAY)], kind="dumb"))
    start_agent("smart", "--camera", "porch", "--source", str(vtest), "--loop")
    start_agent("analyzer")
    start_agent("dumb", "--camera", "gate", "--source", str(vtest), "--loop", "--fps", "2", "--width", "320")
    recorder.wait_status("porch", state="running", revision=1, timeout=60)
    recorder.wait_status("gate", state="running", revision=1, timeout=60)  # the analyzer's
    recorder.wait_for(TOPICS.availability("gate"), lambda m: m.text == protocol.ONLINE)

    recorder.close()
    broker.stop()
    time.sleep(DOWN_S)
    broker.start()
    started = time.monotonic()
    # Subscribed within milliseconds, before any agent's next try: what the agents publish on
    # reconnecting arrives live (retain flag clear), told apart from the retained copies of old.
    after = Recorder(broker)
    try:
        live = {
            "smart: availability": (TOPICS.availability("porch"), lambda m: m.text == protocol.ONLINE),
            "smart: status": (TOPICS.status("porch"), lambda m: _state(m) == protocol.STATE_RUNNING),
            "dumb: availability": (TOPICS.availability("gate"), lambda m: m.text == protocol.ONLINE),
            "analyzer: status": (TOPICS.status("gate"), lambda m: _state(m) == protocol.STATE_RUNNING),
        }
        took = {
            what: after.wait_for(topic, lambda m, ok=ok: not m.retain and ok(m), timeout=15).at - started
            for what, (topic, ok) in live.items()
        }
    finally:
        after.close()
    print("back after the broker restart:", {k: f"{v:.2f} s" for k, v in took.items()})
    assert max(took.values()) <= BACK_WITHIN_S, took


def _state(message) -> str:
    return protocol.parse_status(message.payload)["state"]
