"""The camera's one device: what it says about the camera, registered before any entity."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import CONF_CAMERA_ID, CONF_KIND, DOMAIN, KIND_HA, MANUFACTURER, MODELS


def camera_device_info(entry: ConfigEntry) -> dr.DeviceInfo:
    """The device of a camera entry; every entity of the camera names it."""
    kind: str = entry.data[CONF_KIND]
    return dr.DeviceInfo(
        identifiers={(DOMAIN, entry.data[CONF_CAMERA_ID])},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model=MODELS[kind],
        model_id=kind,
    )


def camera_model(kind: str, host: str = "") -> str:
    """The device's model, naming where the camera is analysed if the announce says (its host)."""
    # A camera of Home Assistant announces itself: its host says nothing its model does not.
    return f"{MODELS[kind]} ({host})" if host and kind != KIND_HA else MODELS[kind]


@callback
def async_register_camera_device(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """Create (or update) the camera's device; returns its id."""
    devices = dr.async_get(hass)
    return devices.async_get_or_create(config_entry_id=entry.entry_id, **camera_device_info(entry)).id


@callback
def async_set_model(hass: HomeAssistant, device_id: str, model: str) -> None:
    """Where the camera is analysed, as its announce says."""
    dr.async_get(hass).async_update_device(device_id, model=model)


@callback
def async_set_sw_version(hass: HomeAssistant, device_id: str, version: str) -> None:
    """The agent version the camera reports."""
    dr.async_get(hass).async_update_device(device_id, sw_version=version)
