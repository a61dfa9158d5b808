"""The entry script's restart policy, on real short-lived processes (fast, no root needed)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from roiwatch_dev import REPO

RUN_PY = REPO / "roiwatch_app" / "run.py"


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("roiwatch_app_run", RUN_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_a_dying_agent_is_restarted_later_each_time_up_to_a_minute(run, caplog) -> None:
    role = run.Role("camera gate", [sys.executable, "-c", "raise SystemExit(1)"])
    runner = run.Runner([role], env={}, describe={})
    runner.start(role)
    waits = []
    now = 1000.0  # a monotonic clock
    for _ in range(8):
        role.proc.wait(10)
        role.started = now  # it died at once
        runner.tick(now)  # noticed, scheduled
        assert role.proc is None
        waits.append(role.restart_at - now)
        now = role.restart_at
        runner.tick(now)  # due: started again
        assert role.proc is not None
    role.proc.wait(10)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert role.restarts == 8
    assert "camera gate's agent exited with code 1; restarting it in 60 s" in caplog.text

    # One that ran a while before dying starts over at 1 s.
    role.started = now - run.STABLE_AFTER
    runner.tick(now)
    assert role.restart_at - now == 1


def test_options_name_the_bad_one_and_never_its_password(run) -> None:
    ok = run.parse_options(
        {"analyzer": False, "cameras": [{"id": "gate", "source": " rtsp://u:p@cam/1 "}], "shard": "1/2"}
    )
    assert ok.cameras == (run.Camera("gate", "rtsp://u:p@cam/1"),) and ok.shard == "1/2"
    for options, says in [
        (
            {"cameras": [{"id": "gate", "source": "rtsp://a/1"}, {"id": "gate", "source": "rtsp://b/1"}]},
            "used twice",
        ),
        ({"cameras": [{"id": "gate", "source": "ftp://u:s3cret@cam/1"}]}, "is not a URL"),
        ({"cameras": [{"id": "gate", "source": "http://u:s3cret@:80/x"}]}, "is not a URL"),
        ({"log_level": "loud"}, "log_level"),
        ({"analyzer": "yes"}, "analyzer"),
    ]:
        with pytest.raises(run.OptionError, match=says) as err:
            run.parse_options(options)
        assert "s3cret" not in str(err.value)
