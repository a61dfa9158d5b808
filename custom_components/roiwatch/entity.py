"""Base entity of RoiWatch: one device per camera, state pushed by its coordinator."""

from __future__ import annotations

from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import RoiWatchCoordinator
from .registry import unique_id


class RoiWatchEntity(CoordinatorEntity[RoiWatchCoordinator]):
    """An entity of a camera; available while HA is connected to the broker."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: RoiWatchCoordinator, key: str) -> None:
        """Initialise the entity; ``key`` makes its unique id within the camera."""
        super().__init__(coordinator)
        self._attr_unique_id = unique_id(coordinator.camera_id, key)
        self._attr_device_info = coordinator.device_info

    @property
    def available(self) -> bool:
        """Available while connected to the broker (pushed state: no failed update to report)."""
        return self.coordinator.mqtt_connected
