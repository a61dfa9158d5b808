"""The tests' side of roiwatch_dev/rtsp_server.py: an IP camera that can be killed and started again."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from roiwatch_dev import REPO

SERVER = REPO / "roiwatch_dev/rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-gi lives there, not in the venvs
DATA = REPO / ".cache/data"
# What scripts/setup encodes from vtest.avi (768x576 stretched, 10 fps, a keyframe every 2 s).
STREAMS = {
    "/main": DATA / "vtest-1080p-h264.mp4",
    "/sub": DATA / "vtest-360p-h265.mp4",
    "/sub264": DATA / "vtest-360p-h264.mp4",
}


def missing() -> str | None:
    """Why the RTSP camera cannot run here (for a skip), or None."""
    absent = [str(p) for p in STREAMS.values() if not p.is_file()]
    if absent:
        return f"{', '.join(absent)} missing: run scripts/setup"
    probe = 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer'
    if subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode != 0:
        return "GStreamer's RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) missing: run scripts/setup"
    return None


class RtspCamera:
    """The RTSP server as a process: ``start()`` listens (again on the same port after a
    ``kill()``), ``url(path)`` is what a user types, the password URL-encoded. ``auth``: how
    it asks for the login (basic, or digest as most cameras); ``mounts``: which of STREAMS."""

    def __init__(
        self, user: str, password: str, log: Path, auth: str = "basic", mounts: tuple[str, ...] = ()
    ) -> None:
        self.user, self.password, self.auth = user, password, auth
        self.mounts = mounts or tuple(STREAMS)
        self.log = log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        mounts = [arg for path in self.mounts for arg in ("--mount", f"{path}={STREAMS[path]}")]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port), "--auth", self.auth, *mounts],
                env={**os.environ, "RTSP_USER": self.user, "RTSP_PASSWORD": self.password},
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.kill()
                raise AssertionError(f"the RTSP server did not start: {self.log.read_text()[-2000:]}")
            chunk = os.read(self.proc.stdout.fileno(), 64)
            if not chunk:
                raise AssertionError(f"the RTSP server exited: {self.log.read_text()[-2000:]}")
            line += chunk
        self.port = int(line.split()[1])

    def pause(self, paused: bool) -> None:
        """As a camera that hangs, or whose cable is pulled: connections stay open, nothing comes."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def kill(self) -> None:
        """As a camera that loses power: no goodbye to its clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # (a stopped process too)
            self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def url(self, path: str) -> str:
        login = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"rtsp://{login}@127.0.0.1:{self.port}{path}"
