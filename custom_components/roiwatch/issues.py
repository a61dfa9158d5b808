"""Repair issues of a camera: config not applied in time, agent reporting an error; for a camera
of Home Assistant: its source entity removed, no analyzer taking its pictures."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

ISSUE_NOT_APPLIED = "config_not_applied"
ISSUE_AGENT_ERROR = "agent_error"
ISSUE_SOURCE_MISSING = "source_missing"
ISSUE_NO_ANALYZER = "no_analyzer"
ISSUES = (ISSUE_NOT_APPLIED, ISSUE_AGENT_ERROR, ISSUE_SOURCE_MISSING, ISSUE_NO_ANALYZER)


def issue_id(kind: str, entry_id: str) -> str:
    """The id of one kind of issue of one camera."""
    return f"{kind}_{entry_id}"


@callback
def _async_raise(
    hass: HomeAssistant, kind: str, entry_id: str, severity: ir.IssueSeverity, **placeholders: str
) -> None:
    """Raise (or update) one kind of issue of one camera; its text is the kind's translation."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry_id),
        is_fixable=False,
        severity=severity,
        translation_key=kind,
        translation_placeholders=placeholders,
    )


@callback
def async_raise_not_applied(
    hass: HomeAssistant, entry_id: str, camera: str, revision: int, running: int | None
) -> None:
    """The agent has not run the latest revision in time."""
    _async_raise(
        hass,
        ISSUE_NOT_APPLIED,
        entry_id,
        ir.IssueSeverity.WARNING,
        camera=camera,
        revision=str(revision),
        running="none" if running is None else str(running),
    )


@callback
def async_raise_agent_error(hass: HomeAssistant, entry_id: str, camera: str, error: str) -> None:
    """The agent reports an error (a refused config, a broken video source...)."""
    _async_raise(hass, ISSUE_AGENT_ERROR, entry_id, ir.IssueSeverity.ERROR, camera=camera, error=error)


@callback
def async_raise_source_missing(hass: HomeAssistant, entry_id: str, camera: str, source: str) -> None:
    """The camera entity a camera of Home Assistant takes its pictures from is gone."""
    _async_raise(hass, ISSUE_SOURCE_MISSING, entry_id, ir.IssueSeverity.ERROR, camera=camera, source=source)


@callback
def async_raise_no_analyzer(hass: HomeAssistant, entry_id: str, camera: str, camera_id: str) -> None:
    """Pictures are sent but no analyzer reports for the camera."""
    _async_raise(
        hass, ISSUE_NO_ANALYZER, entry_id, ir.IssueSeverity.WARNING, camera=camera, camera_id=camera_id
    )


@callback
def async_clear(hass: HomeAssistant, kind: str, entry_id: str) -> None:
    """Delete one issue of a camera, if raised."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


@callback
def async_clear_all(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every issue of a camera."""
    for kind in ISSUES:
        async_clear(hass, kind, entry_id)
