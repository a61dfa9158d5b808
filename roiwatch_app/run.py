#!/opt/roiwatch/bin/python
"""RoiWatch app: the entry script of the Home Assistant app (plain Python, no bashio).

Reads the user's options (/data/options.json) and the broker the Supervisor's MQTT service
gives (GET http://supervisor/services/mqtt with SUPERVISOR_TOKEN), then runs one agent process
per role: the analyzer for dumb cameras and one smart camera per stream camera, each restarted
with a backoff when it dies. A bad option ends the app with one clear log line and exit code 2.
The MQTT password and each stream camera's URL (often with a password) reach the agents in
their environment, never on a command line; no credential (MQTT password, password in a stream
URL) is ever logged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from roiwatch_agent import protocol
from roiwatch_agent.broker import PASSWORD_ENV
from roiwatch_agent.cli import SOURCE_ENV, _shard
from roiwatch_agent.video.redact import redact_source

_LOGGER = logging.getLogger("roiwatch-app")
EXIT_BAD_OPTION = 2
EXIT_NO_BROKER = 3
HOST_LABEL = "Home Assistant app"
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
LOG_LEVELS = ("debug", "info", "warning", "error")
# Restart a dead agent after 1, 2, 4 ... at most 60 s; an agent that ran this long starts at 1 s again.
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 60.0, 60.0
STOP_TIMEOUT = 15.0  # the agents end their detection processes on SIGTERM; config.yaml's timeout is 20
TOKEN_FILE = Path("/run/s6/container_environment/SUPERVISOR_TOKEN")  # s6-overlay keeps it here


class OptionError(ValueError):
    """A bad option: its message names the option and never holds a credential."""


@dataclass(frozen=True)
class Camera:
    camera_id: str
    source: str


@dataclass(frozen=True)
class Options:
    analyzer: bool
    cameras: tuple[Camera, ...]
    log_level: str
    shard: str | None


def _source(index: int, camera_id: str, value: object) -> str:
    where = f"cameras[{index}].source (camera {camera_id})"
    if not isinstance(value, str) or not value.strip():
        raise OptionError(f"{where} is empty: give the camera's rtsp://, http:// or https:// URL")
    try:
        parts = urlsplit(value.strip())
        ok = parts.scheme in STREAM_SCHEMES and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok:
        # The value itself is not repeated: it may hold a password.
        raise OptionError(f"{where} is not a URL: use rtsp://, rtsps://, http:// or https://host/...")
    return value.strip()


def parse_options(data: object) -> Options:
    """The app's options, checked; raises OptionError naming the first bad one."""
    if not isinstance(data, dict):
        raise OptionError("options.json is not a JSON object")
    analyzer = data.get("analyzer", True)
    if not isinstance(analyzer, bool):
        raise OptionError("analyzer must be true or false")
    raw_cameras = data.get("cameras") or []
    if not isinstance(raw_cameras, list):
        raise OptionError("cameras must be a list of {id, source}")
    cameras: list[Camera] = []
    for i, raw in enumerate(raw_cameras):
        if not isinstance(raw, dict):
            raise OptionError(f"cameras[{i}] must have an id and a source")
        try:
            camera_id = protocol.validate_camera_id(raw.get("id"))
        except protocol.ProtocolError as err:
            raise OptionError(f"cameras[{i}].id: {err}") from None
        if any(c.camera_id == camera_id for c in cameras):
            raise OptionError(f"cameras[{i}].id: camera id {camera_id!r} is used twice")
        cameras.append(Camera(camera_id, _source(i, camera_id, raw.get("source"))))
    log_level = data.get("log_level", "info")
    if log_level not in LOG_LEVELS:
        raise OptionError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    shard = data.get("shard") or None
    if shard is not None:
        try:
            _shard(str(shard))
        except argparse.ArgumentTypeError as err:
            raise OptionError(f"shard {shard!r}: {err}") from None
    if not analyzer and not cameras:
        raise OptionError("nothing to run: turn the analyzer on or add a stream camera")
    return Options(analyzer, tuple(cameras), log_level, shard)


def read_options(path: Path) -> Options:
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise OptionError(f"cannot read {path}: {err.strerror}") from None
    except ValueError:
        raise OptionError(f"{path} is not valid JSON") from None
    return parse_options(data)


# ------------------------------------------------------------------------------------------------
# The broker, from the Supervisor's MQTT service


@dataclass(frozen=True)
class Broker:
    url: str  # without the password
    password: str | None = field(repr=False)


def supervisor_token() -> str | None:
    token = os.environ.get("SUPERVISOR_TOKEN")
    if not token and TOKEN_FILE.is_file():
        token = TOKEN_FILE.read_text().strip()
    return token or None


