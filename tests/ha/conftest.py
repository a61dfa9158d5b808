"""Fixtures of the RoiWatch Home Assistant tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
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
from roiwatch_dev.mosquitto import Mosquitto

from .helpers import CAMERA_ID, Agent, AgentProcesses, Recorder, setup_real_mqtt

ROI_PERSON = "01JROI0PERSON0000000000001"
ROI_MOTION = "01JROI0MOTION0000000000002"
SQUARE = [[0.1, 0.4], [0.9, 0.4], [0.9, 1.0], [0.1, 1.0]]
TRIANGLE = [[0.0, 0.0], [0.5, 0.0], [0.0, 0.5]]


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
    subentry_id: str,
    title: str,
    detect: str = "person",
    points: Any = None,
    sensitivity: int = 50,
    off_delay: float = 10,
) -> ConfigSubentryData:
    """The subentry of one region, as the region flow stores it."""
    return ConfigSubentryData(
        data={
            CONF_DETECT: detect,
            CONF_POINTS: points or SQUARE,
            CONF_SENSITIVITY: sensitivity,
            CONF_OFF_DELAY: off_delay,
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
            # Not the protocol's defaults: a setting lost on the way to the wire shows.
            roi_subentry(ROI_MOTION, "Gate", "motion", TRIANGLE, sensitivity=70, off_delay=4),
        ],
    )


@pytest.fixture
def entry() -> MockConfigEntry:
    """A camera with one person and one motion region."""
    return camera_entry()


@pytest.fixture
def agents(broker: Mosquitto, tmp_path: Path) -> Iterator[AgentProcesses]:
    """Real agent processes on the test's broker, stopped (SIGTERM to their groups) at the end."""
    processes = AgentProcesses(broker, tmp_path)
    yield processes
    processes.close()


@pytest.fixture
async def recorder(broker: Mosquitto) -> AsyncIterator[Recorder]:
    """Records every message on roiwatch/#, subscribed before HA connects."""
    client = Recorder(broker)
    await client.connected()
    yield client
    client.close()


# HA's MQTT client waits 0.5 s before its first subscriptions, 5 s of "discovery cooldown" and
# 10 s between reconnect attempts: right for a house, slow for 100 tests. Only the waits shrink.
FAST_MQTT = {
    "INITIAL_SUBSCRIBE_COOLDOWN": 0.01,
    "SUBSCRIBE_COOLDOWN": 0.01,
    "UNSUBSCRIBE_COOLDOWN": 0.01,
    "DISCOVERY_COOLDOWN": 0.01,
    "RECONNECT_INTERVAL_SECONDS": 0.1,
}


@pytest.fixture
async def mqtt_entry(
    hass: HomeAssistant,
    broker: Mosquitto,
    recorder: Recorder,
    socket_enabled: None,
    mock_hass_config: None,
) -> AsyncIterator[MockConfigEntry]:
    """HA's MQTT integration with its real client, connected to ``broker``.

    socket_enabled: the harness blocks sockets; mock_hass_config: MQTT reads configuration.yaml.
    """
    with patch.multiple("homeassistant.components.mqtt.client", **FAST_MQTT):
        entry = await setup_real_mqtt(hass, broker)
        yield entry
        # Closing the client's socket before the harness looks for lingering timers.
        for camera in hass.config_entries.async_entries(DOMAIN):
            if camera.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(camera.entry_id)
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


@pytest.fixture
async def agent(hass: HomeAssistant, broker: Mosquitto, mqtt_entry: MockConfigEntry) -> AsyncIterator[Agent]:
    """The camera's agent: a real MQTT client publishing into the broker."""
    client = Agent(hass, broker)
    await client.connected()
    yield client
    client.close()


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, entry: MockConfigEntry
) -> MockConfigEntry:
    """The camera, set up, on the real broker."""
    return await set_up(hass, entry)


@pytest.fixture
async def mocked_entry(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, entry: MockConfigEntry
) -> MockConfigEntry:
    """The camera, set up on the harness's fake MQTT client (cases a real broker cannot make)."""
    return await set_up(hass, entry)


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add a camera entry and set it up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
