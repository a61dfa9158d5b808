"""The Raspberry Pi camera module through ``rpicam-vid`` (``libcamera-vid`` on older releases).

Standard library only: the dumb camera uses it on a Pi Zero without OpenCV.

The codec is MJPEG, not YUV420, although YUV420 needs no decoding:
- every JPEG is self-delimiting (the MJPEG splitter resynchronises on the next picture), while
  a raw stream that loses one byte, or whose rows are padded to the ISP's stride (widths that
  are not a multiple of 64), is garbage from then on;
- the pipe carries ~60 kB a frame instead of 1.4 MB at 1280x720, and only the frames that are
  handed to detection (5 a second by default) are decoded, the others are dropped as bytes;
- the dumb camera forwards the very same JPEGs without touching them.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import SourceError
from .mjpeg_stream import split_jpegs

_LOGGER = logging.getLogger(__name__)

SOURCE_RPICAM = "rpicam"
PROGRAMS = ("rpicam-vid", "libcamera-vid")
NO_FRAME_TIMEOUT = 5.0  # seconds without a picture before the camera counts as stalled
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RpicamOptions:
    width: int = 1280
    height: int = 720
    framerate: float = 15.0


def find_program() -> str | None:
    for name in PROGRAMS:
        if path := shutil.which(name):
            return path
    return None


def command(program: str, opts: RpicamOptions) -> list[str]:
    return [
        program, "-t", "0", "-n", "--codec", "mjpeg",
        "--width", str(opts.width), "--height", str(opts.height),
        "--framerate", f"{opts.framerate:g}", "-o", "-",
    ]  # fmt: skip


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (even by SIGKILL). Linux only."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def set_process_name(name: str) -> None:
    """The name ps and top show (``comm``, 15 bytes); never a source URL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


class RpicamProcess:
    """One run of rpicam-vid: JPEGs from its stdout; its last stderr line for the error.

    It is its own process group (killed whole on close) and dies with the process that
    started it, so neither a kill -9 of us nor of the agent leaves the camera held.
    """

    def __init__(self, opts: RpicamOptions, max_bytes: int) -> None:
        program = find_program()
        if program is None:
            raise SourceError(f"{' or '.join(PROGRAMS)} not found: install rpicam-apps")
        self.program = os.path.basename(program)
        self.max_bytes = max_bytes
        self._stderr: deque[str] = deque(maxlen=5)
        try:
            self.proc = subprocess.Popen(
                command(program, opts),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                process_group=0,
                preexec_fn=die_with_parent,  # only a prctl: safe after fork
            )
        except OSError as err:
            raise SourceError(f"cannot run {self.program}: {err}") from None
        _LOGGER.info("Started %s (pid %s)", " ".join(command(self.program, opts)), self.proc.pid)
        self._errthread = threading.Thread(target=self._read_stderr, name="rpicam-stderr", daemon=True)
        self._errthread.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").strip()
            if line:
                self._stderr.append(line)
                _LOGGER.debug("%s: %s", self.program, line)

    @property
    def last_error_line(self) -> str | None:
        return self._stderr[-1] if self._stderr else None

    def jpegs(self, timeout: float = NO_FRAME_TIMEOUT) -> Iterator[bytes]:
        """Each JPEG as it arrives; SourceError when the program exits or stalls."""
        assert self.proc.stdout is not None
        yield from split_jpegs(_TimedReader(self.proc.stdout.fileno(), timeout), self.max_bytes)
        raise SourceError(self.exit_reason())

    def exit_reason(self) -> str:
        try:
            code = self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            return f"{self.program} closed its output"
        self._errthread.join(1.0)
        line = self.last_error_line
        return f"{self.program} exited with code {code}" + (f": {line}" if line else "")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(2.0)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class _TimedReader:
    """``read`` (what has come) on a pipe that gives up after ``timeout`` seconds."""

    def __init__(self, fd: int, timeout: float) -> None:
        self.fd = fd
        self.timeout = timeout

    def read(self, size: int, /) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            raise SourceError(f"no frame for {self.timeout:g} s")
        return os.read(self.fd, size)