def mqtt_service(base_url: str, token: str | None, attempts: int = 10, delay: float = 3.0) -> Broker:
    """The broker of the Supervisor's MQTT service (retried: the Supervisor may be busy at boot)."""
    request = urllib.request.Request(  # noqa: S310 - the Supervisor's URL, or the test's
        f"{base_url.rstrip('/')}/services/mqtt", headers={"Authorization": f"Bearer {token or ''}"}
    )
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(delay)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own base URL
                body = json.loads(answer.read(65536))
        except urllib.error.HTTPError as err:
            problem = f"the Supervisor answered HTTP {err.code}"
            if err.code in (401, 403):
                break  # a retry will not bring a token
            continue
        except (OSError, ValueError) as err:
            problem = f"the Supervisor is not reachable ({type(err).__name__})"
            continue
        data = body.get("data") if isinstance(body, dict) and body.get("result") == "ok" else None
        if not isinstance(data, dict) or not data.get("host"):
            problem = "the Supervisor has no MQTT service"
            break
        scheme = "mqtts" if data.get("ssl") else "mqtt"
        user = f"{quote(str(data['username']), safe='')}@" if data.get("username") else ""
        try:
            port = int(data.get("port") or (8883 if scheme == "mqtts" else 1883))
        except (TypeError, ValueError):
            problem = "the Supervisor's MQTT service has no valid port"
            break
        return Broker(f"{scheme}://{user}{data['host']}:{port}", data.get("password") or None)
    raise ConnectionError(
        f"no MQTT broker: {problem}. Install and start the Mosquitto broker app "
        "(or another app that provides MQTT), then start this app again"
    )


# ------------------------------------------------------------------------------------------------
# The agents


@dataclass
class Role:
    """One agent process to keep running."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to the app's (a source URL: no argv)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float = 0.0
    restarts: int = 0


def build_roles(options: Options, broker: Broker, agent: str, state_dir: Path) -> list[Role]:
    common = ["--broker", broker.url, "--log-level", options.log_level.upper()]
    roles = []
    if options.analyzer:
        argv = [agent, "analyzer", *common, "--state-dir", str(state_dir / "analyzer")]
        if options.shard:
            argv += ["--shard", options.shard]
        roles.append(Role("analyzer", argv))
    for cam in options.cameras:
        argv = [agent, "smart", "--camera", cam.camera_id, "--host-label", HOST_LABEL]
        roles.append(
            Role(
                f"camera {cam.camera_id}",
                [*argv, *common, "--state-dir", str(state_dir / "cameras" / cam.camera_id)],
                {SOURCE_ENV: cam.source},  # its password stays off the process's command line
            )
        )
    return roles


class Runner:
    """Starts every role's agent and restarts any that dies, with a backoff."""

    def __init__(self, roles: list[Role], env: dict[str, str], describe: dict[str, str]) -> None:
        self.roles = roles
        self.env = env
        self.describe = describe
        self.stopping = False

    def start(self, role: Role) -> None:
        role.proc = subprocess.Popen(role.argv, env={**self.env, **role.env})
        role.started = time.monotonic()
        _LOGGER.info("Started %s (pid %s)%s", role.name, role.proc.pid, self.describe.get(role.name, ""))

    def tick(self, now: float) -> None:
        for role in self.roles:
            if role.proc is not None and (code := role.proc.poll()) is not None:
                if now - role.started >= STABLE_AFTER:
                    role.backoff = BACKOFF_FIRST
                role.restart_at = now + role.backoff
                _LOGGER.warning(
                    "%s's agent exited with code %s; restarting it in %.0f s", role.name, code, role.backoff
                )
                role.backoff = min(role.backoff * 2, BACKOFF_MAX)
                role.proc = None
            if role.proc is None and now >= role.restart_at and not self.stopping:
                if role.started:
                    role.restarts += 1
                self.start(role)

    def run(self) -> None:
        for role in self.roles:
            self.start(role)
        while not self.stopping:
            time.sleep(0.5)
            self.tick(time.monotonic())
        self.stop()

    def stop(self) -> None:
        running = [r.proc for r in self.roles if r.proc is not None and r.proc.poll() is None]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _LOGGER.info("Stopped")


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    options_path = Path(os.environ.get("ROIWATCH_APP_OPTIONS", "/data/options.json"))
    try:
        options = read_options(options_path)
    except OptionError as err:
        _LOGGER.error("Invalid option: %s", err)
        return EXIT_BAD_OPTION
    logging.getLogger().setLevel(options.log_level.upper())
    try:
        broker = mqtt_service(
            os.environ.get("ROIWATCH_SUPERVISOR_URL", "http://supervisor"), supervisor_token()
        )
    except ConnectionError as err:
        _LOGGER.error("%s", err)
        return EXIT_NO_BROKER
    env = {k: v for k, v in os.environ.items() if k not in ("SUPERVISOR_TOKEN", PASSWORD_ENV)}
    if broker.password:
        env[PASSWORD_ENV] = broker.password
    agent = str(Path(sys.executable).parent / "roiwatch-agent")
    state_dir = Path(os.environ.get("ROIWATCH_STATE_DIR", "/data/state"))
    roles = build_roles(options, broker, agent, state_dir)
    describe = {f"camera {c.camera_id}": f", source {redact_source(c.source)}" for c in options.cameras}
    if options.shard:
        describe["analyzer"] = f", shard {options.shard}"
    _LOGGER.info(
        "RoiWatch app: broker %s, %s, %d stream camera(s)",
        broker.url,
        "analyzer on" if options.analyzer else "analyzer off",
        len(options.cameras),
    )
    runner = Runner(roles, env, describe)

    def on_signal(signum: int, _frame: object) -> None:
        _LOGGER.info("Signal %s: stopping the agents", signal.Signals(signum).name)
        runner.stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
