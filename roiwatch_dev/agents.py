"""Real agent processes: the command line that starts one from this checkout, and their process trees."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from . import REPO

AGENT_COMMAND = (sys.executable, "-m", "roiwatch_agent.cli")
"""``roiwatch-agent`` of this checkout, run by this Python (cwd: the repository root)."""


class AgentProcess:
    """A real ``roiwatch-agent`` process (python -m roiwatch_agent.cli)."""

    def __init__(
        self,
        args: list[str],
        log: Path,
        stdin: int = subprocess.DEVNULL,
        command: tuple[str, ...] | None = None,
    ) -> None:
        """``command``: an installed ``roiwatch-agent`` (run outside the source tree) instead of this one."""
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [*(command or AGENT_COMMAND), *args],
            stdin=stdin,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO if command is None else log.parent,
            start_new_session=True,  # our own process group, like a systemd service
        )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def descendants(self) -> list[int]:
        return descendants(self.proc.pid)

    def detector_pids(self) -> list[int]:
        """Detection processes: the children of the agent's forkserver."""
        servers = [p for p in children_of(self.proc.pid) if "forkserver" in cmdline(p)]
        return sorted(c for s in servers for c in children_of(s))

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log_file.close()
        return self.proc.returncode


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """``systemctl stop``: SIGTERM to the process group we started, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def cmdline(pid: int) -> str:
    """The process's command line, its arguments joined by spaces ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    return _process_tree().get(pid, [])


def descendants(pid: int) -> list[int]:
    children = _process_tree()
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _process_tree() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def comm(pid: int) -> str:
    """The process's name (its title once it set one, e.g. roiwatch-cap), "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
