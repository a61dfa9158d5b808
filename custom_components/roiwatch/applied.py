"""Watches that a camera runs the config revision HA published; a repair issue when it does not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from . import issues
from .const import APPLY_TIMEOUT
from .state import CameraState

_LOGGER = logging.getLogger(__name__)


class ApplyWatch:
    """Each published revision gets APPLY_TIMEOUT to be reported running, else a repair issue."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, name: str, state: Callable[[], CameraState]
    ) -> None:
        """Initialise; ``state`` gives the camera's current state."""
        self._hass = hass
        self._entry_id = entry_id
        self._name = name
        self._state = state
        self._timer: CALLBACK_TYPE | None = None
        self._watched: int | None = None
        self._stopped = False

    @callback
    def check(self) -> None:
        """After a publish or a status: clear the issue once applied, else (re)start the timer."""
        if self._stopped:
            return
        state = self._state()
        if state.applied:
            self._cancel()
            issues.async_clear(self._hass, issues.ISSUE_NOT_APPLIED, self._entry_id)
        elif state.revision is not None and (self._timer is None or state.revision != self._watched):
            # Each new revision gets its own full minute.
            self._cancel()
            self._watched = state.revision
            self._timer = async_call_later(self._hass, APPLY_TIMEOUT, self.timeout)

    @callback
    def timeout(self, _now: datetime) -> None:
        """The minute is over: raise the issue unless the revision runs by now."""
        self._timer = None
        state = self._state()
        if state.applied or state.revision is None:
            return
        _LOGGER.warning(
            "Camera %s has not applied config revision %s within %s (running %s)",
            self._name,
            state.revision,
            APPLY_TIMEOUT,
            state.running_revision,
        )
        issues.async_raise_not_applied(
            self._hass, self._entry_id, self._name, state.revision, state.running_revision
        )

    @callback
    def stop(self) -> None:
        """The camera unloads: no timer may outlive it, even one a late publish would start."""
        self._stopped = True
        self._cancel()

    @callback
    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None
