"""The frame hand-over: the capture process writes the newest frame into shared memory,
the detection process reads it. No frame goes through a pipe.

Frigate gives every frame its own segment and sends the names through a queue, because
several consumers (detector, recorder, output) use each frame. Here one detection process
wants only the newest frame, and it comes and goes with every config revision, so one
segment per camera holds a small ring instead:

    header | slot 0 | slot 1 | slot 2

The header carries the sequence number of the newest complete slot, the capture's error and
heartbeat, and the rate the reader asks for. Each slot starts with its own sequence number,
timestamp and shape. The writer clears a slot's number, writes the pixels, then sets the
number and the header's; the reader copies a slot out and checks that its number did not
change meanwhile (a seqlock), so a frame is never torn, and neither side ever waits for the
other: a detection process killed mid-read holds nothing.

The agent's main process creates (and unlinks) the segment, so it outlives both the capture
and the detection processes; the resource tracker unlinks it if the main process is killed.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..video.errors import SourceError

if TYPE_CHECKING:  # OpenCV is imported by the capture process only
    from cv2.typing import MatLike

SLOTS = 3  # the reader copies out in about a millisecond; the writer laps a slot every 3 frames
# A 1080p BGR frame; bigger ones are scaled down to it by the capture (detection works in
# fractions of the picture). 3 slots are 19 MB of /dev/shm, which a container has 64 MB of.
MAX_FRAME_BYTES = 1920 * 1080 * 3
ERROR_BYTES = 448
SHM_DIR = "/dev/shm"  # noqa: S108 (where Linux keeps POSIX shared memory; only its free space is read)

# magic, latest seq, heartbeat, want fps, error seq, ended, error length, error text
_HEADER = struct.Struct(f"<8sQddQII{ERROR_BYTES}s")
_SLOT = struct.Struct("<QdIIIxxxx")  # seq, timestamp, height, width, channels
_MAGIC = b"RWFRAME1"
HEADER_BYTES = 512
SLOT_HEADER_BYTES = 64
_OFF_LATEST = 8
_OFF_HEARTBEAT = 16
_OFF_WANT = 24
_OFF_ERRSEQ = 32
_OFF_ENDED = 40
_OFF_ERRLEN = 44
_OFF_ERRTEXT = 48
_OFF_READER = 504  # the reader's heartbeat, after the error text
assert _HEADER.size <= _OFF_READER and _OFF_READER + 8 <= HEADER_BYTES

STALE_AFTER = 5.0  # seconds without a capture heartbeat: the capture process is not working
READER_GONE = 2.0  # seconds without a reader heartbeat: nobody is detecting (disarmed, restarting)
READER_BEAT = 0.5
POLL = 0.005  # seconds between looks for a newer frame


@dataclass(frozen=True)
class CaptureHandle:
    """What a detection process needs to read the frames (picklable, no credentials)."""

    shm_name: str
    slot_bytes: int = MAX_FRAME_BYTES
    slots: int = SLOTS

    @property
    def size(self) -> int:
        return HEADER_BYTES + self.slots * (SLOT_HEADER_BYTES + self.slot_bytes)


def create_segment(
    name: str, slot_bytes: int = MAX_FRAME_BYTES
) -> tuple[shared_memory.SharedMemory, CaptureHandle]:
    """The main process's side: a new, empty segment and the handle to it."""
    handle = CaptureHandle(name, slot_bytes)
    with contextlib.suppress(OSError):
        fs = os.statvfs(SHM_DIR)
        if fs.f_bavail * fs.f_frsize < handle.size:
            free, need = fs.f_bavail * fs.f_frsize // 2**20, handle.size // 2**20 + 1
            raise SourceError(f"{SHM_DIR} has {free} MB free, the capture needs {need} MB")
    shm = shared_memory.SharedMemory(name=name, create=True, size=handle.size)
    assert shm.buf is not None
    shm.buf[: _HEADER.size] = _HEADER.pack(_MAGIC, 0, 0.0, 0.0, 0, 0, 0, b"")
    return shm, handle


def attach(handle: CaptureHandle) -> shared_memory.SharedMemory:
    """Open an existing segment without making this process its owner."""
    try:
        if sys.version_info >= (3, 13):
            shm = shared_memory.SharedMemory(name=handle.shm_name, track=False)
        else:  # 3.11: the agent's processes share one resource tracker; registering again is a no-op
            shm = shared_memory.SharedMemory(name=handle.shm_name)
    except FileNotFoundError:
        raise SourceError("the capture's shared memory is gone (the agent is stopping?)") from None
    if shm.buf is None or bytes(shm.buf[:8]) != _MAGIC:
        shm.close()
        raise SourceError(f"shared memory {handle.shm_name} is not a RoiWatch frame segment")
    return shm


class _Segment:
    def __init__(self, handle: CaptureHandle, shm: shared_memory.SharedMemory) -> None:
        self.handle = handle
        self.shm = shm
        buf = shm.buf
        assert buf is not None
        self.buf: memoryview = buf

    def _slot_offset(self, seq: int) -> int:
        return HEADER_BYTES + (seq % self.handle.slots) * (SLOT_HEADER_BYTES + self.handle.slot_bytes)

    def _u64(self, off: int) -> int:
        return int(struct.unpack_from("<Q", self.buf, off)[0])

    def _f64(self, off: int) -> float:
        return float(struct.unpack_from("<d", self.buf, off)[0])

    @property
    def latest(self) -> int:
        return self._u64(_OFF_LATEST)

    @property
    def heartbeat(self) -> float:
        return self._f64(_OFF_HEARTBEAT)

    @property
    def want_fps(self) -> float:
        return self._f64(_OFF_WANT)

    @property
    def ended(self) -> bool:
        return bool(struct.unpack_from("<I", self.buf, _OFF_ENDED)[0])

    @property
    def reader_active(self) -> bool:
        """A detection process read lately: frames are worth decoding and handing over."""
        return time.monotonic() - self._f64(_OFF_READER) < READER_GONE

    def error(self) -> tuple[int, str]:
        seq = self._u64(_OFF_ERRSEQ)
        length = struct.unpack_from("<I", self.buf, _OFF_ERRLEN)[0]
        text = bytes(self.buf[_OFF_ERRTEXT : _OFF_ERRTEXT + min(length, ERROR_BYTES)])
        return seq, text.decode(errors="replace")

    def close(self) -> None:
        del self.buf
        self.shm.close()


