"""Binary sensors: one per region, one for the whole camera, and whether its config is applied."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_DETECT
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .entity import RoiWatchEntity
from .protocol import DETECT_MOTION
from .publisher import roi_subentries
from .registry import roi_key

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RoiWatchConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the camera's binary sensors, one per region among them."""
    coordinator = entry.runtime_data
    # Region sensors are added to the entry, not to their region's subentry: the camera's one
    # device lists them all, and a device may belong to one subentry only (registry.py says why).
    async_add_entities(
        [
            DetectedBinarySensor(coordinator),
            ConfigAppliedBinarySensor(coordinator),
            *(RoiBinarySensor(coordinator, subentry) for subentry in roi_subentries(entry)),
        ]
    )


class _DetectionBinarySensor(RoiWatchEntity, BinarySensorEntity):
    """A detection result: unavailable while the detector is offline or in error."""

    @property
    def available(self) -> bool:
        """Available while the detector runs (or is switched off)."""
        return self.coordinator.detector_available

    def _detection(self, value: bool | None) -> bool | None:
        # A switched-off detector detects nothing, whatever its retained topics still say.
        return value if self.coordinator.state.armed else False


class DetectedBinarySensor(_DetectionBinarySensor):
    """Something is detected anywhere in the camera's regions."""

    _attr_device_class = BinarySensorDeviceClass.OCCUPANCY
    _attr_translation_key = "detected"

    def __init__(self, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        super().__init__(coordinator, "detected")

    @property
    def is_on(self) -> bool | None:
        """On while any region detects."""
        return self._detection(self.coordinator.state.detected)


class RoiBinarySensor(_DetectionBinarySensor):
    """One region: occupancy for person regions, motion for motion regions."""

    def __init__(self, coordinator: RoiWatchCoordinator, subentry: ConfigSubentry) -> None:
        """Initialise from the region's subentry; its id is the region id on the wire."""
        super().__init__(coordinator, roi_key(subentry.subentry_id))
        self.roi_id = subentry.subentry_id
        motion = subentry.data[CONF_DETECT] == DETECT_MOTION
        self._attr_device_class = (
            BinarySensorDeviceClass.MOTION if motion else BinarySensorDeviceClass.OCCUPANCY
        )
        self._attr_translation_key = "roi_motion" if motion else "roi_person"
        self._attr_name = subentry.title

    @property
    def is_on(self) -> bool | None:
        """On while the region detects."""
        return self._detection(self.coordinator.state.rois.get(self.roi_id))


class ConfigAppliedBinarySensor(RoiWatchEntity, BinarySensorEntity):
    """The agent runs the latest config revision HA published."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "config_applied"

    def __init__(self, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        super().__init__(coordinator, "config_applied")

    @property
    def available(self) -> bool:
        """Available while the agent is online."""
        return self.coordinator.agent_online

    @property
    def is_on(self) -> bool:
        """On when the running revision is the published one."""
        return self.coordinator.applied
