"""RoiWatch: people and motion detection in regions of camera pictures, over MQTT."""

from __future__ import annotations

import logging

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady, HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from . import issues, registry, websocket_api
from .const import BASE_TOPIC, CONF_CAMERA_ID, CONF_KIND, DOMAIN, KIND_HA
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator, camera_layout
from .panel import async_setup_panel
from .protocol import Topics
from .publisher import async_remove_store

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CAMERA,
    Platform.IMAGE,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Once, whatever the cameras: the region editor's websocket API and its panel."""
    websocket_api.async_register(hass)
    await async_setup_panel(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: RoiWatchConfigEntry) -> bool:
    """Set up a camera: subscribe to its topics, publish its config, add its entities."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_available")
    # Before any entity is added: entities of 0.1.0 and of removed regions.
    registry.async_adopt_registry(hass, entry)
    registry.async_remove_stale_regions(hass, entry)
    coordinator = RoiWatchCoordinator(hass, entry)
    coordinator.async_register_device()
    entry.runtime_data = coordinator
    # Listen before the first publish: a region saved while we set up must not be missed.
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    await coordinator.async_start()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if camera_layout(entry) != coordinator.layout:
        # Renamed while the platforms were being set up: the device and entity names are stale.
        hass.config_entries.async_schedule_reload(entry.entry_id)
    return True


async def _async_update_listener(hass: HomeAssistant, entry: RoiWatchConfigEntry) -> None:
    """Regions or options changed: follow and republish in place; the camera itself: reload.

    A region change touches that region's topic and entity only (binary_sensor.py follows the
    regions); every other entity of the camera keeps its state.
    """
    if camera_layout(entry) != entry.runtime_data.layout:
        # Setup publishes the new config.
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    await entry.runtime_data.async_regions_changed()


async def async_unload_entry(hass: HomeAssistant, entry: RoiWatchConfigEntry) -> bool:
    """Unload a camera."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: RoiWatchConfigEntry) -> None:
    """Clear the camera's retained config and armed state so no agent keeps running it."""
    camera_id: str = entry.data[CONF_CAMERA_ID]
    topics = Topics(BASE_TOPIC)
    retained = [topics.config(camera_id), topics.armed(camera_id)]
    if entry.data[CONF_KIND] == KIND_HA:
        # HA was the camera: its announce must not offer it for discovery again.
        retained += [topics.announce(camera_id), topics.availability(camera_id)]
    if await mqtt.async_wait_for_mqtt_client(hass):
        for topic in retained:
            try:
                await mqtt.async_publish(hass, topic, "", qos=1, retain=True)
            except HomeAssistantError as err:
                _LOGGER.warning("Could not clear %s of removed camera: %s", topic, err)
    else:
        _LOGGER.warning(
            "MQTT is not available: the retained config of removed camera %s stays on the broker",
            camera_id,
        )
    issues.async_clear_all(hass, entry.entry_id)
    await async_remove_store(hass, entry.entry_id)
