"""Frame sources: a local camera / file / stream, or JPEG pictures arriving over MQTT."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .. import protocol

_LOGGER = logging.getLogger(__name__)

Frame = tuple[float, np.ndarray]  # (timestamp in seconds, BGR image)


class SourceError(RuntimeError):
    """The source cannot be opened or read."""


def open_capture(src: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(int(src)) if src.isdigit() else cv2.VideoCapture(src)
    if not cap.isOpened():
        raise SourceError(f"cannot open video source {src!r}")
    return cap


class VideoSource:
    """Frames from cv2.VideoCapture at most ``fps`` per second.

    A file is replayed at its own frame rate (times ``speed``), like a live camera; its
    timestamps are video time, so off_delay means seconds of video. ``loop`` replays forever.
    """

    def __init__(self, src: str, fps: float, loop: bool = False, speed: float = 1.0) -> None:
        self.src = src
        self.fps = fps
        self.loop = loop
        self.speed = speed
        self.is_file = Path(src).is_file()
        self.ended = False

    def frames(self, should_stop: Callable[[], bool]) -> Iterator[Frame]:
        cap = open_capture(self.src)
        try:
            if self.is_file:
                yield from self._file_frames(cap, should_stop)
            else:
                yield from self._live_frames(cap, should_stop)
        finally:
            cap.release()

    def _file_frames(self, cap: cv2.VideoCapture, should_stop: Callable[[], bool]) -> Iterator[Frame]:
        native = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not 1.0 <= native <= 240.0:
            native = 25.0
        step = max(1, round(native / self.fps))  # decode every frame, analyse one in `step`
        index = 0
        offset = 0.0  # video time of the start of the current loop
        wall0 = time.monotonic()
        while not should_stop():
            video_t = offset + index / native
            delay = wall0 + video_t / self.speed - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.25))
                continue
            want = index % step == 0
            if want:
                ok, frame = cap.read()
            else:
                ok = cap.grab()  # skipped frames are decoded but never converted
            if not ok:
                if not self.loop:
                    self.ended = True
                    return
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                offset = video_t
                index = 0
                continue
            index += 1
            if want:
                yield video_t, frame

    def _live_frames(self, cap: cv2.VideoCapture, should_stop: Callable[[], bool]) -> Iterator[Frame]:
        period = 1.0 / self.fps
        last = float("-inf")
        failures = 0
        while not should_stop():
            ok, frame = cap.read()  # read every frame so the driver buffer never lags
            if not ok:
                failures += 1
                if failures > 50:
                    raise SourceError(f"video source {self.src!r} stopped delivering frames")
                time.sleep(0.1)
                continue
            failures = 0
            now = time.monotonic()
            if now - last >= period:
                last = now
                yield now, frame


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


def decode_picture(payload: bytes, on_bad: Callable[[str], None]) -> np.ndarray | None:
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
