"""A camera of Home Assistant: its entity's pictures go to ``<base>/<cam>/frame``, as a dumb camera's.

One fetch at a time through HA's own camera API, at most at the camera's fps: a tick that finds
the last fetch still running is skipped, never queued, so a slow camera costs one fetch at a
time and the event loop only awaits. A picture identical to the last one is not sent again, so a
snapshot camera that refreshes every few seconds is analysed at the rate it refreshes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from homeassistant.components import camera, mqtt
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import CALLBACK_TYPE, CoreState, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_time_interval

from .protocol import ProtocolError, check_picture

_LOGGER = logging.getLogger(__name__)

FRAME_WIDTH: Final = 640
"""Asked of the source (cameras that can scale do): plenty for person detection."""
FETCH_TIMEOUT: Final = 5
"""Seconds a picture may take; a fetch still running at the next tick makes that tick skip."""
FAIL_AFTER: Final = 10.0
"""Seconds of failed fetches (no picture at all) before the source counts as failing."""
FAIL_RETRY: Final = 5.0
"""Seconds between tries while the source is failing: a dead camera is not asked 2 times a second."""
RATE_WINDOW: Final = 60.0
"""Seconds over which the rate of new pictures is measured."""

# Why the source gives no picture (the camera's "Picture source" sensor); OK: it does.
SOURCE_OK: Final = "ok"
SOURCE_PAUSED: Final = "paused"  # disarmed or MQTT down: nothing is fetched
SOURCE_UNAVAILABLE: Final = "unavailable"
SOURCE_MISSING: Final = "missing"
SOURCE_FAILING: Final = "failing"
SOURCE_STATES: Final = (SOURCE_OK, SOURCE_PAUSED, SOURCE_UNAVAILABLE, SOURCE_MISSING, SOURCE_FAILING)
PROBLEMS: Final = (SOURCE_UNAVAILABLE, SOURCE_MISSING, SOURCE_FAILING)


@dataclass
class PumpCounts:
    """What the pump did (shown in diagnostics)."""

    fetches: int = 0
    published: int = 0
    repeated: int = 0
    """Pictures identical to the last one sent: not sent again."""
    skipped: int = 0
    """Ticks that found the last fetch still running."""
    failed: int = 0


class FramePump:
    """Fetches the source entity's picture and publishes the new ones while ``running``."""

    def __init__(
        self,
        hass: HomeAssistant,
        source: str,
        topic: str,
        name: str,
        on_state: Callable[[], None],
    ) -> None:
        """Initialise; ``on_state`` is called when :attr:`state` or :attr:`error` changes."""
        self.hass = hass
        self.source = source
        self._topic = topic
        self._name = name
        self._on_state = on_state
        self.counts = PumpCounts()
        self.state = SOURCE_PAUSED
        self.error: str | None = None
        self.running = False
        self._fps = 0.0
        self._timer: CALLBACK_TYPE | None = None
        self._fetch: asyncio.Task[None] | None = None
        self._last_digest: bytes | None = None
        self._last_picture_at: float | None = None  # monotonic time of the last picture fetched
        self._failing_since: float | None = None
        self._new: deque[float] = deque()
        self._fetch_times: deque[float] = deque()
        self._last_try = 0.0
        self._started_at = time.monotonic()

    # ------------------------------------------------------------------ control

    @callback
    def set_running(self, running: bool, fps: float) -> None:
        """Fetch at ``fps`` while ``running`` (armed and MQTT connected); else fetch nothing."""
        if running == self.running and fps == self._fps:
            return
        self.running, self._fps = running, fps
        self._cancel_timer()
        if running:
            self._timer = async_track_time_interval(
                self.hass, self._tick, timedelta(seconds=1 / fps), name=f"roiwatch {self._name} frames"
            )
            self._tick()
        else:
            if self._fetch is not None:
                self._fetch.cancel()
            self._set_state(SOURCE_PAUSED, None)

    @callback
    def stop(self) -> None:
        """Unloading: no timer or fetch may outlive the camera."""
        self.running = False
        self._cancel_timer()
        if self._fetch is not None:
            self._fetch.cancel()

    @callback
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    # ------------------------------------------------------------------ derived

    @property
    def problem(self) -> bool:
        """The source gives no picture: the camera's detection results cannot be trusted."""
        return self.state in PROBLEMS

    def rates(self) -> dict[str, float | None]:
        """Fetches and new pictures per second over the last RATE_WINDOW seconds."""
        now = time.monotonic()
        span = min(RATE_WINDOW, now - self._started_at)
        for times in (self._new, self._fetch_times):
            while times and times[0] < now - RATE_WINDOW:
                times.popleft()
        if span <= 0:
            return {"fetch_rate": None, "new_picture_rate": None}
        return {
            "fetch_rate": round(len(self._fetch_times) / span, 2),
            "new_picture_rate": round(len(self._new) / span, 2),
        }

    # ------------------------------------------------------------------ work

    @callback
    def _tick(self, _now: object = None) -> None:
        if not self.running:
            return
        if self._fetch is not None and not self._fetch.done():
            self.counts.skipped += 1  # a slow camera: skipped, not queued
            return
        if not self.check_source():
            return
        if self.state == SOURCE_FAILING and time.monotonic() - self._last_try < FAIL_RETRY:
            return
        self._fetch = self.hass.async_create_background_task(
            self._async_fetch(), f"roiwatch {self._name} fetch", eager_start=True
        )

    @callback
    def check_source(self) -> bool:
        """Whether the source entity can give a picture now; if not, say why (at once)."""
        state = self.hass.states.get(self.source)
        if state is None and self.hass.state is not CoreState.running:
            return False  # HA is starting: the source's integration may not be set up yet
        if state is None:
            self._set_state(SOURCE_MISSING, f"{self.source} does not exist")
            return False
        if state.state == STATE_UNAVAILABLE:
            self._set_state(SOURCE_UNAVAILABLE, f"{self.source} is unavailable")
            return False
        return True

    async def _async_fetch(self) -> None:
        """Take one picture; publish it if it is new."""
        started = time.monotonic()
        self.counts.fetches += 1
        self._fetch_times.append(started)
        self._last_try = started
        try:
            image = await camera.async_get_image(self.hass, self.source, FETCH_TIMEOUT, width=FRAME_WIDTH)
            check_picture(image.content)
        except (HomeAssistantError, ProtocolError) as err:
            if self.running:  # (HA's camera API turns a cancelled fetch into an error)
                self._failed(started, str(err) or type(err).__name__)
            return
        if not self.running:
            return  # disarmed while the picture was on its way
        self._failing_since = None
        self._last_picture_at = started
        # A cheap digest (~50 us for 50 kB): the same picture twice is analysed once.
        digest = hashlib.blake2b(image.content, digest_size=16).digest()
        if digest == self._last_digest:
            self.counts.repeated += 1
            self._set_state(SOURCE_OK, None)
            return
        try:
            await mqtt.async_publish(self.hass, self._topic, image.content, qos=0, retain=False)
        except HomeAssistantError as err:
            _LOGGER.debug("Camera %s: frame not published: %s", self._name, err)
            return
        self._last_digest = digest
        self.counts.published += 1
        self._new.append(started)
        self._set_state(SOURCE_OK, None)

    @callback
    def _failed(self, started: float, error: str) -> None:
        self.counts.failed += 1
        if self._failing_since is None:
            self._failing_since = started
        if self.state != SOURCE_FAILING and started - self._failing_since < FAIL_AFTER:
            return  # one lost picture is no outage
        self._set_state(SOURCE_FAILING, f"{self.source}: {error}")

    @callback
    def _set_state(self, state: str, error: str | None) -> None:
        if state == self.state and error == self.error:
            return
        if state in PROBLEMS and self.state not in PROBLEMS:
            _LOGGER.warning("Camera %s: no picture from %s: %s", self._name, self.source, error)
        elif state == SOURCE_OK and self.state in PROBLEMS:
            _LOGGER.info("Camera %s: pictures from %s are back", self._name, self.source)
        self.state, self.error = state, error
        self._on_state()
