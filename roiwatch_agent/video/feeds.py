"""The frame feeds the capture process reads: a file, a camera or stream through OpenCV, the
camera module, an HTTP MJPEG stream, an HTTP snapshot URL.

Each yields (timestamp, BGR frame) for the frames its Pace wants, and decodes only those
where it can. Problems raise SourceError with a message for status.error (never a password).
"""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.client import HTTPResponse
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
from cv2.typing import MatLike

from .. import protocol
from .errors import SourceError
from .mjpeg_stream import split_jpegs
from .redact import redact_source, scrub
from .rpicam import NO_FRAME_TIMEOUT, SOURCE_RPICAM, RpicamOptions, RpicamProcess

Frames = Iterator[tuple[float, MatLike]]
HTTP_TIMEOUT = 10.0  # seconds to connect, and between two pictures of a stream


class Pace:
    """Which frames to hand over: at most ``fps()`` a second (the rate the reader asks for), and
    none while ``active()`` says nobody reads (the source is still drained, not decoded)."""

    def __init__(self, fps: Callable[[], float], active: Callable[[], bool] = lambda: True) -> None:
        self.fps = fps
        self.active = active
        self.last = float("-inf")

    @property
    def next_due(self) -> float:
        return self.last + 0.95 / self.fps()  # a little early: camera clocks jitter

    def want(self, ts: float) -> bool:
        if ts < self.next_due and ts >= self.last:  # (a file looped by a restart: take it)
            return False
        if not self.active():
            return False
        self.last = ts
        return True


class Feed(Protocol):
    def frames(self, pace: Pace) -> Frames: ...

    def close(self) -> None: ...


def open_feed(source: str, loop: bool, speed: float, rpicam: RpicamOptions, ts_start: float) -> Feed:
    if source == SOURCE_RPICAM:
        return RpicamFeed(rpicam)
    if source.startswith(("http://", "https://")):
        return HttpFeed(source)
    if Path(source).is_file():
        return FileFeed(source, loop, speed, ts_start)
    return OpenCvFeed(source)


def decode(jpeg: bytes) -> MatLike | None:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


class FileFeed:
    """A file replayed at its own rate (times ``speed``), like a live camera; video time stamps.

    ``ts_start`` goes on from where an earlier capture process stopped, so time never jumps back.
    """

    def __init__(self, path: str, loop: bool, speed: float, ts_start: float) -> None:
        self.path, self.loop, self.speed, self.ts_start = path, loop, speed, ts_start
        self.cap: cv2.VideoCapture | None = None

    def frames(self, pace: Pace) -> Frames:
        self.cap = cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            raise SourceError(f"cannot open video file {self.path}")
        native = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not 1.0 <= native <= 240.0:
            native = 25.0
        index = 0
        offset = self.ts_start  # video time of the start of the current pass
        wall0 = time.monotonic()
        while True:
            video_t = offset + index / native
            delay = wall0 + (video_t - self.ts_start) / self.speed - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.25))
                continue
            if not cap.grab():  # decoded, not converted: only wanted frames are
                if not self.loop:
                    return
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                offset, index = video_t, 0
                continue
            index += 1
            if pace.want(video_t):
                ok, frame = cap.retrieve()
                if ok:
                    yield video_t, frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()


