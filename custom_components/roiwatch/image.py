"""The last detection picture of a camera (the retained ``snapshot`` topic)."""

from __future__ import annotations

from datetime import datetime

from homeassistant.components.image import ImageEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .entity import RoiWatchEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RoiWatchConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the last detection picture."""
    async_add_entities([LastDetectionImage(hass, entry.runtime_data)])


class LastDetectionImage(RoiWatchEntity, ImageEntity):
    """The JPEG the agent published with its last detection."""

    _attr_content_type = "image/jpeg"
    _attr_translation_key = "last_detection"

    def __init__(self, hass: HomeAssistant, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        RoiWatchEntity.__init__(self, coordinator, "last_detection")
        ImageEntity.__init__(self, hass)

    @property
    def image_last_updated(self) -> datetime | None:
        """When the picture arrived (the entity's state)."""
        return self.coordinator.state.snapshot_at

    async def async_image(self) -> bytes | None:
        """The picture, already checked by the protocol module."""
        return self.coordinator.state.snapshot
