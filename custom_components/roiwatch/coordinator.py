"""The runtime of one camera: MQTT subscriptions, state, config publishing and repair issues."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeAlias

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from . import issues
from .const import (
    APPLY_TIMEOUT,
    BASE_TOPIC,
    CONF_CAMERA_ID,
    CONF_DETECT,
    CONF_KIND,
    DOMAIN,
    MANUFACTURER,
    MODELS,
)
from .preview import LivePreview
from .protocol import (
    OFFLINE,
    ONLINE,
    ROI_ID_RE,
    STATE_ERROR,
    STATE_OFFLINE,
    STATE_RUNNING,
    ProtocolError,
    Topics,
    check_picture,
    on_off,
    parse_announce,
    parse_armed,
    parse_on_off,
    parse_status,
)
from .publisher import ConfigPublisher, roi_subentries

_LOGGER = logging.getLogger(__name__)

# A TypeAlias, not a `type` statement: ruff targets Python 3.11 for the shared protocol module.
RoiWatchConfigEntry: TypeAlias = ConfigEntry["RoiWatchCoordinator"]


def entity_layout(entry: ConfigEntry) -> tuple[Any, ...]:
    """What the set of entities depends on; when it changes the entry is reloaded."""
    return (
        entry.title,
        entry.data[CONF_KIND],
        tuple((s.subentry_id, s.title, s.data[CONF_DETECT]) for s in roi_subentries(entry)),
    )


def _raw(msg: mqtt.ReceiveMessage) -> bytes:
    """The payload as bytes (subscriptions use no encoding; the protocol module decodes)."""
    payload = msg.payload
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def _parse_availability(payload: bytes) -> str:
    text = payload.decode(errors="replace")
    text = text.strip()
    if text in (ONLINE, OFFLINE):
        return text
    raise ProtocolError("availability", f"expected {ONLINE} or {OFFLINE}, got {text[:32]!r}")


@dataclass
class CameraState:
    """The last good value of every topic of a camera (None: unknown, or cleared)."""

    availability: str | None = None
    status: dict[str, Any] | None = None
    announce: dict[str, Any] | None = None
    armed: bool = True
    detected: bool | None = None
    rois: dict[str, bool | None] = field(default_factory=dict)
    snapshot: bytes | None = None
    snapshot_at: datetime | None = None


class RoiWatchCoordinator:
    """Keeps one camera's state from its MQTT topics and tells its entities when it changes."""

    def __init__(self, hass: HomeAssistant, entry: RoiWatchConfigEntry) -> None:
        """Initialise; :meth:`async_start` subscribes and publishes."""
        self.hass = hass
        self.entry = entry
        self.camera_id: str = entry.data[CONF_CAMERA_ID]
        self.kind: str = entry.data[CONF_KIND]
        self.layout = entity_layout(entry)
        self.topics = Topics(BASE_TOPIC)
        self.state = CameraState()
        self.publisher = ConfigPublisher(hass, entry, self.topics)
        self.preview = LivePreview(hass, self.topics.preview_request(self.camera_id), self._malformed)
        self.device_info = dr.DeviceInfo(
            identifiers={(DOMAIN, self.camera_id)},
            name=entry.title,
            manufacturer=MANUFACTURER,
            model=MODELS[self.kind],
            model_id=self.kind,
        )
        self._listeners: list[CALLBACK_TYPE] = []
        self._apply_timer: CALLBACK_TYPE | None = None
        self._watched_revision: int | None = None
        self._was_available: bool | None = None
        self._sw_version: str | None = None
        self._device_id: str | None = None

    # ------------------------------------------------------------------ lifecycle

    @callback
    def async_register_device(self) -> None:
        """Create (or update) the camera's device before any message can name its version."""
        device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id, **self.device_info
        )
        self._device_id = device.id

    async def async_start(self) -> None:
        """Load the revision, subscribe to the camera's topics and publish its config."""
        await self.publisher.async_load()
        t, cam = self.topics, self.camera_id
        handlers: list[tuple[str, Callable[[mqtt.ReceiveMessage], None], int]] = [
            (t.availability(cam), self._on_availability, 1),
            (t.status(cam), self._on_status, 1),
            (t.announce(cam), self._on_announce, 1),
            (t.armed(cam), self._on_armed, 1),
            (t.detected(cam), self._on_detected, 1),
            (t.snapshot(cam), self._on_snapshot, 0),
            (t.preview(cam), self.preview.on_preview, 0),
        ]
        # One exact topic per region rather than a `roi/+` wildcard: HA 2026.x's MQTT client
        # can fail on a wildcard that is unsubscribed while its subscribe is still in flight
        # (a camera removed right after it was added); the entry reloads when regions change.
        handlers += [
            (t.roi(cam, s.subentry_id), partial(self._on_roi, s.subentry_id), 1)
            for s in roi_subentries(self.entry)
            if ROI_ID_RE.match(s.subentry_id)
        ]
        for topic, handler, qos in handlers:
            # Raw bytes: the protocol module decodes, so bad UTF-8 is just another bad payload.
            self.entry.async_on_unload(
                await mqtt.async_subscribe(self.hass, topic, handler, qos, encoding=None)
            )
        self.entry.async_on_unload(mqtt.async_subscribe_connection_status(self.hass, self._on_connection))
        self.entry.async_on_unload(self._cancel_apply_timer)
        self.entry.async_on_unload(lambda: issues.async_clear_all(self.hass, self.entry.entry_id))
        await self.async_publish_config()

    @callback
    def async_add_listener(self, update_callback: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``update_callback`` whenever the state changes; returns the remover."""
        self._listeners.append(update_callback)
        return lambda: self._listeners.remove(update_callback)

    @callback
    def _notify(self) -> None:
        self._log_availability()
        for update_callback in list(self._listeners):
            update_callback()

    # ------------------------------------------------------------------ derived state

    @property
    def name(self) -> str:
        """The camera's display name."""
        return self.entry.title

    @property
    def mqtt_connected(self) -> bool:
        """Whether HA is connected to the broker."""
        return mqtt.is_connected(self.hass)

    @property
    def detection_state(self) -> str | None:
        """starting/running/stopped/error/offline, None if the camera never reported."""
        if self.state.availability == OFFLINE:
            return STATE_OFFLINE
        if self.state.status is None:
            return None
        state: str = self.state.status["state"]
        return state

    @property
    def agent_online(self) -> bool:
        """The agent and its detection process are alive (whatever they report)."""
        if not self.mqtt_connected or self.state.availability == OFFLINE:
            return False
        if self.state.status is None:
            return self.state.availability == ONLINE
        return bool(self.state.status["state"] != STATE_OFFLINE)

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
            and self.state.armed
            and self.state.availability != OFFLINE
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
        if self.state.status is None:
            return None
        revision: int | None = self.state.status["revision"]
        return revision

    @property
    def applied(self) -> bool:
        """The agent runs the latest published revision."""
        return self.publisher.revision is not None and self.running_revision == self.publisher.revision

    @property
    def error(self) -> str | None:
        """The problem the agent reports, if any."""
        status = self.state.status
        if status is None:
            return None
        if status["error"]:
            return str(status["error"])
        if status["state"] == STATE_ERROR:
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
        if await self.publisher.async_publish():
            self._check_applied()
        self._notify()

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
        self.state.armed = armed
        self._notify()

    @callback
    def _check_applied(self) -> None:
        revision = self.publisher.revision
        if self.applied:
            self._cancel_apply_timer()
            issues.async_clear(self.hass, issues.ISSUE_NOT_APPLIED, self.entry.entry_id)
        elif revision is not None and (self._apply_timer is None or revision != self._watched_revision):
            # Each new revision gets its own full minute.
            self._cancel_apply_timer()
            self._watched_revision = revision
            self._apply_timer = async_call_later(self.hass, APPLY_TIMEOUT, self._apply_timeout)

    @callback
    def _apply_timeout(self, _now: datetime) -> None:
        self._apply_timer = None
        revision = self.publisher.revision
        if self.applied or revision is None:
            return
        _LOGGER.warning(
            "Camera %s has not applied config revision %s within %s (running %s)",
            self.name,
            revision,
            APPLY_TIMEOUT,
            self.running_revision,
        )
        issues.async_raise_not_applied(
            self.hass, self.entry.entry_id, self.name, revision, self.running_revision
        )

    @callback
    def _cancel_apply_timer(self) -> None:
        if self._apply_timer is not None:
            self._apply_timer()
            self._apply_timer = None

    # ------------------------------------------------------------------ incoming messages

    @callback
    def _malformed(self, msg: mqtt.ReceiveMessage, err: ProtocolError) -> None:
        _LOGGER.warning("Camera %s: ignoring malformed message on %s: %s", self.name, msg.topic, err)

    @callback
    def _on_availability(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            self.state.availability = _parse_availability(_raw(msg)) if msg.payload else None
        except ProtocolError as err:
            self._malformed(msg, err)
            return
        self._notify()

    @callback
    def _on_status(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            status = parse_status(_raw(msg)) if msg.payload else None
        except ProtocolError as err:
            self._malformed(msg, err)
            return
        self.state.status = status
        if status is not None:
            self._update_sw_version(status["version"])
        if (error := self.error) is not None:
            issues.async_raise_agent_error(self.hass, self.entry.entry_id, self.name, error)
        else:
            issues.async_clear(self.hass, issues.ISSUE_AGENT_ERROR, self.entry.entry_id)
        self._check_applied()
        self._notify()

    @callback
    def _on_announce(self, msg: mqtt.ReceiveMessage) -> None:
        if not msg.payload:
            return  # the agent withdrew its announce; nothing to show for it
        try:
            announce = parse_announce(_raw(msg), expected_camera_id=self.camera_id)
        except ProtocolError as err:
            self._malformed(msg, err)
            return
        self.state.announce = announce
        self._update_sw_version(announce["version"])
        self._update_model(announce["host"])
        self._notify()

    @callback
    def _on_armed(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            self.state.armed = parse_armed(_raw(msg))
        except ProtocolError as err:
            self._malformed(msg, err)
            return
        self._notify()

    @callback
    def _on_detected(self, msg: mqtt.ReceiveMessage) -> None:
        try:
            self.state.detected = parse_on_off(_raw(msg)) if msg.payload else None
        except ProtocolError as err:
            self._malformed(msg, err)
            return
        self._notify()

    @callback
    def _on_roi(self, roi_id: str, msg: mqtt.ReceiveMessage) -> None:
        try:
            self.state.rois[roi_id] = parse_on_off(_raw(msg)) if msg.payload else None
        except ProtocolError as err:
            self._malformed(msg, err)
            return
        self._notify()

    @callback
    def _on_snapshot(self, msg: mqtt.ReceiveMessage) -> None:
        if not msg.payload:
            return  # a cleared snapshot: keep showing the last picture
        payload = _raw(msg)
        try:
            check_picture(payload)
        except ProtocolError as err:
            self._malformed(msg, err)
            return
        self.state.snapshot = payload
        self.state.snapshot_at = dt_util.utcnow()
        self._notify()

    @callback
    def _on_connection(self, connected: bool) -> None:
        if connected:
            # Retained, but the broker may have lost it (restarted without persistence).
            self.entry.async_create_task(self.hass, self.async_publish_config(), "roiwatch republish config")
        self._notify()

    @callback
    def _update_model(self, host: str) -> None:
        """The device page says where the camera is analysed, when not on the camera itself."""
        model = f"{MODELS[self.kind]} ({host})" if host else MODELS[self.kind]
        if model == self.device_info.get("model"):
            return
        self.device_info["model"] = model  # the entities share this DeviceInfo
        if self._device_id is not None:
            dr.async_get(self.hass).async_update_device(self._device_id, model=model)

    @callback
    def _update_sw_version(self, version: str) -> None:
        if not version or version == self._sw_version:
            return
        self._sw_version = version
        if self._device_id is not None:
            dr.async_get(self.hass).async_update_device(self._device_id, sw_version=version)
