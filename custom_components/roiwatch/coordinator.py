"""The runtime of one camera: its state pushed from MQTT, config publishing and repair issues.

A push :class:`DataUpdateCoordinator`: each message of the camera becomes a new
:class:`CameraState` (``coordinator.data``) and every listener (the entities, the region editor's
subscription) hears it through ``async_add_listener``. Nothing is polled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, TypeAlias

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from . import issues
from .applied import ApplyWatch
from .const import (
    BASE_TOPIC,
    CONF_CAMERA_ID,
    CONF_FPS,
    CONF_KIND,
    CONF_SOURCE,
    DEFAULT_HA_FPS,
    DOMAIN,
    KIND_HA,
)
from .device import (
    async_register_camera_device,
    async_set_model,
    async_set_sw_version,
    camera_device_info,
    camera_model,
)
from .ha_camera import HaCamera
from .preview import LivePreview
from .protocol import (
    OFFLINE,
    ONLINE,
    STATE_ERROR,
    STATE_OFFLINE,
    STATE_RUNNING,
    ProtocolError,
    Status,
    Topics,
    on_off,
)
from .publisher import ConfigPublisher
from .regions import roi_subentries, usable
from .state import KEEP, PARSE, ROI_FIELD, CameraState, TopicField, raw, topic_fields

_LOGGER = logging.getLogger(__name__)

# A TypeAlias, not a `type` statement: ruff targets Python 3.11 for the shared protocol module.
RoiWatchConfigEntry: TypeAlias = ConfigEntry["RoiWatchCoordinator"]


def camera_layout(entry: ConfigEntry) -> tuple[Any, ...]:
    """What the camera's device and entity names depend on; when it changes the entry reloads.

    Regions are not in it: their entities are added, renamed and removed in place.
    """
    return (entry.title, entry.data[CONF_KIND], entry.data.get(CONF_SOURCE))


class RoiWatchCoordinator(DataUpdateCoordinator[CameraState]):
    """Keeps one camera's state from its MQTT topics and pushes it to its listeners."""

    config_entry: RoiWatchConfigEntry

    def __init__(self, hass: HomeAssistant, entry: RoiWatchConfigEntry) -> None:
        """Initialise; :meth:`async_start` subscribes and publishes."""
        super().__init__(hass, _LOGGER, config_entry=entry, name=entry.title, update_interval=None)
        self.data = CameraState()
        self.camera_id: str = entry.data[CONF_CAMERA_ID]
        self.kind: str = entry.data[CONF_KIND]
        self.layout = camera_layout(entry)
        self.topics = Topics(BASE_TOPIC)
        self.publisher = ConfigPublisher(hass, entry, self.topics)
        self.preview = LivePreview(hass, self.topics.preview_request(self.camera_id), self._malformed)
        self.device_info = camera_device_info(entry)
        self._region_topics: dict[str, CALLBACK_TYPE] = {}
        self._regions_lock = asyncio.Lock()
        self.apply_watch = ApplyWatch(hass, entry.entry_id, entry.title, lambda: self.data)
        self._stopped = False
        self._region_listeners: list[CALLBACK_TYPE] = []
        self._was_available: bool | None = None
        self._sw_version: str | None = None
        self._device_id: str | None = None
        self.ha_camera: HaCamera | None = None
        """A camera of Home Assistant: the integration sends its source entity's pictures."""
        if self.kind == KIND_HA:
            self.ha_camera = HaCamera(
                hass,
                entry.entry_id,
                entry.title,
                self.camera_id,
                entry.data[CONF_SOURCE],
                self.topics,
                self.async_update_listeners,
                self._source_renamed,
            )

    async def _async_update_data(self) -> CameraState:
        """Pushed, never fetched: a refresh (e.g. homeassistant.update_entity) keeps what we have."""
        return self.data

    # ------------------------------------------------------------------ lifecycle

    @callback
    def async_register_device(self) -> None:
        """Create (or update) the camera's device before any message can name its version."""
        self._device_id = async_register_camera_device(self.hass, self.config_entry)

    async def async_start(self) -> None:
        """Load the revision, subscribe to the camera's topics and publish its config."""
        entry = self.config_entry
        await self.publisher.async_load()
        subscriptions: list[tuple[str, Callable[[mqtt.ReceiveMessage], None], int]] = [
            (spec.topic(self.topics, self.camera_id), partial(self._on_field, spec), spec.qos)
            for spec in topic_fields(self.camera_id)
        ]
        subscriptions.append((self.topics.preview(self.camera_id), self.preview.on_preview, 0))
        for topic, handler, qos in subscriptions:
            # Raw bytes: the protocol module decodes, so bad UTF-8 is just another bad payload.
            entry.async_on_unload(await mqtt.async_subscribe(self.hass, topic, handler, qos, encoding=None))
        entry.async_on_unload(self._stop)
        await self._async_follow_regions()
        entry.async_on_unload(mqtt.async_subscribe_connection_status(self.hass, self._on_connection))
        entry.async_on_unload(lambda: issues.async_clear_all(self.hass, entry.entry_id))
        await self.async_publish_config()
        if self.ha_camera is not None:
            entry.async_on_unload(self.ha_camera.stop)
            await self.ha_camera.async_start()
            if self.mqtt_connected:
                await self.ha_camera.async_connected()
            self._update_ha_camera()

    async def async_regions_changed(self) -> None:
        """A region was added, changed or removed: follow its topic, then publish the whole config."""
        await self._async_follow_regions()
        await self.async_publish_config()

    async def _async_follow_regions(self) -> None:
        """Subscribe to each region's own topic, and unsubscribe from removed regions' topics.

        One exact topic per region rather than a ``roi/+`` wildcard: HA 2026.x's MQTT client can
        fail on a wildcard that is unsubscribed while its subscribe is still in flight.
        """
        async with self._regions_lock:
            if self._stopped:
                return  # a change that arrived as the camera unloaded: its next setup follows it
            wanted = {s.subentry_id for s in roi_subentries(self.config_entry) if usable(s)}
            for roi_id in set(self._region_topics) - wanted:
                self._region_topics.pop(roi_id)()
            for roi_id in wanted - set(self._region_topics):
                self._region_topics[roi_id] = await mqtt.async_subscribe(
                    self.hass,
                    ROI_FIELD.topic(self.topics, self.camera_id, roi_id),
                    partial(self._on_region, roi_id),
                    ROI_FIELD.qos,
                    encoding=None,
                )
            # A removed region's last state goes with it (the publish that follows notifies).
            self.data = replace(self.data, rois={k: v for k, v in self.data.rois.items() if k in wanted})
        # Before the publish: once the new config is out, the regions' entities match it.
        for region_listener in list(self._region_listeners):
            region_listener()

    @callback
    def async_add_region_listener(self, region_listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``region_listener`` when regions were added, changed or removed; returns the remover."""
        self._region_listeners.append(region_listener)
        return lambda: self._region_listeners.remove(region_listener)

    @callback
    def _stop(self) -> None:
        """Unloading: no subscription or timer may outlive the entry (a late change may still run)."""
        self._stopped = True
        self.apply_watch.stop()
        while self._region_topics:
            self._region_topics.popitem()[1]()

    @callback
    def _async_set(self, **changes: Any) -> None:
        """Take a new state and tell every listener."""
        old = self.data
        self.data = new = replace(old, **changes)  # what the side effects below read
        if new.status is not old.status:
            self._status_changed(new.status)
        if new.announce is not old.announce and new.announce is not None:
            self._update_sw_version(new.announce.version)
            self._update_model(new.announce.host)
        self.async_set_updated_data(new)

    @callback
    def async_update_listeners(self) -> None:
        """Log availability changes once per change, then update the listeners."""
        self._update_ha_camera()
        self._log_availability()
        super().async_update_listeners()

    @callback
    def _source_renamed(self, entity_id: str) -> None:
        """The source entity's id changed: keep the camera on it (the entry reloads)."""
        entry = self.config_entry
        self.hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_SOURCE: entity_id})

    @callback
    def _update_ha_camera(self) -> None:
        """A camera of Home Assistant sends pictures while armed and connected, at its fps."""
        if self.ha_camera is None or self._stopped:
            return
        self.ha_camera.update(
            self.data.armed and self.mqtt_connected,
            float(self.config_entry.options.get(CONF_FPS, DEFAULT_HA_FPS)),
            self.data.status,
        )

    # ------------------------------------------------------------------ derived state

    @property
    def mqtt_connected(self) -> bool:
        """Whether HA is connected to the broker."""
        return mqtt.is_connected(self.hass)

    @property
    def detection_state(self) -> str | None:
        """starting/running/stopped/error/offline, None if the camera never reported."""
        if self.data.availability == OFFLINE:
            return STATE_OFFLINE
        if self.data.status is None:
            return None
        return self.data.status.state

    @property
    def agent_online(self) -> bool:
        """The agent and its detection process are alive (whatever they report)."""
        if not self.mqtt_connected or self.data.availability == OFFLINE:
            return False
        if self.ha_camera is not None:
            if self.ha_camera.problem:
                return False  # at once, before our own "offline" comes back from the broker
            if self.data.status is None:
                return False  # the availability is HA's own: only a detector's status says one runs
        if self.data.status is None:
            return self.data.availability == ONLINE
        return self.data.status.state != STATE_OFFLINE

    @property
    def detector_available(self) -> bool:
        """Detection results can be trusted: the detector is neither offline nor in error."""
        return self.agent_online and self.detection_state != STATE_ERROR

    @property
    def preview_possible(self) -> bool:
        """Whether a preview request may be answered: not while the camera is known not to run."""
        state = self.detection_state
        return (
            self.mqtt_connected
            and self.data.armed
            and self.data.availability != OFFLINE
            and (state is None or state == STATE_RUNNING)
        )

    async def async_live_picture(self) -> bytes | None:
        """The camera's live picture; None if it is known not to run or does not answer in time."""
        if not self.preview_possible:
            return None
        return await self.preview.async_fetch()

    @property
    def running_revision(self) -> int | None:
        """The config revision the agent reports running."""
        return self.data.running_revision

    @property
    def applied(self) -> bool:
        """The agent runs the latest published revision."""
        return self.data.applied

    @property
    def error(self) -> str | None:
        """The problem the agent reports, if any."""
        status = self.data.status
        if status is None:
            return None
        if status.error:
            return status.error
        if status.state == STATE_ERROR:
            return "error"
        return None

    @callback
    def _log_availability(self) -> None:
        available = self.detector_available
        if available == self._was_available:
            return
        if self._was_available is None and not available and self.detection_state is None:
            return  # nothing heard from the camera yet (e.g. just set up): nothing to report
        if available:
            if self._was_available is not None:
                _LOGGER.info("Camera %s is back online", self.name)
        else:
            _LOGGER.info("Camera %s is unavailable (detection state %s)", self.name, self.detection_state)
        self._was_available = available

    # ------------------------------------------------------------------ publishing

    async def async_publish_config(self) -> None:
        """Publish the camera's whole config; watch that the agent applies it."""
        published = await self.publisher.async_publish()
        self._async_set(revision=self.publisher.revision)
        if published:
            self.apply_watch.check()

    async def async_set_armed(self, armed: bool) -> None:
        """Switch detection on or off (retained, so the agent finds it after a restart)."""
        try:
            await mqtt.async_publish(
                self.hass, self.topics.armed(self.camera_id), on_off(armed), qos=1, retain=True
            )
        except HomeAssistantError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="publish_failed",
                translation_placeholders={"camera": self.name, "error": str(err)},
            ) from err
        # The retained message comes back to us; meanwhile show what was asked.
        self._async_set(armed=armed)

    # ------------------------------------------------------------------ incoming messages

    @callback
    def _malformed(self, msg: mqtt.ReceiveMessage, err: ProtocolError) -> None:
        _LOGGER.warning("Camera %s: ignoring malformed message on %s: %s", self.name, msg.topic, err)

    def _parse(self, spec: TopicField, msg: mqtt.ReceiveMessage) -> Any:
        """The message's value for ``spec.field``; KEEP if there is nothing to change."""
        if not msg.payload and spec.empty is not PARSE:
            return spec.empty
        try:
            return spec.parse(raw(msg))
        except ProtocolError as err:
            self._malformed(msg, err)
            return KEEP

    @callback
    def _on_field(self, spec: TopicField, msg: mqtt.ReceiveMessage) -> None:
        if (value := self._parse(spec, msg)) is not KEEP:
            self._async_set(**{spec.field: value})

    @callback
    def _on_region(self, roi_id: str, msg: mqtt.ReceiveMessage) -> None:
        if roi_id not in self._region_topics:
            return  # removed while this message was on its way
        if (value := self._parse(ROI_FIELD, msg)) is not KEEP:
            self._async_set(rois={**self.data.rois, roi_id: value})

    @callback
    def _status_changed(self, status: Status | None) -> None:
        if status is not None:
            self._update_sw_version(status.version)
        if (error := self.error) is not None:
            issues.async_raise_agent_error(self.hass, self.config_entry.entry_id, self.name, error)
        else:
            issues.async_clear(self.hass, issues.ISSUE_AGENT_ERROR, self.config_entry.entry_id)
        self.apply_watch.check()

    @callback
    def _on_connection(self, connected: bool) -> None:
        if connected:
            # Retained, but the broker may have lost it (restarted without persistence).
            self.config_entry.async_create_task(
                self.hass, self.async_publish_config(), "roiwatch republish config"
            )
            if self.ha_camera is not None:
                self.config_entry.async_create_task(
                    self.hass, self.ha_camera.async_connected(), "roiwatch announce"
                )
        self.async_update_listeners()

    @callback
    def _update_model(self, host: str) -> None:
        """The device page says where the camera is analysed, when not on the camera itself."""
        model = camera_model(self.kind, host)
        if model == self.device_info.get("model"):
            return
        self.device_info["model"] = model  # the entities share this DeviceInfo
        if self._device_id is not None:
            async_set_model(self.hass, self._device_id, model)

    @callback
    def _update_sw_version(self, version: str) -> None:
        if not version or version == self._sw_version:
            return
        self._sw_version = version
        if self._device_id is not None:
            async_set_sw_version(self.hass, self._device_id, version)
