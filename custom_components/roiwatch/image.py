"""The last detection picture of a camera (the retained ``snapshot`` topic)."""

from __future__ import annotations

from datetime import datetime

from homeassistant.components.image import ImageEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import KEY_LAST_DETECTION
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
    _attr_translation_key = KEY_LAST_DETECTION

    def __init__(self, hass: HomeAssistant, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        RoiWatchEntity.__init__(self, coordinator, KEY_LAST_DETECTION)
        ImageEntity.__init__(self, hass)

    @property
    def image_last_updated(self) -> datetime | None:
        """When the picture arrived (the entity's state)."""
        snapshot = self.coordinator.data.snapshot
        return None if snapshot is None else snapshot.at

    async def async_image(self) -> bytes | None:
        """The picture, already checked by the protocol module."""
        snapshot = self.coordinator.data.snapshot
        return None if snapshot is None else snapshot.picture
