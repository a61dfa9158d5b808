"""Starts, stops and restarts one camera's detection process, with crash backoff."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from dataclasses import replace
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess

from ..detection.process import DetectorSpec, run

_LOGGER = logging.getLogger(__name__)

STOP_GRACE = 2.0  # seconds a process gets to stop by itself before SIGTERM, then SIGKILL
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 30.0  # a process that ran this long resets the backoff

_context: BaseContext | None = None


def context() -> BaseContext:
    """Forkserver where available: children fork from a clean, pre-imported server process.

    That keeps a restart fast (no re-import of OpenCV and numpy) and avoids forking the
    multi-threaded MQTT side.
    """
    global _context
    if _context is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            _context = multiprocessing.get_context("forkserver")
            _context.set_forkserver_preload(
                ["roiwatch_agent.detection.process", "roiwatch_agent.detection.person_model"]
            )
            from multiprocessing import forkserver

            forkserver.ensure_running()
        else:
            _context = multiprocessing.get_context("spawn")
    return _context


class _Running:
    def __init__(self, spec: DetectorSpec) -> None:
        ctx = context()
        recv, self.send = ctx.Pipe(duplex=False)
        self.proc: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=run, args=(spec, recv), name=f"roiwatch-detector-{spec.camera_id}", daemon=True
        )
        self.proc.start()
        recv.close()  # only the child reads; its EOF tells the child that we died
        self.started = time.monotonic()
        self.spec = spec

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # the child may be gone already
            self.send.send(("stop",))
        self.proc.join(STOP_GRACE)
        if self.proc.is_alive():
            _LOGGER.warning("Detection process %s did not stop; terminating", self.proc.pid)
            self.proc.terminate()
            self.proc.join(1.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1.0)
        self.send.close()


class Supervisor:
    """Keeps the detection process of one camera in the wanted state.

    ``want(spec)`` replaces the running process (stop the old one cleanly, start the new one);
    ``want(None)`` stops it. ``tick()`` notices a dead process and restarts it with backoff.
    """

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.restarts = 0
        self._wanted: DetectorSpec | None = None
        self._running: _Running | None = None
        self._failures = 0
        self._restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self._running.proc.pid if self._running else None

    @property
    def running(self) -> bool:
        return self._running is not None and self._running.proc.is_alive()

    @property
    def wanted(self) -> bool:
        return self._wanted is not None

    def want(self, spec: DetectorSpec | None) -> None:
        self._stop()
        self._wanted = spec
        self._failures = 0
        self._restart_at = None
        if spec is not None:
            self._start()

    def send_error(self, error: str | None) -> None:
        """Tell the running process to report an error (e.g. a refused config) in its status."""
        if self._wanted is not None:
            self._wanted = replace(self._wanted, error=error)
        if self._running is not None:
            with contextlib.suppress(OSError):
                self._running.send.send(("error", error))

    def _start(self) -> None:
        assert self._wanted is not None
        spec = replace(self._wanted, restarts=self.restarts)
        self._running = _Running(spec)
        _LOGGER.info(
            "Camera %s: detection process %s started (revision %s)",
            self.camera_id,
            self._running.proc.pid,
            spec.revision,
        )

    def _stop(self) -> None:
        if self._running is not None:
            pid = self._running.proc.pid
            self._running.stop()
            _LOGGER.info("Camera %s: detection process %s stopped", self.camera_id, pid)
            self._running = None

    def tick(self) -> None:
        now = time.monotonic()
        if self._running is not None and not self._running.proc.is_alive():
            code = self._running.proc.exitcode
            lived = now - self._running.started
            self._running.send.close()
            self._running = None
            if lived >= HEALTHY_AFTER:
                self._failures = 0
            self._failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self._failures - 1))
            self.restarts += 1
            _LOGGER.error(
                "Camera %s: detection process died (exit code %s); restart #%d in %.1f s",
                self.camera_id,
                code,
                self.restarts,
                delay,
            )
            self._restart_at = now + delay
        due = self._restart_at is not None and now >= self._restart_at
        if self._running is None and self._wanted is not None and due:
            self._restart_at = None
            self._start()

    def close(self) -> None:
        self.want(None)
