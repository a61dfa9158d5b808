"""The live picture of a camera: asked for while someone looks, else the last detection picture."""

from __future__ import annotations

from typing import Any

from homeassistant.components.camera import Camera
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import KEY_PREVIEW
from .coordinator import RoiWatchConfigEntry, RoiWatchCoordinator
from .entity import RoiWatchEntity
from .protocol import PREVIEW_MIN_INTERVAL

PARALLEL_UPDATES = 0

ATTR_PICTURE = "picture"
PICTURE_LIVE = "live"
PICTURE_LAST_DETECTION = "last_detection"
PICTURE_NONE = "none"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RoiWatchConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the camera's picture; a camera of Home Assistant has one already (its source entity)."""
    if entry.runtime_data.ha_camera is None:
        async_add_entities([LivePreviewCamera(entry.runtime_data)])


class LivePreviewCamera(RoiWatchEntity, Camera):
    """The device's main picture; its ``picture`` attribute says where the picture comes from.

    ``live`` while the last look got the detector's answer; otherwise (and at once when the
    camera stops running) ``last_detection`` or ``none``, what a look shows then.
    """

    _attr_name = None
    _attr_translation_key = "preview"
    # The detector answers at most this often: HA's MJPEG stream asks at the same pace.
    _attr_frame_interval = PREVIEW_MIN_INTERVAL

    def __init__(self, coordinator: RoiWatchCoordinator) -> None:
        """Initialise."""
        RoiWatchEntity.__init__(self, coordinator, KEY_PREVIEW)
        Camera.__init__(self)
        self._picture = self._fallback()[1]

    @property
    def available(self) -> bool:
        """Always: without a live picture the camera still shows the last detection (or none)."""
        return True

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Where the picture comes from."""
        return {ATTR_PICTURE: self._picture}

    def _fallback(self) -> tuple[bytes | None, str]:
        snapshot = self.coordinator.data.snapshot
        if snapshot is None:
            return None, PICTURE_NONE
        return snapshot.picture, PICTURE_LAST_DETECTION

    async def async_camera_image(self, width: int | None = None, height: int | None = None) -> bytes | None:
        """The live picture, else the last detection picture; width and height are not applied.

        The detector already sends at most PREVIEW_MAX_WIDTH px; HA scales thumbnails itself.
        """
        image = await self.coordinator.async_live_picture()
        picture = PICTURE_LIVE
        if image is None:
            image, picture = self._fallback()
        self._set_picture(picture)
        return image

    @callback
    def _handle_coordinator_update(self) -> None:
        if self._picture != PICTURE_LIVE or not self.coordinator.preview_possible:
            # No live picture while the camera does not run: say so now, not at the next look.
            self._picture = self._fallback()[1]
        self.async_write_ha_state()

    @callback
    def _set_picture(self, picture: str) -> None:
        if picture != self._picture:
            self._picture = picture
            self.async_write_ha_state()
