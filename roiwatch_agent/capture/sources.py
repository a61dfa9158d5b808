"""JPEG pictures arriving over MQTT (the analyzer). Cameras, files and streams: video/feeds.py."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
from cv2.typing import MatLike

from .. import protocol
from ..video.errors import SourceError

_LOGGER = logging.getLogger(__name__)

__all__ = ["Frame", "MqttPictureSource", "SourceError", "decode_picture"]

Frame = tuple[float, MatLike]  # (timestamp in seconds, BGR image)


class MqttPictureSource:
    """The latest JPEG received on a dumb camera's frame topic; older ones are dropped."""

    def __init__(self, fps: float, on_bad_picture: Callable[[str], None]) -> None:
        self.fps = fps
        self._cond = threading.Condition()
        self._latest: bytes | None = None
        self._on_bad = on_bad_picture
        self.latest_jpeg: bytes | None = None  # the picture the last frame was decoded from

    def put(self, payload: bytes) -> None:
        """Called from the MQTT thread: keep only the newest picture."""
        with self._cond:
            self._latest = payload
            self._cond.notify()

    def frames(self, should_stop: Callable[[], bool]) -> Iterator[Frame]:
        period = 1.0 / self.fps
        last = float("-inf")
        while not should_stop():
            with self._cond:
                if self._latest is None:
                    self._cond.wait(0.2)
                payload, self._latest = self._latest, None
            if payload is None:
                continue
            now = time.monotonic()
            if now - last < period * 0.9:
                continue
            frame = decode_picture(payload, self._on_bad)
            if frame is not None:
                last = now
                self.latest_jpeg = payload
                yield now, frame


def decode_picture(payload: bytes, on_bad: Callable[[str], None]) -> MatLike | None:
    """Size-check (from the header, before decoding) and decode one JPEG; None if refused."""
    try:
        protocol.check_picture(payload)
    except protocol.ProtocolError as err:
        on_bad(str(err))
        return None
    frame = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        on_bad("picture is a JPEG header with data that does not decode")
        return None
    return frame
