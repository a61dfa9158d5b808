"""The capture process: opens the camera, file or stream once per agent run and writes the
newest frame into shared memory (handover.py) for whichever detection process is running.

The agent's main process starts it (``Capture.start``), before any detection process, and it
lives across config revisions and detection restarts (clean or kill -9): a revision never
reopens the camera. A problem (program missing, camera gone, stream unreachable, no frame
for a while) goes into the segment's header, where the detection process picks it up for
status.error, and the source is opened again with backoff, without any detection restart.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import protocol
from ..video.errors import SourceError
from ..video.redact import redact_source
from ..video.rpicam import RpicamOptions, die_with_parent, set_process_name

if TYPE_CHECKING:  # OpenCV is imported by the capture process only
    from cv2.typing import MatLike
from .handover import CaptureHandle, FrameWriter, create_segment

_LOGGER = logging.getLogger(__name__)

RETRY_FIRST = 0.5  # seconds; doubles up to RETRY_MAX while the source keeps failing
RETRY_MAX = 10.0
HEALTHY_AFTER = 30.0  # a source that delivered this long starts again from RETRY_FIRST
BEAT_EVERY = 0.5
PROCESS_NAME = "roiwatch-cap"  # what ps shows (the source itself never: it may hold a password)


@dataclass(frozen=True)
class CaptureSpec:
    """What the capture process opens (pickled to our own child only)."""

    camera_id: str
    source: str
    loop: bool = False
    speed: float = 1.0
    rpicam: RpicamOptions = field(default_factory=RpicamOptions)
    log_level: int = logging.INFO

    @property
    def label(self) -> str:
        return redact_source(self.source)


class _Stop(Exception):
    """SIGTERM: stop capturing."""


def run(spec: CaptureSpec, handle: CaptureHandle, parent: int) -> None:
    """Process entry point."""
    die_with_parent()
    if os.getppid() != parent:  # the agent died before we asked to die with it
        return
    set_process_name(PROCESS_NAME)
    logging.basicConfig(
        level=spec.log_level,
        format=f"%(asctime)s %(levelname)s [capture {spec.camera_id}] %(name)s: %(message)s",
    )
    # OpenCV's and FFmpeg's own messages may name the URL, password included: quiet but at DEBUG.
    debug = spec.log_level <= logging.DEBUG
    os.environ.setdefault("OPENCV_LOG_LEVEL", "INFO" if debug else "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "32" if debug else "-8")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the agent decides when we stop
    stopping = threading.Event()

    def on_term(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            raise _Stop  # out of a blocking read at once; the feed's close() still runs

    signal.signal(signal.SIGTERM, on_term)
    writer = FrameWriter(handle)
    beat = threading.Thread(target=_beat, args=(writer, stopping), name="heartbeat", daemon=True)
    beat.start()
    try:
        _capture(spec, writer, stopping)
    except _Stop:
        pass
    finally:
        stopping.set()
        beat.join(1.0)
        writer.close()


def _beat(writer: FrameWriter, stopping: threading.Event) -> None:
    """Say we are alive, also while a read blocks or we wait to retry (stalls have timeouts)."""
    while not stopping.is_set():
        writer.beat()
        stopping.wait(BEAT_EVERY)


def _capture(spec: CaptureSpec, writer: FrameWriter, stopping: threading.Event) -> None:
    from ..video.feeds import FileFeed, Pace, open_feed  # OpenCV is imported here, in this process only

    # While no detection process reads (disarmed, or between two), frames are drained, not decoded.
    # The config's default rate until a detection process says what it wants.
    pace = Pace(lambda: writer.want_fps or protocol.FPS.default, lambda: writer.reader_active)
    delay = RETRY_FIRST
    while not stopping.is_set():
        last = writer.last_timestamp()
        ts_start = 0.0 if last is None else last + 0.1
        feed = open_feed(spec.source, spec.loop, spec.speed, spec.rpicam, ts_start)
        opened = time.monotonic()
        _LOGGER.info("Capturing from %s", spec.label)
        frames = 0
        try:
            for ts, frame in feed.frames(pace):
                if stopping.is_set():
                    raise _Stop
                writer.write(ts, _fit(frame, writer.handle.slot_bytes))
                frames += 1
                if frames == 1:
                    _LOGGER.info("First frame from %s: %sx%s", spec.label, frame.shape[1], frame.shape[0])
        except _Stop:
            break
        except SourceError as err:
            _LOGGER.error("Capture from %s: %s; retrying in %.1f s", spec.label, err, delay)
            writer.set_error(str(err))
        except Exception as err:  # a bug or a frame we cannot hold: report, keep trying
            _LOGGER.exception("Capture from %s failed", spec.label)
            writer.set_error(f"capture failed: {err}")
        else:
            if isinstance(feed, FileFeed):  # not looped: only a file ends
                _LOGGER.info("Video file %s ended", spec.label)
                writer.set_ended(True)
                stopping.wait()
                break
            writer.set_error(f"{spec.label} ended")
        finally:
            feed.close()
        if time.monotonic() - opened >= HEALTHY_AFTER:
            delay = RETRY_FIRST
        stopping.wait(delay)
        delay = min(RETRY_MAX, delay * 2)


def _fit(frame: MatLike, max_bytes: int) -> MatLike:
    """The frame, scaled down (same aspect) if it is bigger than a slot holds."""
    if frame.nbytes <= max_bytes:
        return frame
    import cv2

    scale = (max_bytes / frame.nbytes) ** 0.5
    h, w = frame.shape[:2]
    return cv2.resize(frame, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)


class Capture:
    """The main process's side: the segment, and the capture process kept running in it."""

    def __init__(self, spec: CaptureSpec) -> None:
        self.spec = spec
        name = f"roiwatch-{spec.camera_id}-{os.getpid()}-{secrets.token_hex(4)}"
        self._shm, self.handle = create_segment(name)
        # Spawned, not forked from the detection forkserver: the capture is no detection child.
        self._ctx = multiprocessing.get_context("spawn")
        self._closing = threading.Event()
        self._started = threading.Event()
        self.proc: multiprocessing.process.BaseProcess | None = None
        self.starts = 0
        self._thread = threading.Thread(target=self._keep_running, name="capture-watch", daemon=True)

    def start(self) -> CaptureHandle:
        self._thread.start()
        self._started.wait(30)
        return self.handle

    def _keep_running(self) -> None:
        """Start the capture process, and again if it dies (not if it was stopped).

        This thread is the process's parent thread: the kernel kills the capture process
        when it ends (die_with_parent), so it lives until close().
        """
        delay = RETRY_FIRST
        while not self._closing.is_set():
            proc = self._ctx.Process(
                target=run, args=(self.spec, self.handle, os.getpid()), name="roiwatch-capture", daemon=True
            )
            proc.start()
            self.proc = proc
            self.starts += 1
            started = time.monotonic()
            _LOGGER.info(
                "Camera %s: capture process %s started (%s)", self.spec.camera_id, proc.pid, self.spec.label
            )
            self._started.set()
            while proc.is_alive() and not self._closing.is_set():
                proc.join(0.5)
            if self._closing.is_set() or proc.exitcode == 0:
                return
            if time.monotonic() - started >= HEALTHY_AFTER:
                delay = RETRY_FIRST
            _LOGGER.error(
                "Camera %s: capture process died (exit code %s); restarting in %.1f s",
                self.spec.camera_id,
                proc.exitcode,
                delay,
            )
            self._closing.wait(delay)
            delay = min(RETRY_MAX, delay * 2)

    def close(self) -> None:
        self._closing.set()
        proc = self.proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)
        if self._thread.is_alive():
            self._thread.join(2.0)
        with contextlib.suppress(FileNotFoundError):
            self._shm.unlink()
        self._shm.close()
