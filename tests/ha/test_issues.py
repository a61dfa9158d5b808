"""Repair issues: config not applied within a minute, agent errors; raised and cleared."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.roiwatch.const import CONF_FPS, DOMAIN

from .helpers import Agent


def issue(issue_registry: ir.IssueRegistry, kind: str, entry: MockConfigEntry) -> ir.IssueEntry | None:
    """One issue of the camera."""
    return issue_registry.async_get_issue(DOMAIN, f"{kind}_{entry.entry_id}")


async def later(hass: HomeAssistant, seconds: float) -> None:
    """Let time pass."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done()


async def test_not_applied_raised_after_a_minute_and_cleared(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, loaded_entry: MockConfigEntry, agent: Agent
) -> None:
    """An agent that keeps running an old revision raises an issue; applying clears it."""
    await agent.running(revision=0)
    # The watch starts when setup publishes, before the platforms load (the camera platform's
    # first import takes a moment on a busy machine): a few seconds short of the minute.
    await later(hass, 55)
    assert issue(issue_registry, "config_not_applied", loaded_entry) is None
    await later(hass, 62)
    found = issue(issue_registry, "config_not_applied", loaded_entry)
    assert found is not None
    assert found.severity is ir.IssueSeverity.WARNING
    assert found.translation_key == "config_not_applied"
    assert found.translation_placeholders == {"camera": "Porch", "revision": "1", "running": "0"}

    await agent.send("status", {"state": "running", "revision": 1})
    assert issue(issue_registry, "config_not_applied", loaded_entry) is None


async def test_not_applied_when_agent_silent(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, loaded_entry: MockConfigEntry
) -> None:
    """No status at all counts as not applied."""
    await later(hass, 61)
    found = issue(issue_registry, "config_not_applied", loaded_entry)
    assert found.translation_placeholders["running"] == "none"


async def test_applied_in_time_raises_nothing(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, loaded_entry: MockConfigEntry, agent: Agent
) -> None:
    """Applying within the minute: no issue, and a new revision restarts the watch."""
    await agent.running(revision=1)
    await later(hass, 120)
    assert issue(issue_registry, "config_not_applied", loaded_entry) is None

    hass.config_entries.async_update_entry(loaded_entry, options={CONF_FPS: 1.0})
    await hass.async_block_till_done()
    await agent.send("status", {"state": "running", "revision": 2})
    await later(hass, 120)
    assert issue(issue_registry, "config_not_applied", loaded_entry) is None


async def test_new_revision_gets_a_full_minute(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    mocked_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A revision published while the previous one is still awaited restarts the watch.

    Fake client: the frozen clock this needs also stops the real MQTT client's timers (its
    subscribe cooldown), so HA would never subscribe; the watch is HA-side timing only.
    """
    loaded_entry = mocked_entry

    async def tick(seconds: float) -> None:
        freezer.tick(timedelta(seconds=seconds))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()

    # Set up again under the frozen clock, so the first watch runs on it too.
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, "roiwatch/porch/availability", "online")
    async_fire_mqtt_message(hass, "roiwatch/porch/status", '{"state": "running", "revision": 0}')
    await hass.async_block_till_done()
    await tick(50)
    hass.config_entries.async_update_entry(loaded_entry, options={CONF_FPS: 1.0})
    await hass.async_block_till_done()
    await tick(20)  # a minute after revision 1, 20 s after revision 2
    assert issue(issue_registry, "config_not_applied", loaded_entry) is None
    await tick(45)
    found = issue(issue_registry, "config_not_applied", loaded_entry)
    assert found.translation_placeholders["revision"] == "2"


async def test_applied_just_before_timer(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, loaded_entry: MockConfigEntry, agent: Agent
) -> None:
    """The timer firing after the revision was applied does nothing."""
    coordinator = loaded_entry.runtime_data
    await agent.running(revision=1)
    coordinator.apply_watch.timeout(dt_util.utcnow())
    assert issue(issue_registry, "config_not_applied", loaded_entry) is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ({"state": "running", "revision": 1, "error": "rois.0.points: bad"}, "rois.0.points: bad"),
        ({"state": "error", "revision": 1, "error": "camera unplugged"}, "camera unplugged"),
        ({"state": "error", "revision": 1}, "error"),
    ],
)
async def test_agent_error_raised_and_cleared(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    loaded_entry: MockConfigEntry,
    status: dict,
    error: str,
    agent: Agent,
) -> None:
    """The agent's error becomes an issue until a status without error arrives."""
    await agent.running()
    await agent.send("status", status)
    found = issue(issue_registry, "agent_error", loaded_entry)
    assert found.severity is ir.IssueSeverity.ERROR
    assert found.translation_placeholders == {"camera": "Porch", "error": error}
    await agent.send("status", {"state": "running", "revision": 1})
    assert issue(issue_registry, "agent_error", loaded_entry) is None


async def test_issues_removed_with_the_camera(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, loaded_entry: MockConfigEntry, agent: Agent
) -> None:
    """Unloading or removing a camera leaves no issue behind."""
    await agent.send("status", {"state": "error", "revision": 0, "error": "boom"})
    await later(hass, 61)
    assert issue(issue_registry, "agent_error", loaded_entry) is not None
    assert issue(issue_registry, "config_not_applied", loaded_entry) is not None
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert issue(issue_registry, "agent_error", loaded_entry) is None
    assert issue(issue_registry, "config_not_applied", loaded_entry) is None
