"""Asks a camera for its live picture (``preview_request``) and waits for the answer (``preview``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .protocol import PREVIEW_TIMEOUT, ProtocolError, check_picture
from .state import raw

_LOGGER = logging.getLogger(__name__)


@dataclass
class PreviewCounts:
    """What happened to the preview requests (shown in diagnostics)."""

    requests: int = 0
    answers: int = 0
    timeouts: int = 0
    malformed: int = 0


class LivePreview:
    """One camera's preview requests; viewers asking at the same time share one request."""

    def __init__(
        self,
        hass: HomeAssistant,
        request_topic: str,
        malformed: Callable[[mqtt.ReceiveMessage, ProtocolError], None],
    ) -> None:
        """Initialise; route the ``preview`` topic's messages to :meth:`on_preview`."""
        self.hass = hass
        self.request_topic = request_topic
        self.counts = PreviewCounts()
        self._malformed = malformed
        self._answer: asyncio.Future[bytes] | None = None
        self._pending: asyncio.Task[bytes | None] | None = None

    async def async_fetch(self) -> bytes | None:
        """The camera's next picture, or None if it does not answer within PREVIEW_TIMEOUT."""
        if self._pending is None:
            self._pending = self.hass.async_create_task(
                self._async_request(), "roiwatch preview request", eager_start=False
            )
        # Shielded: a viewer that goes away must not cancel the request the others wait for.
        return await asyncio.shield(self._pending)

    async def _async_request(self) -> bytes | None:
        self._answer = self.hass.loop.create_future()
        try:
            self.counts.requests += 1
            try:
                # QoS 0, not retained: a stale request must never reach a restarted detector.
                await mqtt.async_publish(self.hass, self.request_topic, b"", qos=0, retain=False)
            except HomeAssistantError as err:
                _LOGGER.debug("Could not ask for a preview on %s: %s", self.request_topic, err)
                return None
            try:
                async with asyncio.timeout(PREVIEW_TIMEOUT):
                    return await self._answer
            except TimeoutError:
                self.counts.timeouts += 1
                _LOGGER.debug("No preview on %s within %s s", self.request_topic, PREVIEW_TIMEOUT)
                return None
        finally:
            self._answer = None
            self._pending = None

    @callback
    def on_preview(self, msg: mqtt.ReceiveMessage) -> None:
        """An answer: checked like every picture, then handed to whoever waits."""
        data = raw(msg)
        try:
            check_picture(data)
        except ProtocolError as err:
            self.counts.malformed += 1
            self._malformed(msg, err)
            return
        self.counts.answers += 1
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(data)
