"""Websocket API of the region editor panel: the cameras (listed or pushed), save and delete regions.

Contract (the panel codes against exactly this)::

    roiwatch/cameras {}                                                        (admin)
     -> {"cameras": [{"entry_id", "title", "camera_id", "kind", "loaded": bool,
           "revision": int|null  (the config revision HA last published; null if not loaded),
           "running_revision": int|null  (the revision the camera reports running),
           "entities": {"camera", "applied", "running_revision", "state": entity_id|null},
           "regions": [{"id", "name", "detect", "points": [[x, y], ...] (fractions 0..1),
                        "sensitivity", "off_delay", "entity_id": entity_id|null}]}],
         "limits": {"max_regions", "min_points", "max_points", "name_max", "detect": [...],
                    "sensitivity": {"min", "max", "step"}, "off_delay": {"min", "max", "step"}}
                   (protocol.panel_limits(): step 1 takes whole numbers, null any number),
         "defaults": {"detect", "sensitivity", "off_delay"}  (of a new region)}
    roiwatch/subscribe_cameras {}                                              (admin)
     -> result null, then an event with what roiwatch/cameras answers, at once and again each
        time any of it changes (a camera added, removed, loaded or unloaded, a region saved or
        deleted, an entity id, the published or the running revision); never twice the same.
        Unsubscribing (or closing the connection) leaves no listener behind.
    roiwatch/region/save {"entry_id", "region_id"? (absent: create), "name", "detect",
                          "points", "sensitivity", "off_delay"}                (admin)
     -> saved:   {"region_id", "revision"}
     -> refused: {"errors": {field: error_key}, "messages": {field: English text}}, nothing changed
    roiwatch/region/delete {"entry_id", "region_id"}                           (admin)
     -> {"revision"}
    errors: not_found (unknown camera or region), unauthorized (not an admin),
            invalid_format (malformed message)

``revision`` of save/delete is the config revision published with the change (a save that
changes nothing answers the current one); null when the camera is not loaded (its config goes
out when it loads) or the change was not published within PUBLISH_TIMEOUT. A refusal's fields
are name, detect, points, sensitivity, off_delay or base; its keys are those of
``config_subentries.roi.error`` in strings.json, the rules the region flows apply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import voluptuous as vol
from homeassistant.components import websocket_api
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
    ConfigSubentry,
)
from homeassistant.const import CONF_NAME, Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.translation import async_get_translations

from .const import (
    CONF_CAMERA_ID,
    CONF_DETECT,
    CONF_KIND,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    CONF_SOURCE,
    DOMAIN,
    KEY_CONFIG_APPLIED,
    KEY_DETECTION_STATE,
    KEY_PREVIEW,
    KEY_RUNNING_REVISION,
    KIND_HA,
    SUBENTRY_ROI,
)
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .protocol import (
    DETECT_PERSON,
    MAX_POINTS,
    OFF_DELAY,
    SENSITIVITY,
    CameraConfig,
    ProtocolError,
    RoiConfig,
    panel_limits,
)
from .regions import check_region, region_limit_reached, roi_config, roi_key, roi_subentries
from .registry import unique_id

_LOGGER = logging.getLogger(__name__)

# How long a save waits for its change to be published (the entry reloads when entities change).
PUBLISH_TIMEOUT: Final = 30.0

# The camera's entities the panel links to: (platform, key of registry.unique_id).
ENTITIES: Final = {
    "camera": (Platform.CAMERA, KEY_PREVIEW),
    "applied": (Platform.BINARY_SENSOR, KEY_CONFIG_APPLIED),
    "running_revision": (Platform.SENSOR, KEY_RUNNING_REVISION),
    "state": (Platform.SENSOR, KEY_DETECTION_STATE),
}

# What the panel fills in for a new region (the region flow's defaults).
DEFAULTS: Final = {
    CONF_DETECT: DETECT_PERSON,
    CONF_SENSITIVITY: SENSITIVITY.default,
    CONF_OFF_DELAY: OFF_DELAY.default,
}


def _number(value: Any) -> float:
    """A JSON number (not a boolean); ranges are rules, checked with the other rules."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid("expected a number")
    return value


