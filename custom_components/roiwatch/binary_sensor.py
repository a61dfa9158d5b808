"""Binary sensors: one per region, one for the whole camera, and whether its config is applied.

Region sensors follow the camera's regions while it runs: a new region's sensor is added, a
renamed region's sensor renamed (its entity id kept, as Home Assistant keeps entity ids), a
deleted region's sensor removed with its registry entry; the camera's other entities stay.
"""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import KEY_CONFIG_APPLIED, KEY_DETECTED
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .entity import RoiWatchEntity
from .regions import TRANSLATION_KEY_MOTION, TRANSLATION_KEY_PERSON, is_motion, roi_key, roi_subentries
from .registry import async_remove_stale_regions

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RoiWatchConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the camera's binary sensors, then follow its regions."""
    coordinator = entry.runtime_data
    async_add_entities([DetectedBinarySensor(coordinator), ConfigAppliedBinarySensor(coordinator)])
    added: set[str] = set()

    @callback
    def follow_regions() -> None:
        regions = {s.subentry_id: s for s in roi_subentries(entry)}
        async_remove_stale_regions(hass, entry)
        # Added to the entry, not to their region's subentry: the camera's one device lists
        # them all, and a device may belong to one subentry only (registry.py says why).
        async_add_entities(RoiBinarySensor(coordinator, s) for i, s in regions.items() if i not in added)
        added.clear()
        added.update(regions)

    follow_regions()
    entry.async_on_unload(coordinator.async_add_region_listener(follow_regions))


class _DetectionBinarySensor(RoiWatchEntity, BinarySensorEntity):
    """A detection result: unavailable while the detector is offline or in error."""

    @property
    def available(self) -> bool:
        """Available while the detector runs (or is switched off)."""
        return self.coordinator.detector_available

    def _detection(self, value: bool | None) -> bool | None:
        # A switched-off detector detects nothing, whatever its retained topics still say.
        return value if self.coordinator.data.armed else False


class DetectedBinarySensor(_DetectionBinarySensor):
    """Something is detected anywhere in the camera's regions."""

    _attr_device_class = BinarySensorDeviceClass.OCCUPANCY
    _attr_translation_key = KEY_DETECTED

    def __init__(self, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        super().__init__(coordinator, KEY_DETECTED)

    @property
    def is_on(self) -> bool | None:
        """On while any region detects."""
        return self._detection(self.coordinator.data.detected)


class RoiBinarySensor(_DetectionBinarySensor):
    """One region: occupancy for person regions, motion for motion regions."""

    def __init__(self, coordinator: RoiWatchCoordinator, subentry: ConfigSubentry) -> None:
        """Initialise from the region's subentry; its id is the region id on the wire."""
        super().__init__(coordinator, roi_key(subentry.subentry_id))
        self.roi_id = subentry.subentry_id
        self._follow(subentry)

    def _follow(self, subentry: ConfigSubentry) -> bool:
        """Take the region's name and kind; whether they changed."""
        motion = is_motion(subentry)
        device_class = BinarySensorDeviceClass.MOTION if motion else BinarySensorDeviceClass.OCCUPANCY
        if getattr(self, "_attr_name", None) == subentry.title and self._attr_device_class == device_class:
            return False
        self._attr_device_class = device_class
        self._attr_translation_key = TRANSLATION_KEY_MOTION if motion else TRANSLATION_KEY_PERSON
        self._attr_name = subentry.title
        return True

    async def async_added_to_hass(self) -> None:
        """Follow the coordinator's state, and the region's subentry."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.async_add_region_listener(self._region_changed))

    @callback
    def _region_changed(self) -> None:
        if (subentry := self.coordinator.config_entry.subentries.get(self.roi_id)) is None:
            return  # the region is gone: its registry entry is being removed, and this entity with it
        if not self._follow(subentry):
            return
        if self.registry_entry is not None:
            # What a re-added entity would write; the entity id stays, so automations keep working.
            er.async_get(self.hass).async_update_entity(
                self.entity_id,
                original_name=self._attr_name,
                original_device_class=self._attr_device_class,
                translation_key=self._attr_translation_key,
            )
        self.async_write_ha_state()

    @property
    def is_on(self) -> bool | None:
        """On while the region detects."""
        return self._detection(self.coordinator.data.rois.get(self.roi_id))


class ConfigAppliedBinarySensor(RoiWatchEntity, BinarySensorEntity):
    """The agent runs the latest config revision HA published."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = KEY_CONFIG_APPLIED

    def __init__(self, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        super().__init__(coordinator, KEY_CONFIG_APPLIED)

    @property
    def available(self) -> bool:
        """Available while the agent is online."""
        return self.coordinator.agent_online

    @property
    def is_on(self) -> bool:
        """On when the running revision is the published one."""
        return self.coordinator.applied
