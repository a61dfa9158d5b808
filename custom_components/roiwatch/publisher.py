"""Builds a camera's whole config from its entry and publishes it with a persistent revision."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, TypedDict

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store

from .const import (
    CONF_CAMERA_ID,
    CONF_FPS,
    CONF_KIND,
    DOMAIN,
    STORAGE_VERSION,
    wire_kind,
)
from .protocol import FPS, CameraConfig, ProtocolError, RoiConfig, Topics, build_config
from .regions import roi_config, roi_subentries, usable

_LOGGER = logging.getLogger(__name__)


class StoredRevision(TypedDict):
    """What survives a restart: the last revision and the content it was given to.

    ``content`` is the config's wire form without its revision, as every version has saved it.
    """

    revision: int
    content: dict[str, Any]


def _store(hass: HomeAssistant, entry_id: str) -> Store[StoredRevision]:
    # Not entry.data: writing the entry would fire its update listener, which publishes.
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Forget a removed camera's revision."""
    await _store(hass, entry_id).async_remove()


def _stored_content(stored: StoredRevision | None) -> CameraConfig | None:
    """The stored content as a config, to compare with one built now; None if there is none.

    Parsed, not compared as JSON: a number saved as ``5.0`` by one version and ``5`` by another
    is the same content. Content this version cannot read (a hand edit) is different content.
    """
    if stored is None:
        return None
    try:
        return CameraConfig.from_wire({**stored["content"], "revision": 0})
    except (ProtocolError, TypeError):
        return None


def _content_to_store(config: CameraConfig) -> dict[str, Any]:
    return {key: value for key, value in config.to_wire().items() if key != "revision"}


class ConfigPublisher:
    """Publishes ``<base>/<camera>/config`` (retained, QoS 1); the revision rises on change only."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, topics: Topics) -> None:
        """Initialise; call :meth:`async_load` before publishing."""
        self._hass = hass
        self._entry = entry
        self._topic = topics.config(entry.data[CONF_CAMERA_ID])
        self._store = _store(hass, entry.entry_id)
        self._stored: StoredRevision | None = None
        self._lock = asyncio.Lock()
        self._stored_content: CameraConfig | None = None
        self.config: CameraConfig | None = None
        """The config last built for the camera (whether or not the broker has it yet)."""

    @property
    def revision(self) -> int | None:
        """The revision of the latest config, None before the first one."""
        return None if self.config is None else self.config.revision

    async def async_load(self) -> None:
        """Read the stored revision."""
        self._stored = await self._store.async_load()
        self._stored_content = _stored_content(self._stored)

    def _rois(self) -> list[RoiConfig]:
        rois = []
        for subentry in roi_subentries(self._entry):
            if not usable(subentry):
                _LOGGER.error(
                    "Region %s of camera %s has an id the protocol refuses (%s); not published",
                    subentry.title,
                    self._entry.title,
                    subentry.subentry_id,
                )
                continue
            rois.append(roi_config(subentry))
        return rois

    async def _async_next_config(self) -> CameraConfig:
        """Build the config, giving it a new revision only if its content changed."""
        data = self._entry.data
        content = CameraConfig(
            camera_id=data[CONF_CAMERA_ID],
            kind=wire_kind(data[CONF_KIND]),
            revision=0,
            rois=tuple(self._rois()),
            fps=self._entry.options.get(CONF_FPS, FPS.default),
        ).content()
        stored = self._stored
        if stored is not None and self._stored_content == content:
            revision = stored["revision"]
        else:
            revision = (stored["revision"] if stored else 0) + 1
            self._stored = {"revision": revision, "content": _content_to_store(content)}
            self._stored_content = content
            # Saved before publishing, so a revision number is never reused for other content.
            await self._store.async_save(self._stored)
        return replace(content, revision=revision)

    async def async_publish(self) -> bool:
        """Build and publish the config; False (and logged) if it could not be published."""
        async with self._lock:
            try:
                config = await self._async_next_config()
                payload = build_config(config)
            except ProtocolError as err:
                _LOGGER.error("Camera %s: config not published: %s", self._entry.title, err)
                return False
            self.config = config
            if not mqtt.is_connected(self._hass):
                _LOGGER.debug(
                    "Camera %s: config revision %s goes out when MQTT connects",
                    self._entry.title,
                    config.revision,
                )
                return False
            try:
                await mqtt.async_publish(self._hass, self._topic, payload, qos=1, retain=True)
            except HomeAssistantError as err:
                # Published again when MQTT reconnects.
                _LOGGER.warning(
                    "Camera %s: could not publish config revision %s: %s",
                    self._entry.title,
                    config.revision,
                    err,
                )
                return False
            _LOGGER.debug("Camera %s: published config revision %s", self._entry.title, config.revision)
            return True
