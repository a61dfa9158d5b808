"""What every suite shares: the test's real mosquitto (``broker``), configured by ``broker_options``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from roiwatch_dev.mosquitto import Mosquitto, find_mosquitto


@pytest.fixture
def broker_options() -> dict[str, Any]:
    """Mosquitto's keyword arguments for the test's broker: anyone may connect.

    A suite or a module overrides it (tests/app: passwords; test_acl_example: the example files).
    """
    return {}


@pytest.fixture
def broker(request: pytest.FixtureRequest, broker_options: dict[str, Any]) -> Iterator[Mosquitto]:
    """A real mosquitto on a free 127.0.0.1 port, for this test only."""
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed: run scripts/setup")
    # Home Assistant's harness (tests/ha, tests/app) blocks sockets unless a test enables them;
    # tests/agent runs without it (-p no:socket).
    if request.config.pluginmanager.has_plugin("socket"):
        request.getfixturevalue("socket_enabled")
    server = Mosquitto(**broker_options)
    server.start()
    yield server
    server.close()