# The shape of a message; what its values mean is checked by the region rules (field errors).
# Points: at most MAX_POINTS + 1 pairs get through, so "too many" is a rule, not a huge list.
POINT: Final = vol.All(vol.ExactSequence([_number, _number]), list)
REGION_FIELDS: Final[dict[str | vol.Marker, Any]] = {
    vol.Required(CONF_NAME): str,
    vol.Required(CONF_DETECT): str,
    vol.Required(CONF_POINTS): vol.All([POINT], vol.Length(max=MAX_POINTS + 1)),
    vol.Required(CONF_SENSITIVITY): _number,
    vol.Required(CONF_OFF_DELAY): _number,
}


@callback
def async_register(hass: HomeAssistant) -> None:
    """Register the commands (once, in async_setup)."""
    websocket_api.async_register_command(hass, ws_cameras)
    websocket_api.async_register_command(hass, ws_subscribe_cameras)
    websocket_api.async_register_command(hass, ws_save_region)
    websocket_api.async_register_command(hass, ws_delete_region)


# ---------------------------------------------------------------------------- lookups


def _camera(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> ConfigEntry | None:
    """The camera entry named by the message; answers not_found (and logs) if there is none."""
    entry = hass.config_entries.async_get_entry(msg["entry_id"])
    if entry is None or entry.domain != DOMAIN:
        _LOGGER.info("Region editor: no camera with entry id %s (%s)", msg["entry_id"], msg["type"])
        connection.send_error(msg["id"], websocket_api.ERR_NOT_FOUND, "Unknown camera")
        return None
    return entry


def _region(
    connection: websocket_api.ActiveConnection, msg: dict[str, Any], entry: ConfigEntry
) -> ConfigSubentry | None:
    """The region named by the message; answers not_found (and logs) if the camera lacks it."""
    subentry = entry.subentries.get(msg["region_id"])
    if subentry is None or subentry.subentry_type != SUBENTRY_ROI:
        _LOGGER.info(
            "Region editor: camera %s has no region %s (%s)", entry.title, msg["region_id"], msg["type"]
        )
        connection.send_error(msg["id"], websocket_api.ERR_NOT_FOUND, "Unknown region")
        return None
    return subentry


def _coordinator(entry: ConfigEntry) -> RoiWatchCoordinator | None:
    if entry.state is not ConfigEntryState.LOADED:
        return None
    coordinator: RoiWatchCoordinator = entry.runtime_data
    return coordinator


def _describe(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any]:
    registry = er.async_get(hass)
    camera_id: str = entry.data[CONF_CAMERA_ID]

    def entity_id(platform: str, key: str) -> str | None:
        return registry.async_get_entity_id(platform, DOMAIN, unique_id(camera_id, key))

    coordinator = _coordinator(entry)
    return {
        "entry_id": entry.entry_id,
        "title": entry.title,
        "camera_id": camera_id,
        "kind": entry.data[CONF_KIND],
        "loaded": coordinator is not None,
        "revision": None if coordinator is None else coordinator.publisher.revision,
        # From the agent's status: the panel's "applied" must not need a disabled-by-default sensor.
        "running_revision": None if coordinator is None else coordinator.running_revision,
        "entities": {name: entity_id(*where) for name, where in ENTITIES.items()}
        # A camera of Home Assistant: its live picture is its source entity's.
        | ({"camera": entry.data[CONF_SOURCE]} if entry.data[CONF_KIND] == KIND_HA else {}),
        "regions": [
            {
                **_region_fields(subentry),
                "entity_id": entity_id(Platform.BINARY_SENSOR, roi_key(subentry.subentry_id)),
            }
            for subentry in roi_subentries(entry)
        ],
    }


def _wire_form(subentry: ConfigSubentry) -> RoiConfig | None:
    """The region as the published config has it; None if it breaks a rule (never published)."""
    try:
        return roi_config(subentry)
    except ProtocolError:
        return None


def _region_fields(subentry: ConfigSubentry) -> dict[str, Any]:
    """A region as the published config has it; as stored if it breaks a rule, to be fixed."""
    if (roi := _wire_form(subentry)) is not None:
        return roi.to_wire()
    return {"id": subentry.subentry_id, "name": subentry.title, **subentry.data}


def _listing(hass: HomeAssistant) -> dict[str, Any]:
    """What roiwatch/cameras answers and roiwatch/subscribe_cameras pushes."""
    cameras = [_describe(hass, entry) for entry in hass.config_entries.async_entries(DOMAIN)]
    return {"cameras": cameras, "limits": panel_limits(), "defaults": DEFAULTS}


@dataclass
class _CameraFeed:
    """Sends the listing whenever it changes, from HA's own signals: no polling.

    The config entries (cameras added, removed, reloaded; regions saved: a subentry change
    updates its entry), the entity registry (a region's entity id) and each loaded camera's
    coordinator (the published and the running revision). A listing equal to the last one
    sent is not sent again (the coordinator calls on every detection).
    """

    hass: HomeAssistant
    send: Callable[[dict[str, Any]], None]
    _sent: dict[str, Any] | None = None
    _removers: list[CALLBACK_TYPE] = field(default_factory=list)
    # entry_id -> (the coordinator followed, its listener's remover); a reload makes a new one.
    _followed: dict[str, tuple[RoiWatchCoordinator, CALLBACK_TYPE]] = field(default_factory=dict)

    @callback
    def async_start(self) -> None:
        self._removers = [
            async_dispatcher_connect(self.hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._entry_changed),
            self.hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, self._registry_updated),
        ]
        self._refresh()

    @callback
    def async_stop(self) -> None:
        for remove in self._removers:
            remove()
        for _, remove in self._followed.values():
            remove()
        self._removers.clear()
        self._followed.clear()

    @callback
    def _entry_changed(self, _change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.domain == DOMAIN:
            self._refresh()

    @callback
    def _registry_updated(self, _event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        self._refresh()

    @callback
    def _follow(self) -> None:
        """Listen to the coordinator of each loaded camera, and to nothing else."""
        current = {
            entry.entry_id: coordinator
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            if (coordinator := _coordinator(entry)) is not None
        }
        for entry_id, (coordinator, remove) in list(self._followed.items()):
            if current.get(entry_id) is not coordinator:
                remove()
                del self._followed[entry_id]
        for entry_id, coordinator in current.items():
            if entry_id not in self._followed:
                self._followed[entry_id] = (coordinator, coordinator.async_add_listener(self._refresh))

    @callback
    def _refresh(self) -> None:
        self._follow()
        listing = _listing(self.hass)
        if listing != self._sent:
            self._sent = listing
            self.send(listing)


# ---------------------------------------------------------------------------- publishing


async def _async_published(entry: RoiWatchConfigEntry, done: Callable[[CameraConfig], bool]) -> int | None:
    """The revision of the first config built for the camera for which ``done`` holds.

    Call it right after the change, if the camera was loaded before it (else None: its setup
    publishes the config). The entry's update listener publishes the change, or reloads the
    entry (which publishes it) when the change adds, removes or renames an entity; this waits
    for either.
    """
    changed = asyncio.Event()
    watched: RoiWatchCoordinator | None = None
    removers = [entry.async_on_state_change(changed.set)]
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            while True:
                if (coordinator := _coordinator(entry)) is not None:
                    if coordinator is not watched:  # a reload makes a new coordinator
                        watched = coordinator
                        removers.append(coordinator.async_add_listener(changed.set))
                    config = coordinator.publisher.config
                    if config is not None and done(config):
                        return coordinator.publisher.revision
                changed.clear()
                await changed.wait()
    except TimeoutError:
        _LOGGER.warning(
            "Region editor: the change to camera %s was not published within %s s",
            entry.title,
            PUBLISH_TIMEOUT,
        )
        return None
    finally:
        for remove in removers:
            remove()


def _has(roi: RoiConfig) -> Callable[[CameraConfig], bool]:
    return lambda config: roi in config.rois


def _lacks(region_id: str) -> Callable[[CameraConfig], bool]:
    return lambda config: all(r.id != region_id for r in config.rois)


async def _async_messages(hass: HomeAssistant, errors: dict[str, str]) -> dict[str, str]:
    """The English text of each error, as the region form shows it."""
    texts = await async_get_translations(hass, "en", "config_subentries", [DOMAIN])
    prefix = f"component.{DOMAIN}.config_subentries.{SUBENTRY_ROI}.error."
    return {field: texts.get(prefix + key, key) for field, key in errors.items()}


# ---------------------------------------------------------------------------- commands


@websocket_api.require_admin
@websocket_api.websocket_command({vol.Required("type"): "roiwatch/cameras"})
@callback
def ws_cameras(hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]) -> None:
    """Every camera with its regions, entities and published revision; the editor's limits."""
    connection.send_result(msg["id"], _listing(hass))


@websocket_api.require_admin
@websocket_api.websocket_command({vol.Required("type"): "roiwatch/subscribe_cameras"})
@callback
def ws_subscribe_cameras(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """The listing of roiwatch/cameras now and on every change, until unsubscribed."""
    feed = _CameraFeed(
        hass, lambda listing: connection.send_message(websocket_api.event_message(msg["id"], listing))
    )
    connection.subscriptions[msg["id"]] = feed.async_stop
    connection.send_result(msg["id"])
    feed.async_start()


@websocket_api.require_admin
@websocket_api.websocket_command(
    {
        vol.Required("type"): "roiwatch/region/save",
        vol.Required("entry_id"): str,
        vol.Optional("region_id"): str,
        **REGION_FIELDS,
    }
)
@websocket_api.async_response
async def ws_save_region(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Create (no region_id) or update a region: its config subentry, as the flows do."""
    if (entry := _camera(hass, connection, msg)) is None:
        return
    editing: ConfigSubentry | None = None
    if "region_id" in msg and (editing := _region(connection, msg, entry)) is None:
        return
    errors: dict[str, str] = {}
    if editing is None and region_limit_reached(entry):
        errors["base"] = "max_regions"
    title, data = check_region(entry, msg, None if editing is None else editing.subentry_id, errors)
    if errors:
        _LOGGER.info(
            "Region editor: region %r of camera %s not saved: %s",
            msg[CONF_NAME],
            entry.title,
            ", ".join(f"{field}: {key}" for field, key in errors.items()),
        )
        connection.send_result(msg["id"], {"errors": errors, "messages": await _async_messages(hass, errors)})
        return
    loaded = entry.state is ConfigEntryState.LOADED
    if editing is None:
        subentry = ConfigSubentry(
            data=MappingProxyType(data), subentry_type=SUBENTRY_ROI, title=title, unique_id=None
        )
        hass.config_entries.async_add_subentry(entry, subentry)
        _LOGGER.info("Region editor: added region %s to camera %s", title, entry.title)
    else:
        subentry = editing
        if hass.config_entries.async_update_subentry(entry, editing, title=title, data=data):
            _LOGGER.info("Region editor: changed region %s of camera %s", title, entry.title)
    # A region whose id the protocol refuses is never published (the publisher logs it).
    roi = _wire_form(entry.subentries[subentry.subentry_id])
    revision = await _async_published(entry, _has(roi)) if loaded and roi is not None else None
    connection.send_result(msg["id"], {"region_id": subentry.subentry_id, "revision": revision})


@websocket_api.require_admin
@websocket_api.websocket_command(
    {
        vol.Required("type"): "roiwatch/region/delete",
        vol.Required("entry_id"): str,
        vol.Required("region_id"): str,
    }
)
@websocket_api.async_response
async def ws_delete_region(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Delete a region (its subentry); its entity goes when the entry reloads."""
    if (entry := _camera(hass, connection, msg)) is None:
        return
    if (subentry := _region(connection, msg, entry)) is None:
        return
    loaded = entry.state is ConfigEntryState.LOADED
    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    _LOGGER.info("Region editor: deleted region %s of camera %s", subentry.title, entry.title)
    revision = await _async_published(entry, _lacks(subentry.subentry_id)) if loaded else None
    connection.send_result(msg["id"], {"revision": revision})
