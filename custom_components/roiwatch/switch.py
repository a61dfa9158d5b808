"""The detection switch of a camera (the retained ``armed`` topic)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import KEY_DETECTION
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .entity import RoiWatchEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RoiWatchConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the detection switch."""
    async_add_entities([DetectionSwitch(entry.runtime_data)])


class DetectionSwitch(RoiWatchEntity, SwitchEntity):
    """Detection on/off; its state is the retained armed topic (no message means on)."""

    _attr_translation_key = "detection"

    def __init__(self, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        super().__init__(coordinator, KEY_DETECTION)

    @property
    def is_on(self) -> bool:
        """Whether detection is switched on."""
        return self.coordinator.data.armed

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch detection on."""
        await self.coordinator.async_set_armed(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch detection off."""
        await self.coordinator.async_set_armed(False)
