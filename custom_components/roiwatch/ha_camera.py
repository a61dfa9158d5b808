"""A camera of Home Assistant: the integration is its dumb camera.

It announces the camera (``host`` "Home Assistant"), sends the source entity's pictures through
:class:`FramePump` while the camera is armed and MQTT is up, says on ``availability`` whether the
source gives pictures (``offline`` makes an analyzer stop and clear the camera's regions, so none
stays ON from before an outage), raises a repair issue when the source entity is removed, and
one when no analyzer takes the pictures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import (
    async_track_entity_registry_updated_event,
    async_track_state_change_event,
    async_track_time_interval,
)
from homeassistant.loader import async_get_integration

from . import issues
from .const import DOMAIN, HOST_HA
from .protocol import (
    KIND_DUMB,
    OFFLINE,
    ONLINE,
    STATE_OFFLINE,
    Announce,
    Status,
    Topics,
    build_announce,
)
from .pump import SOURCE_MISSING, SOURCE_OK, FramePump

_LOGGER = logging.getLogger(__name__)

NO_ANALYZER_AFTER: Final = 45.0
"""Seconds of pictures sent with no detector status before HA says no analyzer runs."""
ANALYZER_CHECK: Final = timedelta(seconds=5)


class HaCamera:
    """The dumb-camera side of one camera of Home Assistant."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        name: str,
        camera_id: str,
        source: str,
        topics: Topics,
        on_change: Callable[[], None],
        on_renamed: Callable[[str], None],
    ) -> None:
        """Initialise; ``on_change`` is called when the source's state changes, ``on_renamed``
        with the source's new entity id when the user renames it."""
        self.hass = hass
        self._entry_id = entry_id
        self._name = name
        self._camera_id = camera_id
        self._topics = topics
        self._on_change = on_change
        self._on_renamed = on_renamed
        self.source = source
        self.pump = FramePump(hass, source, topics.frame(camera_id), name, self._pump_changed)
        self._availability: str | None = None  # what we last published
        self._version = ""
        self._no_detector_since: float | None = None
        self._status: Status | None = None
        self._unsubscribe: list[CALLBACK_TYPE] = []

    async def async_start(self) -> None:
        """Follow the source entity; announce once MQTT is up (:meth:`async_connected`)."""
        self._version = (await async_get_integration(self.hass, DOMAIN)).version or ""
        self._unsubscribe += [
            async_track_state_change_event(self.hass, [self.source], self._source_changed),
            async_track_entity_registry_updated_event(self.hass, [self.source], self._source_updated),
            async_track_time_interval(
                self.hass, self._watch_analyzer, ANALYZER_CHECK, name=f"roiwatch {self._name} analyzer"
            ),
        ]

    @callback
    def stop(self) -> None:
        """Unloading: stop fetching; what is retained stays (an HA restart changes nothing)."""
        self.pump.stop()
        while self._unsubscribe:
            self._unsubscribe.pop()()

    @property
    def problem(self) -> bool:
        """The source gives no picture."""
        return self.pump.problem

    async def async_connected(self) -> None:
        """MQTT (re)connected: announce the camera (retained), as a dumb camera's firmware does."""
        payload = build_announce(Announce(self._camera_id, KIND_DUMB, self._version, HOST_HA))
        await self._async_publish(self._topics.announce(self._camera_id), payload)
        if self._availability is not None:
            await self._async_publish(self._topics.availability(self._camera_id), self._availability)

    @callback
    def update(self, running: bool, fps: float, status: Status | None) -> None:
        """Armed and connected (``running``), the camera's fps, the detector's last status."""
        self.pump.set_running(running, fps)
        self._status = status
        self._watch_analyzer()

    # ------------------------------------------------------------------ source state

    @callback
    def _source_changed(self, event: Event[EventStateChangedData]) -> None:
        """Say at once when the source goes unavailable or away (not at the next failed fetch)."""
        if self.pump.running:
            self.pump.check_source()

    @callback
    def _source_updated(self, event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        """The user renamed the source entity: follow it (the camera reloads with the new id)."""
        data = event.data
        if data["action"] == "update" and data.get("old_entity_id") == self.source:
            _LOGGER.info("Camera %s: %s is now %s", self._name, self.source, data["entity_id"])
            self._on_renamed(data["entity_id"])

    @callback
    def _pump_changed(self) -> None:
        state = self.pump.state
        if state == SOURCE_OK:
            self._set_availability(ONLINE)
        elif self.pump.problem:
            self._set_availability(OFFLINE)
        if state == SOURCE_MISSING:
            issues.async_raise_source_missing(self.hass, self._entry_id, self._name, self.source)
        elif state == SOURCE_OK:
            issues.async_clear(self.hass, issues.ISSUE_SOURCE_MISSING, self._entry_id)
        self._on_change()

    @callback
    def _set_availability(self, value: str) -> None:
        if value == self._availability:
            return
        self._availability = value
        self.hass.async_create_background_task(
            self._async_publish(self._topics.availability(self._camera_id), value),
            f"roiwatch {self._name} availability",
        )

    async def _async_publish(self, topic: str, payload: bytes | str) -> None:
        try:
            await mqtt.async_publish(self.hass, topic, payload, qos=1, retain=True)
        except HomeAssistantError as err:
            _LOGGER.warning("Camera %s: could not publish %s: %s", self._name, topic, err)

    # ------------------------------------------------------------------ analyzer

    @callback
    def _watch_analyzer(self, _now: object = None) -> None:
        """Pictures go out and no detector reports: after NO_ANALYZER_AFTER, a repair issue."""
        status = self._status
        no_detector = status is None or status.state == STATE_OFFLINE
        sending = self.pump.running and self.pump.state == SOURCE_OK and self.pump.counts.published
        if not (sending and no_detector):
            self._no_detector_since = None
            issues.async_clear(self.hass, issues.ISSUE_NO_ANALYZER, self._entry_id)
            return
        now = time.monotonic()
        if self._no_detector_since is None:
            self._no_detector_since = now
        elif now - self._no_detector_since >= NO_ANALYZER_AFTER:
            issues.async_raise_no_analyzer(self.hass, self._entry_id, self._name, self._camera_id)
