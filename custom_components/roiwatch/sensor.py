"""Diagnostic sensors of a camera: detection state, frame rate, restarts, running revision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import KEY_DETECTION_STATE, KEY_FPS, KEY_RESTARTS, KEY_RUNNING_REVISION
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .entity import RoiWatchEntity
from .protocol import STATES

PARALLEL_UPDATES = 0


def _status_value(key: str) -> Callable[[RoiWatchCoordinator], StateType]:
    def value(coordinator: RoiWatchCoordinator) -> StateType:
        status = coordinator.data.status
        return None if status is None else status[key]

    return value


@dataclass(frozen=True, kw_only=True)
class RoiWatchSensorDescription(SensorEntityDescription):
    """How a sensor reads the camera state."""

    value_fn: Callable[[RoiWatchCoordinator], StateType]
    available_fn: Callable[[RoiWatchCoordinator], bool] = lambda c: c.agent_online


SENSORS: tuple[RoiWatchSensorDescription, ...] = (
    RoiWatchSensorDescription(
        key=KEY_DETECTION_STATE,
        translation_key=KEY_DETECTION_STATE,
        device_class=SensorDeviceClass.ENUM,
        options=list(STATES),
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.detection_state,
        # It says "offline" itself, so it stays available while the broker is reachable.
        available_fn=lambda c: c.mqtt_connected,
    ),
    RoiWatchSensorDescription(
        key=KEY_FPS,
        translation_key=KEY_FPS,
        native_unit_of_measurement="fps",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status_value("fps"),
    ),
    RoiWatchSensorDescription(
        key=KEY_RESTARTS,
        translation_key=KEY_RESTARTS,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status_value("restarts"),
    ),
    RoiWatchSensorDescription(
        key=KEY_RUNNING_REVISION,
        translation_key=KEY_RUNNING_REVISION,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda c: c.running_revision,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RoiWatchConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the diagnostic sensors."""
    async_add_entities(RoiWatchSensor(entry.runtime_data, description) for description in SENSORS)


class RoiWatchSensor(RoiWatchEntity, SensorEntity):
    """A sensor described by a :class:`RoiWatchSensorDescription`."""

    entity_description: RoiWatchSensorDescription

    def __init__(self, coordinator: RoiWatchCoordinator, description: RoiWatchSensorDescription) -> None:
        """Initialise."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """See the description."""
        return self.entity_description.available_fn(self.coordinator)

    @property
    def native_value(self) -> StateType:
        """See the description."""
        return self.entity_description.value_fn(self.coordinator)