class FrameWriter(_Segment):
    """The capture process's side."""

    def __init__(self, handle: CaptureHandle) -> None:
        super().__init__(handle, attach(handle))
        self.seq = self.latest
        self._error = self.error()[1]

    def last_timestamp(self) -> float | None:
        """The newest frame's timestamp (a restarted capture process goes on from it)."""
        if self.seq == 0:
            return None
        return float(_SLOT.unpack_from(self.buf, self._slot_offset(self.seq))[1])

    def beat(self) -> None:
        struct.pack_into("<d", self.buf, _OFF_HEARTBEAT, time.monotonic())

    def write(self, ts: float, frame: MatLike) -> None:
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise ValueError(f"unsupported frame {frame.dtype} {frame.shape}")
        if frame.nbytes > self.handle.slot_bytes:
            raise ValueError(f"frame of {frame.nbytes} bytes exceeds the {self.handle.slot_bytes} of a slot")
        seq = self.seq + 1
        off = self._slot_offset(seq)
        h, w = frame.shape[:2]
        c = frame.shape[2] if frame.ndim == 3 else 1
        struct.pack_into("<Q", self.buf, off, 0)  # being written
        dst: npt.NDArray[np.uint8] = np.ndarray(frame.shape, np.uint8, self.buf, off + SLOT_HEADER_BYTES)
        dst[...] = frame  # the one copy: the decoder's buffer into shared memory
        _SLOT.pack_into(self.buf, off, seq, ts, h, w, c)
        struct.pack_into("<Qd", self.buf, _OFF_LATEST, seq, time.monotonic())
        self.seq = seq
        if self._error:
            self.set_error(None)

    def set_error(self, error: str | None) -> None:
        text = (error or "").encode()[:ERROR_BYTES]
        if text.decode(errors="ignore") == self._error:
            return
        self._error = text.decode(errors="ignore")
        self.buf[_OFF_ERRTEXT : _OFF_ERRTEXT + len(text)] = text
        struct.pack_into("<I", self.buf, _OFF_ERRLEN, len(text))
        struct.pack_into("<Q", self.buf, _OFF_ERRSEQ, self._u64(_OFF_ERRSEQ) + 1)

    def set_ended(self, ended: bool) -> None:
        struct.pack_into("<I", self.buf, _OFF_ENDED, int(ended))


class FrameReader(_Segment):
    """The detection process's side: the newest frame, each one once, at the rate asked for."""

    def __init__(self, handle: CaptureHandle, fps: float, on_error: Callable[[str | None], None]) -> None:
        super().__init__(handle, attach(handle))
        self.on_error = on_error
        struct.pack_into("<d", self.buf, _OFF_WANT, fps)  # the capture hands over this many a second
        self.seen = 0
        self._beat_at = 0.0
        self._beat()

    def _beat(self) -> None:
        self._beat_at = time.monotonic()
        struct.pack_into("<d", self.buf, _OFF_READER, self._beat_at)

    def read(self) -> tuple[int, float, npt.NDArray[np.uint8]] | None:
        """The newest frame as (seq, timestamp, a private copy), or None if no complete one."""
        for _ in range(3):
            seq = self.latest
            if seq == 0:
                return None
            off = self._slot_offset(seq)
            slot_seq, ts, h, w, c = _SLOT.unpack_from(self.buf, off)
            if slot_seq != seq or h * w * c > self.handle.slot_bytes:
                continue
            shape = (h, w, c) if c > 1 else (h, w)
            view: npt.NDArray[np.uint8] = np.ndarray(shape, np.uint8, self.buf, off + SLOT_HEADER_BYTES)
            frame = view.copy()
            if struct.unpack_from("<Q", self.buf, off)[0] == seq:  # not overwritten meanwhile
                return seq, float(ts), frame
        return None

    def frames(self, should_stop: Callable[[], bool]) -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
        """Each newer frame, as it comes; returns when a file ended. Calls ``on_error(text)``
        when the capture reports a problem (or stops working), ``on_error(None)`` when frames
        come back."""
        on_error = self.on_error
        reported: str | None = None
        err_seq = -1
        started = time.monotonic()  # a capture process that is still starting is not stale
        while not should_stop():
            if time.monotonic() - self._beat_at >= READER_BEAT:
                self._beat()
            got = self.read() if self.latest != self.seen else None
            if got is not None and got[0] != self.seen:
                self.seen, ts, frame = got
                if reported is not None:
                    reported = None
                    on_error(None)
                yield ts, frame
                continue
            problem: str | None = None
            seq, text = self.error()
            if text:
                problem = text
            elif self.ended:
                return  # a file that was not looped: the caller says so
            elif time.monotonic() - max(self.heartbeat, started) > STALE_AFTER:
                problem = "the capture process is not running"
            if problem is not None and (problem != reported or seq != err_seq):
                reported, err_seq = problem, seq
                on_error(problem)
            time.sleep(POLL)
