"""Fixtures of the RoiWatch Home Assistant tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.util.async_ import get_scheduled_timer_handles
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.roiwatch.const import (
    CONF_CAMERA_ID,
    CONF_DETECT,
    CONF_FPS,
    CONF_KIND,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    DOMAIN,
    SUBENTRY_ROI,
)
from tests.mqtt_broker import Mosquitto

CAMERA_ID = "porch"
ROI_PERSON = "01JROI0PERSON0000000000001"
ROI_MOTION = "01JROI0MOTION0000000000002"
SQUARE = [[0.1, 0.4], [0.9, 0.4], [0.9, 1.0], [0.1, 1.0]]
TRIANGLE = [[0.0, 0.0], [0.5, 0.0], [0.0, 0.5]]


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers of these tests."""
    config.addinivalue_line(
        "markers", "e2e: end to end with a real broker and a real agent (select with -m e2e)"
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/roiwatch in every test."""


# What Home Assistant logs when an integration uses an API that a later release removes.
DEPRECATION_MARKERS = ("will stop working", "deprecated", "Detected that custom integration 'roiwatch'")


@pytest.fixture(autouse=True)
def fail_on_deprecation(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Warnings are failures: the next Home Assistant change is caught here, not by users."""
    yield
    found = [
        f"{r.name}: {r.getMessage()}"
        for when in ("setup", "call", "teardown")
        for r in caplog.get_records(when)
        if r.levelno >= logging.WARNING and any(m in r.getMessage() for m in DEPRECATION_MARKERS)
    ]
    assert not found, "Home Assistant reported a deprecated use:\n" + "\n".join(found)


@pytest.fixture(autouse=True)
async def cancel_mqtt_misc_timer(hass: HomeAssistant) -> AsyncGenerator[None]:
    """Cancel the MQTT client's housekeeping timer before the lingering-timer check.

    With the harness's mocked paho client no socket ever closes, and only a socket close
    cancels that timer; HA core's own component tests tolerate it the same way.
    """
    yield
    for handle in get_scheduled_timer_handles(hass.loop):
        if getattr(handle._callback, "__qualname__", "").endswith("._async_misc"):
            handle.cancel()


def roi_subentry(
    subentry_id: str, title: str, detect: str = "person", points: Any = None
) -> ConfigSubentryData:
    """The subentry of one region, as the region flow stores it."""
    return ConfigSubentryData(
        data={
            CONF_DETECT: detect,
            CONF_POINTS: points or SQUARE,
            CONF_SENSITIVITY: 50,
            CONF_OFF_DELAY: 10,
        },
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_ROI,
        title=title,
        unique_id=None,
    )


def camera_entry(
    camera_id: str = CAMERA_ID,
    title: str = "Porch",
    kind: str = "smart",
    subentries: list[ConfigSubentryData] | None = None,
    fps: float = 5.0,
) -> MockConfigEntry:
    """A camera config entry as the flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=camera_id,
        data={CONF_CAMERA_ID: camera_id, CONF_KIND: kind},
        options={CONF_FPS: fps},
        subentries_data=subentries
        if subentries is not None
        else [
            roi_subentry(ROI_PERSON, "Path"),
            roi_subentry(ROI_MOTION, "Gate", "motion", TRIANGLE),
        ],
    )


@pytest.fixture
def entry() -> MockConfigEntry:
    """A camera with one person and one motion region."""
    return camera_entry()


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, entry: MockConfigEntry
) -> MockConfigEntry:
    """The camera, set up, with MQTT mocked."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """A real mosquitto on 127.0.0.1 (end-to-end tests)."""
    server = Mosquitto()
    server.start()
    yield server
    server.close()
