"""Diagnostics download of a camera, credentials redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator

TO_REDACT = {"password", "username", "token", "access_token", "api_key", "secret", "credentials"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: RoiWatchConfigEntry
) -> dict[str, Any]:
    """The entry with its regions, the camera's last messages and the published config."""
    coordinator = entry.runtime_data
    published = coordinator.publisher.config
    state = asdict(coordinator.data)
    snapshot = coordinator.data.snapshot
    del state["snapshot"]
    state["snapshot_bytes"] = None if snapshot is None else len(snapshot.picture)
    state["snapshot_at"] = None if snapshot is None else snapshot.at.isoformat()
    return async_redact_data(
        {
            "entry": entry.as_dict(),
            "camera": {
                **state,
                "mqtt_connected": coordinator.mqtt_connected,
                "detection_state": coordinator.detection_state,
                "detector_available": coordinator.detector_available,
                "applied": coordinator.applied,
            },
            "live_preview": {
                "possible": coordinator.preview_possible,
                **asdict(coordinator.preview.counts),
            },
            "published_config": None if published is None else published.to_wire(),  # as on the wire
            "ha_camera": _ha_camera(coordinator),
        },
        TO_REDACT,
    )


def _ha_camera(coordinator: RoiWatchCoordinator) -> dict[str, Any] | None:
    """A camera of Home Assistant: its source, how it does, and the rates of its pictures."""
    camera = coordinator.ha_camera
    if camera is None:
        return None
    pump = camera.pump
    return {
        "source_entity_id": camera.source,
        "source_state": pump.state,
        "error": pump.error,
        "sending": pump.running,
        **pump.rates(),
        **asdict(pump.counts),
    }
