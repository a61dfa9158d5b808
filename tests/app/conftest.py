"""The Home Assistant app as close to its container as this machine allows.

The app is installed by its own install script in a Debian trixie root (scripts/setup-app-root)
and its entry script runs there (scripts/app-root) with a temporary folder as /data, against a
real mosquitto that wants passwords. The Supervisor cannot run here: a small HTTP server in the
test answers its /services/mqtt (the one mock).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from roiwatch_dev import REPO
from roiwatch_dev.agents import cmdline, descendants
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_until

APP_ROOT = Path(os.environ.get("ROIWATCH_APP_ROOT", REPO / ".cache/app-trixie-root"))
ENTRY = "/opt/roiwatch/bin/roiwatch-app"
TOKEN = "supervisor-token-for-the-app"
# The broker's users: the app (the Supervisor's MQTT service user, as the Mosquitto app names
# it), Home Assistant and a dumb camera (user name = camera id, as docs/mosquitto-acl.example).
PASSWORDS = {"addons": "app-secret-1f9c", "homeassistant": "ha-secret-77ab", "yard": "cam-secret-52de"}


@pytest.fixture(scope="session")
def app_root() -> Path:
    """The trixie root with the app installed from this checkout (reinstalled if the source changed)."""
    done = subprocess.run([str(REPO / "scripts/setup-app-root")], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"the app's trixie root cannot be built here:\n{done.stderr[-1500:]}")
    return APP_ROOT


@pytest.fixture
def broker_options() -> dict[str, Any]:
    """The test's broker (tests/conftest.py) wants every client's user and password."""
    return {"passwords": PASSWORDS}


class _Server(ThreadingHTTPServer):
    """An HTTP server on a free 127.0.0.1 port, on its own thread; close() joins every thread."""

    daemon_threads = False  # server_close() waits for the handlers (the HA harness checks threads)

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.stopping = threading.Event()
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self.thread.join(10)


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass

    def send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def supervisor(broker: Mosquitto) -> Iterator[_Server]:
    """The Supervisor's API as the app sees it: /services/mqtt, for the app's token only."""

    class Handler(_Quiet):
        def do_GET(self) -> None:
            server: _Server = self.server  # type: ignore[assignment]
            server.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_json(401, {"result": "error", "message": "Unauthorized"})
            elif self.path != "/services/mqtt":
                self.send_json(404, {"result": "error", "message": "Not found"})
            else:
                data = {
                    "addon": "core_mosquitto",
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "ssl": False,
                    "username": "addons",
                    "password": PASSWORDS["addons"],
                    "protocol": "3.1.1",
                }
                self.send_json(200, {"result": "ok", "data": data})

    server = _Server(Handler)
    yield server
    server.close()


class App:
    """The app's entry script in the trixie root, /data mapped from a temporary folder."""

    def __init__(self, root: Path, data: Path, supervisor_url: str) -> None:
        self.root = root
        self.data = data
        self.supervisor_url = supervisor_url
        self.log = data.parent / "app.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, options: dict[str, Any], token: str = TOKEN) -> App:
        (self.data / "options.json").write_text(json.dumps(options))
        env = {
            **os.environ,
            "SUPERVISOR_TOKEN": token,
            "ROIWATCH_SUPERVISOR_URL": self.supervisor_url,
            "ROIWATCH_APP_ROOT": str(self.root),
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(REPO / "scripts/app-root"),
                    "--data",
                    str(self.data),
                    "--env",
                    "SUPERVISOR_TOKEN",
                    "--env",
                    "ROIWATCH_SUPERVISOR_URL",
                    ENTRY,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as a container's processes
            )
        return self

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def agents(self, role: str = "") -> list[int]:
        """Pids of the app's agent processes (``role``: analyzer or smart), not their detectors."""
        if self.proc is None:
            return []
        return [pid for pid in descendants(self.proc.pid) if f"bin/roiwatch-agent {role}" in cmdline(pid)]

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        """``predicate``'s true value; fails at the timeout, or at once if the app exits, with its log."""

        def done() -> Any:
            if (result := predicate()) or self.proc is None or self.proc.poll() is None:
                return result
            raise AssertionError(f"the app exited ({self.proc.returncode}) waiting for {what}\n{self.output}")

        if not (result := wait_until(done, timeout, 0.1)):
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{self.output[-3000:]}")
        return result

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError):  # anything left of its process group
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def app(app_root: Path, supervisor: _Server, tmp_path: Path) -> Iterator[App]:
    data = tmp_path / "data"
    data.mkdir()
    runner = App(app_root, data, supervisor.url)
    yield runner
    runner.stop()
    print(runner.output[-4000:])  # shown by pytest when a test fails
