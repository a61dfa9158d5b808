"""Repair issues of a camera: config not applied in time, agent reporting an error."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

ISSUE_NOT_APPLIED = "config_not_applied"
ISSUE_AGENT_ERROR = "agent_error"


def issue_id(kind: str, entry_id: str) -> str:
    """The id of one kind of issue of one camera."""
    return f"{kind}_{entry_id}"


@callback
def async_raise_not_applied(
    hass: HomeAssistant, entry_id: str, camera: str, revision: int, running: int | None
) -> None:
    """The agent has not run the latest revision in time."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(ISSUE_NOT_APPLIED, entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_NOT_APPLIED,
        translation_placeholders={
            "camera": camera,
            "revision": str(revision),
            "running": "none" if running is None else str(running),
        },
    )


@callback
def async_raise_agent_error(hass: HomeAssistant, entry_id: str, camera: str, error: str) -> None:
    """The agent reports an error (a refused config, a broken video source...)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(ISSUE_AGENT_ERROR, entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_AGENT_ERROR,
        translation_placeholders={"camera": camera, "error": error},
    )


@callback
def async_clear(hass: HomeAssistant, kind: str, entry_id: str) -> None:
    """Delete one issue of a camera, if raised."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


@callback
def async_clear_all(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every issue of a camera."""
    for kind in (ISSUE_NOT_APPLIED, ISSUE_AGENT_ERROR):
        async_clear(hass, kind, entry_id)
