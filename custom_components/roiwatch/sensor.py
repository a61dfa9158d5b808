"""Diagnostic sensors of a camera: detection state, frame rate, restarts, running revision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

from .const import CONF_SOURCE, KEY_DETECTION_STATE, KEY_FPS, KEY_RESTARTS, KEY_RUNNING_REVISION, KEY_SOURCE
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .entity import RoiWatchEntity
from .ha_camera import HaCamera
from .protocol import STATES, Status
from .pump import SOURCE_STATES

ATTR_SOURCE = CONF_SOURCE
ATTR_ERROR = "error"

PARALLEL_UPDATES = 0


def _status_value(read: Callable[[Status], StateType]) -> Callable[[RoiWatchCoordinator], StateType]:
    def value(coordinator: RoiWatchCoordinator) -> StateType:
        status = coordinator.data.status
        return None if status is None else read(status)

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
        value_fn=_status_value(lambda s: s.fps),
    ),
    RoiWatchSensorDescription(
        key=KEY_RESTARTS,
        translation_key=KEY_RESTARTS,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status_value(lambda s: s.restarts),
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
    """Add the diagnostic sensors; a camera of Home Assistant also says how its source does."""
    coordinator = entry.runtime_data
    async_add_entities(RoiWatchSensor(coordinator, description) for description in SENSORS)
    if coordinator.ha_camera is not None:
        async_add_entities([SourceSensor(coordinator, coordinator.ha_camera)])


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


class SourceSensor(RoiWatchEntity, SensorEntity):
    """A camera of Home Assistant: whether its source entity gives pictures, and if not why."""

    _attr_device_class = SensorDeviceClass.ENUM
    _attr_options = list(SOURCE_STATES)
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = KEY_SOURCE

    def __init__(self, coordinator: RoiWatchCoordinator, camera: HaCamera) -> None:
        """Initialise."""
        super().__init__(coordinator, KEY_SOURCE)
        self._camera = camera

    @property
    def available(self) -> bool:
        """Always: it says itself what is wrong."""
        return True

    @property
    def native_value(self) -> str:
        """ok, paused (disarmed or MQTT down), unavailable, missing or failing."""
        return self._camera.pump.state

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The source entity, and why it gives no picture."""
        return {ATTR_SOURCE: self._camera.source, ATTR_ERROR: self._camera.pump.error}
