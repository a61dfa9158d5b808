"""Keeps the device and entity registries in the shape RoiWatch uses, on every supported release.

The shape: one device per camera, and that device and every entity of the camera (its regions'
binary sensors included) belong to the camera's config entry itself, not to a region's
subentry. Since Home Assistant 2026.8 a device belongs to at most one config subentry, so a
camera device shared by entities of several subentries would move from subentry to subentry,
and Home Assistant deletes the entities of each subentry the device leaves. Keeping regions
out of the device's subentry keeps one device page listing every region; the price is that
RoiWatch removes a deleted region's entity itself (:func:`async_remove_stale_regions`).

RoiWatch 0.1.0 added region sensors to their subentries; :func:`async_adopt_registry` moves them
(and the device, which Home Assistant's 2026.8 registry migration put into one of the regions'
subentries) back to the entry before any entity is added, so every entity id, name and user
setting survives the upgrade, whichever Home Assistant release the old registry was written by.
"""

from __future__ import annotations

import logging

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .const import CONF_CAMERA_ID, DOMAIN
from .regions import roi_key, roi_subentries

_LOGGER = logging.getLogger(__name__)


def unique_id(camera_id: str, key: str) -> str:
    """The unique id of the camera's entity named ``key``."""
    return f"{camera_id}_{key}"


@callback
def async_camera_device(hass: HomeAssistant, entry: ConfigEntry) -> dr.DeviceEntry | None:
    """The camera's device, if registered."""
    identifier = (DOMAIN, entry.data[CONF_CAMERA_ID])
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
            if identifier in device.identifiers
        ),
        None,
    )


@callback
def async_adopt_registry(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Move the camera's entities, then its device, out of any region subentry."""
    entities = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(entities, entry.entry_id):
        if entity.config_subentry_id is not None:
            # Entities first: a device leaving a subentry takes that subentry's entities along.
            entities.async_update_entity(entity.entity_id, config_subentry_id=None)
            _LOGGER.debug("Moved %s from its region subentry to camera %s", entity.entity_id, entry.title)
    if (device := async_camera_device(hass, entry)) is None:
        return
    devices = dr.async_get(hass)
    if hasattr(device, "config_subentry_id"):
        # Home Assistant 2026.8 and newer: a device belongs to one subentry (or none).
        if device.config_subentry_id is not None:
            # Typed against the oldest release, which lacks the argument.
            devices.async_update_device(device.id, new_config_subentry_id=None)  # type: ignore[call-arg,unused-ignore]
        return
    # Older releases: a device may belong to several subentries of the entry at once.
    subentries = device.config_entries_subentries.get(entry.entry_id, set())
    if None not in subentries:
        devices.async_update_device(
            device.id, add_config_entry_id=entry.entry_id, add_config_subentry_id=None
        )
    for subentry_id in subentries - {None}:
        devices.async_update_device(
            device.id, remove_config_entry_id=entry.entry_id, remove_config_subentry_id=subentry_id
        )


@callback
def async_remove_stale_regions(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove the entities of regions that no longer exist (deleted in the flows or the API)."""
    camera_id: str = entry.data[CONF_CAMERA_ID]
    wanted = {unique_id(camera_id, roi_key(s.subentry_id)) for s in roi_subentries(entry)}
    prefix = unique_id(camera_id, roi_key(""))
    entities = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(entities, entry.entry_id):
        if entity.unique_id.startswith(prefix) and entity.unique_id not in wanted:
            _LOGGER.info("Region of %s removed: removing %s", entry.title, entity.entity_id)
            entities.async_remove(entity.entity_id)
