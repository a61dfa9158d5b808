"""Starts, stops and restarts one camera's detection process, with crash backoff."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from ..detection.pipeline import HeldState
from ..detection.process import STOP_CLEAR, STOP_LEAVE, STOP_REPLACE, DetectorSpec, run

_LOGGER = logging.getLogger(__name__)

STOP_GRACE = 2.0  # seconds a process gets to stop by itself before SIGTERM, then SIGKILL
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 30.0  # a process that ran this long resets the backoff
READY_WAIT = 10.0  # seconds the old process detects on while its successor loads, at most

_context: ForkServerContext | SpawnContext | None = None


def context() -> ForkServerContext | SpawnContext:
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
    """One detection process and our end of its duplex control pipe."""

    def __init__(self, spec: DetectorSpec, on_message: Callable[[tuple[Any, ...]], None]) -> None:
        ctx = context()
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc: BaseProcess = ctx.Process(
            target=run, args=(spec, child), name=f"roiwatch-detector-{spec.camera_id}", daemon=True
        )
        self.proc.start()
        child.close()  # only the child holds it now; its EOF tells the child that we died
        self.started = time.monotonic()
        self.spec = spec
        self.on_message = on_message
        self.stop_at: float | None = None  # when it was asked to stop
        self.stage = 0  # 0: asked, 1: terminated, 2: killed
        self.cleared = False
        self.ready = False  # loaded, on standby
        self.live = False  # told to go: it may publish

    def go(self, held: dict[str, HeldState]) -> None:
        self.send("go", held)
        self.live = True

    def send(self, *msg: object) -> None:
        with contextlib.suppress(OSError):  # the child may be gone already
            self.conn.send(msg)

    def drain(self) -> None:
        """Hand every message the child sent on to on_message (what it sent before dying, too)."""
        try:
            while self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "cleared":
                    self.cleared = True
                elif msg[0] == "ready":
                    self.ready = True
                self.on_message(msg)
        except (EOFError, OSError):
            pass

    def ask_stop(self, mode: str) -> None:
        self.send("stop", mode)
        if self.stop_at is None:
            self.stop_at = time.monotonic()

    def escalate(self, now: float) -> None:
        """SIGTERM after STOP_GRACE, SIGKILL a second later: never waits."""
        assert self.stop_at is not None
        if self.stage == 0 and now >= self.stop_at + STOP_GRACE:
            _LOGGER.warning("Detection process %s did not stop; terminating", self.proc.pid)
            self.proc.terminate()
            self.stage = 1
        elif self.stage == 1 and now >= self.stop_at + STOP_GRACE + 1.0:
            _LOGGER.warning("Detection process %s did not terminate; killing", self.proc.pid)
            self.proc.kill()
            self.stage = 2

    def close(self) -> None:
        self.drain()
        self.proc.join(0)  # reap
        self.conn.close()


class Supervisor:
    """Keeps the detection process of one camera in the wanted state, never blocking.

    ``want(spec)`` replaces the running process: the new one starts at once on standby and
    loads its model while the old one detects on; once it is ready the old one is asked to stop
    and leaves its region states as they are. Once the old one is gone the new one is told to
    go, with the states the old one last reported: no two processes of a camera ever publish
    at once, and a burst of wants ends with the last one running. ``want(None)`` is a real
    stop: the regions are cleared to OFF; ``leave()`` the agent's own stop: the regions stay as
    they are for the next agent. ``tick()`` moves all this on and restarts a dead process with
    backoff. The first process of an agent run waits for ``carry()`` (the region states the last
    run left) before it goes.
    """

    def __init__(self, camera_id: str, publish_off: Callable[[list[str]], None] | None = None) -> None:
        """``publish_off(roi_ids)``: clears regions a stopped process could not (it was killed)."""
        self.camera_id = camera_id
        self.restarts = 0
        self.held: dict[str, HeldState] = {}  # the regions' states, as the processes report them
        self._publish_off = publish_off
        self._wanted: DetectorSpec | None = None
        self._running: _Running | None = None  # on standby, or live
        self._stopping: _Running | None = None  # the live one being replaced or stopped
        self._discarded: list[_Running] = []  # on standby when replaced: they never published
        self._clear = False  # the process being stopped must clear its regions
        self.carrying = True  # the states the last agent run left are not in yet: no go
        self._failures = 0
        self._restart_at: float | None = None
        self._crash_error: str | None = None
        # When the last process ended without disconnecting (killed, crashed) and none took
        # over since: its last will reaches HA WILL_DELAY later (see CameraController.tick).
        self.unclean_exit_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self._running.proc.pid if self._running else None

    @property
    def running(self) -> bool:
        return self._running is not None and self._running.proc.is_alive()

    @property
    def wanted(self) -> bool:
        return self._wanted is not None

    @property
    def busy(self) -> bool:
        """Something is under way that tick() must move on soon (a stop, a start)."""
        starting = self._running is not None and not self._running.live
        return bool(self._stopping or self._discarded or starting) or (
            self._running is None and self._wanted is not None
        )

    @property
    def idle(self) -> bool:
        return self._running is None and self._stopping is None and not self._discarded

    def want(self, spec: DetectorSpec | None) -> None:
        self._wanted = spec
        self._failures = 0
        self._restart_at = None
        self._crash_error = None
        if spec is None:
            self._clear = True
            if self._stopping is not None:
                self._stopping.ask_stop(STOP_CLEAR)  # if it no longer hears it, see _finish_stop
        running, self._running = self._running, None
        if running is not None and running.live:
            if spec is None:
                running.ask_stop(STOP_CLEAR)
            self._stopping = running  # a replacement is asked to stop once its successor is ready
        elif running is not None:
            running.ask_stop(STOP_REPLACE)
            running.proc.terminate()  # on standby: nothing to finish
            self._discarded.append(running)
        if spec is None and self._stopping is None:
            self._clear_held()
        if spec is not None:
            self._start()
        self.tick()

    def carry(self, on_ids: Iterable[str]) -> None:
        """The regions a previous agent run left ON: held as if just seen, until the first frames decide.

        Then the first process goes (with these states): it publishes no OFF before it has looked.
        """
        for roi_id in on_ids:
            if not (roi_id in self.held and self.held[roi_id].on):
                self.held[roi_id] = HeldState(True, math.inf)  # the pipeline reads inf as "now"
        self.carrying = False

    def leave(self) -> None:
        """The agent stops: every process ends without touching its regions (see STOP_LEAVE)."""
        self._wanted = None
        self._restart_at = None
        for proc in (self._running, self._stopping):
            if proc is not None and proc.live:
                proc.ask_stop(STOP_LEAVE)
            elif proc is not None:
                proc.ask_stop(STOP_REPLACE)
                proc.proc.terminate()  # on standby: it never published
        if self._stopping is None and self._running is not None and self._running.live:
            self._stopping = self._running
        elif self._running is not None and self._running is not self._stopping:
            self._discarded.append(self._running)
        self._running = None

    def send_error(self, error: str | None) -> None:
        """Tell the running process to report an error (e.g. a refused config) in its status."""
        if self._wanted is not None:
            self._wanted = replace(self._wanted, error=error)
        if self._running is not None:
            self._running.send("error", error)

    def _on_message(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "held":
            self.held = dict(msg[1])
        elif msg[0] == "crashed":
            self._crash_error = str(msg[1])

    def _clear_held(self) -> None:
        on = [roi_id for roi_id, state in self.held.items() if state.on]
        self.held = {}
        self._clear = False
        if on and self._publish_off is not None:
            self._publish_off(on)

    def _start(self) -> None:
        assert self._wanted is not None
        wanted = self._wanted
        spec = replace(wanted, restarts=self.restarts, error=wanted.error or self._crash_error)
        self._running = _Running(spec, self._on_message)
        _LOGGER.info(
            "Camera %s: detection process %s started (revision %s)",
            self.camera_id,
            self._running.proc.pid,
            spec.revision,
        )

    def _go(self, running: _Running) -> None:
        running.go(self.held)  # removed regions too: the new process clears their topics
        self.unclean_exit_at = None

    def _finish_stop(self, now: float) -> None:
        stopping = self._stopping
        assert stopping is not None
        stopping.drain()
        if stopping.stop_at is None:
            successor = self._running
            mode = STOP_CLEAR if self._clear else STOP_REPLACE
            if successor is None or successor.ready or now >= successor.started + READY_WAIT:
                stopping.ask_stop(mode)
            if successor is not None and not successor.proc.is_alive():
                stopping.ask_stop(mode)
            return
        if stopping.proc.is_alive():
            stopping.escalate(now)
            return
        stopping.close()
        self._stopping = None
        if stopping.stage > 0 or stopping.proc.exitcode != 0:
            self.unclean_exit_at = now
        _LOGGER.info("Camera %s: detection process %s stopped", self.camera_id, stopping.proc.pid)
        if self._clear:
            if stopping.cleared:
                self.held = {}
                self._clear = False
            else:  # killed before it could: clear on its behalf
                self._clear_held()

    def tick(self) -> None:
        now = time.monotonic()
        if self._running is not None:
            self._running.drain()  # first: its "ready" lets the old one stop in this tick
        if self._stopping is not None:
            self._finish_stop(now)
        for old in list(self._discarded):
            if not old.proc.is_alive():
                old.close()
                self._discarded.remove(old)
            elif old.stop_at is not None and now >= old.stop_at + 1.0:
                old.proc.kill()
        running = self._running
        if running is not None:
            if not running.proc.is_alive():
                self._crashed(running, now)
            elif not running.live and self._stopping is None and not self.carrying:
                self._go(running)
        due = self._restart_at is None or now >= self._restart_at
        if self._running is None and self._stopping is None and self._wanted is not None and due:
            self._restart_at = None
            self._start()
            self.tick()

    def _crashed(self, running: _Running, now: float) -> None:
        running.close()
        self._running = None
        if running.live:
            self.unclean_exit_at = now
        lived = now - running.started
        if lived >= HEALTHY_AFTER:
            self._failures = 0
        self._failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self._failures - 1))
        self.restarts += 1
        _LOGGER.error(
            "Camera %s: detection process died (exit code %s); restart #%d in %.1f s",
            self.camera_id,
            running.proc.exitcode,
            self.restarts,
            delay,
        )
        self._restart_at = now + delay

    def close(self, timeout: float = STOP_GRACE + 2.0) -> None:
        """Wait (briefly) for the processes to end after leave() or want(None) (agent shutdown only)."""
        deadline = time.monotonic() + timeout
        while not self.idle and time.monotonic() < deadline:
            time.sleep(0.02)
            self.tick()
