"""Base entity of RoiWatch: one device per camera, state pushed by its coordinator."""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.entity import Entity

from .coordinator import RoiWatchCoordinator
from .registry import unique_id


class RoiWatchEntity(Entity):
    """An entity of a camera; available while HA is connected to the broker."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, coordinator: RoiWatchCoordinator, key: str) -> None:
        """Initialise the entity; ``key`` makes its unique id within the camera."""
        self.coordinator = coordinator
        self._attr_unique_id = unique_id(coordinator.camera_id, key)
        self._attr_device_info = coordinator.device_info

    async def async_added_to_hass(self) -> None:
        """Follow the coordinator."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.async_add_listener(self._handle_coordinator_update))

    @callback
    def _handle_coordinator_update(self) -> None:
        self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Available while connected to the broker."""
        return self.coordinator.mqtt_connected