class OpenCvFeed:
    """A V4L2/USB device (an index) or a stream OpenCV/FFmpeg reads (rtsp://...)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.cap: cv2.VideoCapture | None = None

    def _open(self) -> cv2.VideoCapture:
        if self.source.isdigit():
            return cv2.VideoCapture(int(self.source))
        # A read gives up after NO_FRAME_TIMEOUT: a camera that stalls (hangs, its cable pulled:
        # no connection reset) is then reported and opened again, as one that went away.
        params = [
            *(cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(HTTP_TIMEOUT * 1000)),
            *(cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(NO_FRAME_TIMEOUT * 1000)),
        ]
        return cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)

    def frames(self, pace: Pace) -> Frames:
        self.cap = cap = self._open()
        if not cap.isOpened():
            raise SourceError(f"cannot open {redact_source(self.source)}")
        last_ok = time.monotonic()
        while True:
            asked = time.monotonic()
            ok = cap.grab()  # every frame, so the driver's buffer never lags
            now = time.monotonic()
            if now - asked >= NO_FRAME_TIMEOUT:
                # The read timed out: a frame it still returns is one the decoder held back
                # (FFmpeg drains one per timed-out read), not a live one.
                ok = False
            if not ok:
                if now - last_ok >= NO_FRAME_TIMEOUT:
                    where = redact_source(self.source)
                    raise SourceError(f"no frame for {NO_FRAME_TIMEOUT:g} s from {where}")
                time.sleep(0.1)
                continue
            last_ok = now
            if pace.want(now):
                ok, frame = cap.retrieve()
                if ok:
                    yield now, frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()


def _jpeg_frames(jpegs: Iterator[bytes], pace: Pace) -> Frames:
    """Decode only the pictures that are wanted; the others are dropped as bytes."""
    for jpeg in jpegs:
        now = time.monotonic()
        if pace.want(now) and (frame := decode(jpeg)) is not None:
            yield now, frame


class RpicamFeed:
    def __init__(self, opts: RpicamOptions) -> None:
        self.opts = opts
        self.proc: RpicamProcess | None = None

    def frames(self, pace: Pace) -> Frames:
        self.proc = RpicamProcess(self.opts, protocol.MAX_PICTURE_BYTES)
        yield from _jpeg_frames(self.proc.jpegs(), pace)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.close()


class HttpFeed:
    """``http(s)://``: an MJPEG stream (multipart/x-mixed-replace) is read as it comes; a URL
    that answers one JPEG (a snapshot endpoint) is asked again at the rate wanted. Anything
    else goes to FFmpeg. ``user:password@`` is sent as HTTP basic or digest authentication."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
        self.bare = urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
        handlers: list[urllib.request.BaseHandler] = []
        self._basic: str | None = None
        if parts.username is not None:
            passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            passwords.add_password(None, self.bare, parts.username, parts.password or "")
            handlers += [urllib.request.HTTPDigestAuthHandler(passwords)]
            # Basic is sent up front: many cameras answer a request without it by closing.
            token = f"{parts.username}:{parts.password or ''}".encode()
            self._basic = "Basic " + base64.b64encode(token).decode()
        self.opener = urllib.request.build_opener(*handlers)
        self.response: HTTPResponse | None = None
        self.fallback: OpenCvFeed | None = None

    def _get(self) -> tuple[str, HTTPResponse]:
        request = urllib.request.Request(self.bare)  # noqa: S310 (open_feed: http(s) only)
        if self._basic:
            request.add_header("Authorization", self._basic)
        try:
            response: HTTPResponse = self.opener.open(request, timeout=HTTP_TIMEOUT)
        except urllib.error.HTTPError as err:
            raise SourceError(f"{redact_source(self.url)} answered HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise SourceError(scrub(f"cannot reach {redact_source(self.url)}: {reason}", self.url)) from None
        self.response = response
        return response.headers.get_content_type(), response

    def frames(self, pace: Pace) -> Frames:
        kind, response = self._get()
        if kind.startswith("multipart/"):
            yield from _jpeg_frames(self._stream(response), pace)
        elif kind == "image/jpeg":
            yield from self._snapshots(response, pace)
        else:
            response.close()
            self.fallback = OpenCvFeed(self.url)
            yield from self.fallback.frames(pace)

    def _stream(self, response: HTTPResponse) -> Iterator[bytes]:
        try:
            yield from split_jpegs(response, protocol.MAX_PICTURE_BYTES)
        except TimeoutError:
            raise SourceError(f"no frame for {HTTP_TIMEOUT:g} s from {redact_source(self.url)}") from None
        except OSError as err:
            raise SourceError(scrub(f"{redact_source(self.url)}: {err}", self.url)) from None
        raise SourceError(f"{redact_source(self.url)} ended the stream")

    def _snapshots(self, response: HTTPResponse, pace: Pace) -> Frames:
        while True:
            try:
                jpeg = response.read(protocol.MAX_PICTURE_BYTES + 1)
            except OSError as err:
                raise SourceError(scrub(f"{redact_source(self.url)}: {err}", self.url)) from None
            finally:
                response.close()
            now = time.monotonic()
            frame = decode(jpeg) if len(jpeg) <= protocol.MAX_PICTURE_BYTES else None
            if frame is None:
                raise SourceError(f"{redact_source(self.url)} answered a picture that does not decode")
            if pace.want(now):
                yield now, frame
            time.sleep(max(0.0, pace.next_due - time.monotonic()))  # ask again when due
            kind, response = self._get()
            if kind != "image/jpeg":
                response.close()
                raise SourceError(f"{redact_source(self.url)} answered {kind}, not a JPEG")

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
        if self.fallback is not None:
            self.fallback.close()
