"""The last good config on disk: what a rebooted agent detects with before the broker answers."""

from __future__ import annotations

import json

import pytest

from roiwatch_agent import protocol
from roiwatch_agent.control.config_store import ConfigStore

from .conftest import WALKWAY, roi

CONFIG = protocol.CameraConfig("porch", "smart", 7, (roi("walk", WALKWAY, off_delay=2.5),), fps=2)


def test_the_cached_config_comes_back_as_it_was_sent(tmp_path):
    store = ConfigStore(tmp_path)
    store.save(CONFIG)
    assert ConfigStore(tmp_path).load("porch") == CONFIG  # a new run reads what the last one kept
    assert store.cached_ids() == ["porch"]


@pytest.mark.parametrize(
    "change",
    [
        {"rois": [{**CONFIG.to_wire()["rois"][0], "off_delay": 9999}]},  # out of its range
        {"fps": 0},
        {"camera_id": "garden"},  # another camera's file under this camera's name
        {"schema": 2},
    ],
)
def test_a_cached_config_the_protocol_refuses_is_ignored(tmp_path, change, caplog):
    """A file damaged or edited by hand never runs: the agent waits for the config from HA."""
    store = ConfigStore(tmp_path)
    store.save(CONFIG)
    (tmp_path / "porch.config.json").write_text(json.dumps({**CONFIG.to_wire(), **change}))
    assert store.load("porch") is None
    assert "Ignoring cached config" in caplog.text


def test_a_truncated_cache_is_ignored(tmp_path):
    store = ConfigStore(tmp_path)
    store.save(CONFIG)
    path = tmp_path / "porch.config.json"
    path.write_bytes(path.read_bytes()[:20])
    assert store.load("porch") is None
