"""RoiWatch demo: a broker, a real Home Assistant, a smart, a dumb and an HA camera and an analyzer.

Run through ``scripts/demo`` (which runs ``scripts/setup`` first), with ``.venv/bin/python``:

    scripts/demo                    # run until Ctrl-C, printing every region's state changes
    scripts/demo --check            # headless, bounded: exit 0 only if everything worked
    scripts/demo --check --browser  # ... and run the real-browser test while HA is up
    scripts/demo --ha oldest ...    # on the oldest supported Home Assistant (.venv) instead

Everything lives in ``demo/run/`` (git-ignored), which is deleted and made anew on every run:
mosquitto's config and log, Home Assistant's config directory, the agents' state and all logs.
Home Assistant is set up exactly as a person would do it in the UI, through the same REST and
websocket APIs the frontend calls: onboarding (user, core config, analytics, integration), the
MQTT config flow, the discovered RoiWatch cameras confirmed, HA's core MJPEG camera on the
demo's picture server (roiwatch_dev/picture_server.py) added as a RoiWatch "camera of Home Assistant",
and the cameras' regions added with the region subentry flow. What is printed comes from Home
Assistant (its ``state_changed`` events), not from the agents.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: roiwatch_dev
from roiwatch_dev import REPO
from roiwatch_dev.mosquitto import find_mosquitto
from roiwatch_dev.ports import free_port

ROOT = REPO
RUN = ROOT / "demo" / "run"
LOGS = RUN / "logs"
HA_CONFIG = RUN / "ha-config"
VENV_BIN = ROOT / ".venv" / "bin"
HA_NEWEST = ROOT / "scripts" / "ha-newest"  # runs a command in the Python 3.14 root of the newest HA
# How each supported Home Assistant is started: the newest (as a person trying RoiWatch today
# installs it) and the oldest we promise (.venv's, with its pinned frontend).
HASS = {"newest": [str(HA_NEWEST), "hass"], "oldest": [str(VENV_BIN / "hass")]}
VIDEO = ROOT / ".cache" / "data" / "vtest.avi"
BLUEPRINT = ROOT / "blueprints" / "automation" / "roiwatch" / "notify_person_in_roi.yaml"
# The region editor panel first (the way to define regions), then the rest of HA's UI.
BROWSER_DIR = ROOT / "tests" / "browser"
BROWSER_TESTS = ("panel", "ui")  # tests/browser/<name>.test.mjs
# The README shows these; scripts/test points ROIWATCH_SCREENSHOTS elsewhere to keep the tree clean.
SCREENSHOTS = Path(os.environ.get("ROIWATCH_SCREENSHOTS", ROOT / "docs" / "screenshots"))

# What HA's onboarding sets up by itself (core_config step); not wanted in the demo.
ONBOARDING_EXTRAS = frozenset({"google_translate", "met", "radio_browser", "shopping_list"})

BROWSER_TIMEOUT = 420  # seconds for the whole browser test (both files)

USERNAME = "demo"
PASSWORD = "demo-password-123"


@dataclass(frozen=True)
class Region:
    """A region as typed into the "Add region" form (points in percent of the picture)."""

    name: str
    points: str
    detect: str = "person"
    sensitivity: int = 50
    off_delay: int = 2


@dataclass(frozen=True)
class Camera:
    camera_id: str
    name: str
    kind: str
    regions: tuple[Region, ...]


# vtest.avi (768x576, 10 fps, 80 s): people walk across the paved area. The regions below are
# where they come and go every few seconds, so each one turns ON and, 2 s after the last person
# left, OFF again (checked by --check).
CAMERAS = (
    Camera(
        "porch",
        "Porch",
        "smart",
        (
            Region("Driveway", "75,55 100,55 100,80 75,80"),
            Region("Lawn", "0,70 70,70 70,100 0,100"),
        ),
    ),
    Camera(
        "gate",
        "Gate",
        "dumb",
        (
            Region("Path", "20,50 60,50 60,100 20,100"),
            Region("Car park", "70,25 100,25 100,40 70,40", detect="motion"),
        ),
    ),
    # A camera of Home Assistant: HA's core mjpeg camera on the demo's picture server, which
    # shows vtest.avi for PEOPLE_EMPTY_S[0] s, then the empty street for PEOPLE_EMPTY_S[1] s.
    Camera("garden", "Garden", "ha", (Region("Lawn path", "20,50 60,50 60,100 20,100"),)),
)
# The Garden camera's picture server (roiwatch_dev/picture_server.py): seconds of people, then of nobody.
PEOPLE_EMPTY_S = (20, 15)
GARDEN_FPS = 2
GARDEN_SOURCE_NAME = "Garden IP camera"  # the mjpeg config entry: its camera is Garden's source


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def mosquitto_path() -> str:
    path = find_mosquitto()
    if path is None:
        raise SystemExit("[demo] mosquitto is not installed: run scripts/setup")
    return path


def local_time_zone() -> str:
    with contextlib.suppress(OSError):
        tz = Path("/etc/timezone").read_text().strip()
        if tz:
            return tz
    with contextlib.suppress(OSError, ValueError):
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return "UTC"


# --------------------------------------------------------------------------- processes


class Processes:
    """The processes the demo started, each in its own process group, stopped in reverse order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.owns_run_dir = False  # set once demo/run is this demo's

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with (LOGS / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # Ctrl-C reaches the demo only; it stops the others
            )
        self.procs.append((name, proc))
        with (RUN / "pids").open("a") as pids:
            pids.write(f"{proc.pid} {name} {start_time(proc.pid)}\n")

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (LOGS / f"{name}.log").read_text(errors="replace")[-3000:]
                raise DemoError(f"{name} exited with code {proc.returncode}; its log ends:\n{tail}")

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            timeout = 40 if name == "homeassistant" else 15
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop within {timeout} s: killing it")
            # Anything left in the group (e.g. a detection process) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.procs.clear()
        if self.owns_run_dir:
            with contextlib.suppress(OSError):
                (RUN / "pids").unlink()


def start_time(pid: int | str) -> str:
    """When the process started (clock ticks since boot): with the pid, names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "-"
    return stat.rpartition(")")[2].split()[19]


def stop_leftovers() -> None:
    """Stop the processes of an earlier demo that was killed before it could clean up.

    A demo that is still running is left alone: this one refuses to start instead.
    """
    pids = RUN / "pids"
    if not pids.exists():
        return
    # Each line: pid, name, start time; a pid whose start time differs is another process now.
    alive = [
        (int(parts[0]), parts[1])
        for parts in (line.split() for line in pids.read_text().splitlines())
        if len(parts) == 3 and parts[0].isdigit() and start_time(parts[0]) == parts[2]
    ]
    for pid, name in alive:
        if name == "demo" and pid != os.getpid():
            raise DemoError(f"another demo is running (pid {pid}): stop it first (Ctrl-C)")
    for pid, name in alive:
        if name == "demo":
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                log(f"stopping {name} (pid {pid}) left over from an earlier demo")
                os.killpg(pid, signal.SIGTERM)
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
                else:
                    os.killpg(pid, signal.SIGKILL)


class DemoError(Exception):
    """Something the demo needs did not happen."""


# --------------------------------------------------------------------------- HA config


def write_ha_config(http_port: int) -> None:
    (HA_CONFIG / "custom_components").mkdir(parents=True)
    (HA_CONFIG / "custom_components" / "roiwatch").symlink_to(ROOT / "custom_components" / "roiwatch")
    bp_dir = HA_CONFIG / "blueprints" / "automation" / "roiwatch"
    bp_dir.mkdir(parents=True)
    if BLUEPRINT.exists():
        shutil.copy(BLUEPRINT, bp_dir / BLUEPRINT.name)
    (HA_CONFIG / "automations.yaml").write_text("[]\n")
    # No default_config: it loads ~40 integrations (bluetooth, zeroconf, cloud, ...). These are
    # what the UI needs: frontend pulls in api, auth, config, device_automation, diagnostics,
    # file_upload, http, lovelace, onboarding (and with it person), repairs, search, system_log
    # and websocket_api. mqtt is set up by its config flow, roiwatch by its own.
    (HA_CONFIG / "configuration.yaml").write_text(
        f"""# Written by scripts/demo: a small Home Assistant for the RoiWatch demo.
homeassistant:
  name: RoiWatch demo
  unit_system: metric
  time_zone: {json.dumps(local_time_zone())}
  country: GB
  currency: GBP
  latitude: 51.5
  longitude: -0.12
  elevation: 20

http:
  server_host: 127.0.0.1
  server_port: {http_port}

frontend:
config:
notify:
# As in default_config: the frontend asks for it on every page (without it, an uncaught error).
recorder:
  purge_keep_days: 1
automation: !include automations.yaml
logger:
  default: warning
  logs:
    custom_components.roiwatch: info
    homeassistant.components.mqtt: warning
"""
    )


# --------------------------------------------------------------------------- HA client


class HomeAssistant:
    """The REST and websocket APIs of the demo's Home Assistant, as the frontend uses them."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.client_id = f"{url}/"
        self.token: str | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 1
        self._results: dict[int, asyncio.Future[Any]] = {}
        self._subscriptions: dict[int, Callable[[Any], None]] = {}
        self._reader: asyncio.Task[None] | None = None

    # ---- REST

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, payload: Any = None, auth: bool = True) -> Any:
        try:
            return await self._request(method, path, payload, auth)
        except (TimeoutError, aiohttp.ClientError) as err:
            raise DemoError(f"{method} {path}: {err!r}") from None

    async def _request(self, method: str, path: str, payload: Any, auth: bool) -> Any:
        async with self.session.request(
            method,
            self.url + path,
            json=payload,
            headers=self.headers if auth else {},
            timeout=aiohttp.ClientTimeout(total=60),
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise DemoError(f"{method} {path} -> HTTP {resp.status}: {text[:500]}")
            return json.loads(text) if text else None

    async def wait_up(self, processes: Processes, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            processes.check_alive()
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with self.session.get(
                    self.url + "/api/onboarding", timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(1)
        raise DemoError(
            f"Home Assistant did not answer within {timeout:.0f} s (see {LOGS}/homeassistant.log)"
        )

    async def onboard(self, name: str, username: str, password: str) -> None:
        """The onboarding wizard's calls: create the owner, log in, finish the other steps."""
        steps = {s["step"]: s["done"] for s in await self.request("GET", "/api/onboarding", auth=False)}
        if steps.get("user"):
            raise DemoError("Home Assistant is already onboarded (demo/run was not fresh)")
        created = await self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
            auth=False,
        )
        async with self.session.post(
            self.url + "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": self.client_id,
            },
        ) as resp:
            if resp.status != 200:
                raise DemoError(f"/auth/token -> HTTP {resp.status}: {await resp.text()}")
            self.token = (await resp.json())["access_token"]
        await self.request("POST", "/api/onboarding/core_config", {})
        await self.request("POST", "/api/onboarding/analytics", {})
        await self.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": self.client_id, "redirect_uri": f"{self.url}/?auth_callback=1"},
        )

    # ---- websocket

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url + "/api/websocket", max_msg_size=0)
        hello = await self.ws.receive_json()
        assert hello["type"] == "auth_required", hello
        await self.ws.send_json({"type": "auth", "access_token": self.token})
        reply = await self.ws.receive_json()
        if reply["type"] != "auth_ok":
            raise DemoError(f"websocket auth failed: {reply}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            for item in (lambda d: d if isinstance(d, list) else [d])(json.loads(msg.data)):
                if item.get("type") == "event" and item["id"] in self._subscriptions:
                    self._subscriptions[item["id"]](item["event"])
                elif item.get("type") == "result" and (fut := self._results.pop(item["id"], None)):
                    if fut.done():
                        continue
                    if item["success"]:
                        fut.set_result(item.get("result"))
                    else:
                        fut.set_exception(DemoError(f"websocket command failed: {item.get('error')}"))
        for fut in self._results.values():
            if not fut.done():
                fut.set_exception(DemoError("websocket closed"))

    async def call(self, msg_type: str, **data: Any) -> Any:
        assert self.ws is not None
        msg_id = self._next_id
        self._next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._results[msg_id] = fut
        await self.ws.send_json({"id": msg_id, "type": msg_type, **data})
        try:
            return await asyncio.wait_for(fut, 60)
        except TimeoutError:
            raise DemoError(f"no answer to websocket command {msg_type} within 60 s") from None

    async def subscribe(self, callback: Callable[[Any], None], msg_type: str, **data: Any) -> None:
        assert self.ws is not None
        msg_id = self._next_id
        self._subscriptions[msg_id] = callback  # events may follow the result at once
        try:
            await self.call(msg_type, **data)
        except Exception:
            del self._subscriptions[msg_id]
            raise

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader

    # ---- flows, as the frontend's dialogs drive them

    async def flow(self, base: str, start: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
        """Start a data entry flow at ``base`` and answer its forms with ``steps``, in order."""
        result = await self.request("POST", base, start)
        for step in steps:
            if result["type"] != "form":
                break
            answer = {**form_defaults(result.get("data_schema") or []), **step}
            result = await self.request("POST", f"{base}/{result['flow_id']}", answer)
            if result["type"] == "form" and result.get("errors"):
                raise DemoError(f"{base} form {result['step_id']} refused {step}: {result['errors']}")
        if result["type"] not in ("create_entry", "abort"):
            raise DemoError(f"{base} ended on {result['type']} {result.get('step_id')}: {result}")
        return dict(result)


def form_defaults(schema: list[dict[str, Any]]) -> dict[str, Any]:
    """What a form holds before the user types anything, as the frontend fills it in.

    Defaults, unticked required check boxes, the first option of a required list, and the same
    for collapsed sections, sent as nested objects (e.g. the MQTT broker form's "other_settings"
    since Home Assistant 2026).
    """
    values: dict[str, Any] = {}
    for item in schema:
        if item.get("type") == "expandable":
            values[item["name"]] = form_defaults(item.get("schema", []))
        elif "default" in item:
            values[item["name"]] = item["default"]
        elif item.get("required") and "boolean" in (selector := item.get("selector") or {}):
            values[item["name"]] = False
        elif item.get("required") and (options := (selector.get("select") or {}).get("options")):
            first = options[0]
            values[item["name"]] = first["value"] if isinstance(first, dict) else first
    return values


# --------------------------------------------------------------------------- what HA reports


@dataclass
class Watched:
    entity_id: str
    label: str
    camera_id: str
    role: str  # "roi", "detected", "applied"


def shown(watched: Watched, state: str) -> str:
    """A state as the demo prints it."""
    if watched.role == "applied":
        return {"on": "latest revision applied", "off": "applying a new revision..."}.get(state, state)
    return {"on": "ON", "off": "OFF"}.get(state, state)


@dataclass
class Report:
    """The state changes HA reported, as the check needs them."""

    watched: dict[str, Watched] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    roi_on: dict[str, float] = field(default_factory=dict)  # camera -> first ON (monotonic)
    roi_on_off: set[str] = field(default_factory=set)  # cameras with a ROI seen ON, then OFF
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_change: dict[str, float] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    notification_ids: set[str] = field(default_factory=set)
    printing: bool = False  # from the banner on (before, setup is still busy)

    def on_event(self, event: dict[str, Any]) -> None:
        data = event.get("data", {})
        entity_id = data.get("entity_id")
        watched = self.watched.get(entity_id)
        new = data.get("new_state")
        if watched is None or new is None:
            return
        old = (data.get("old_state") or {}).get("state")
        state = new["state"]
        if old == state:
            return  # an attribute change
        self.states[entity_id] = state
        self.last_change[entity_id] = time.monotonic()
        if self.printing:
            stamp = datetime.fromisoformat(new["last_changed"]).astimezone().strftime("%H:%M:%S.%f")[:-3]
            print(f"{stamp}  {watched.label:<34} {shown(watched, state)}", flush=True)
        if watched.role == "roi":
            if state == "on":
                self.roi_on.setdefault(watched.camera_id, time.monotonic())
            elif state == "off" and old == "on":
                self.roi_on_off.add(watched.camera_id)
        self.changed.set()


# --------------------------------------------------------------------------- the demo


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes = Processes()
        self.report = Report()
        self.entries: dict[str, dict[str, Any]] = {}  # camera id -> config entry
        self.ha: HomeAssistant | None = None
        self.http_port = 0
        self.mqtt_port = 0
        self.picture_port = 0
        self.failures: list[str] = []
        self.problems: list[str] = []  # recovered from, but --check fails on them

    # ---- start

    def prepare(self) -> None:
        stop_leftovers()
        if RUN.exists():
            shutil.rmtree(RUN)
        LOGS.mkdir(parents=True)
        (RUN / "pids").write_text(f"{os.getpid()} demo {start_time(os.getpid())}\n")
        self.processes.owns_run_dir = True
        if not VIDEO.exists():
            raise DemoError(f"{VIDEO} is missing: run scripts/setup")
        self.http_port = free_port(self.args.port)
        self.mqtt_port = free_port(self.args.mqtt_port)
        self.picture_port = free_port()
        (RUN / "mosquitto.conf").write_text(
            f"# Written by scripts/demo. Plain MQTT on loopback only, nothing kept across runs.\n"
            f"listener {self.mqtt_port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"log_dest file {LOGS / 'mosquitto.log'}\n"
        )
        write_ha_config(self.http_port)

    def start_processes(self) -> None:
        broker = f"mqtt://127.0.0.1:{self.mqtt_port}"
        agent = str(VENV_BIN / "roiwatch-agent")
        self.processes.start("mosquitto", [mosquitto_path(), "-c", str(RUN / "mosquitto.conf")])
        time.sleep(0.3)
        self.processes.check_alive()
        log(f"mosquitto listens on 127.0.0.1:{self.mqtt_port}")
        self.processes.start(
            "homeassistant",
            [
                *HASS[self.args.ha],
                "-c",
                str(HA_CONFIG),
                "--skip-pip",
                "--log-no-color",
            ],
        )
        log(
            f"Home Assistant ({self.args.ha}) starting on http://127.0.0.1:{self.http_port}"
            f" (log: {LOGS}/homeassistant.log)"
        )
        common = ["--broker", broker, "--loop"]
        self.processes.start(
            "agent-porch",
            [
                agent,
                "smart",
                "--camera",
                "porch",
                "--source",
                str(VIDEO),
                *common,
                "--state-dir",
                str(RUN / "state-porch"),
            ],
        )
        self.processes.start(
            "agent-gate",
            [
                agent,
                "dumb",
                "--camera",
                "gate",
                "--source",
                str(VIDEO),
                *common,
                "--fps",
                "5",
                "--width",
                "640",
            ],
        )
        self.processes.start(
            "analyzer", [agent, "analyzer", "--broker", broker, "--state-dir", str(RUN / "state-analyzer")]
        )
        log("agents started: smart camera 'porch', dumb camera 'gate' and the analyzer (vtest.avi, looped)")
        self.processes.start(
            "picture-server",
            [
                str(VENV_BIN / "python"),
                "-m",
                "roiwatch_dev.picture_server",
                "--port",
                str(self.picture_port),
                "--video",
                str(VIDEO),
                "--fps",
                str(GARDEN_FPS),
                "--width",
                "640",
                "--cycle",
                ",".join(map(str, PEOPLE_EMPTY_S)),
            ],
        )
        log(f"picture server (an IP camera for Garden) on http://127.0.0.1:{self.picture_port}")

    async def setup_home_assistant(self, ha: HomeAssistant) -> None:
        await ha.wait_up(self.processes)
        await ha.onboard("Demo", USERNAME, PASSWORD)
        log(f"onboarded: user {USERNAME!r} created, onboarding finished")
        await ha.connect()
        await self.wait_running(ha)
        await self.confirm_http_config(ha)
        await ha.subscribe(self.report.on_event, "subscribe_events", event_type="state_changed")
        await ha.subscribe(self.on_registry_event, "subscribe_events", event_type="entity_registry_updated")
        await ha.subscribe(self.on_notifications, "persistent_notification/subscribe")

        result = await ha.flow(
            "/api/config/config_entries/flow",
            {"handler": "mqtt", "show_advanced_options": False},
            {"broker": "127.0.0.1", "port": self.mqtt_port},
        )
        if result["type"] != "create_entry":
            raise DemoError(f"MQTT flow: {result}")
        log(f"MQTT integration set up (broker 127.0.0.1:{self.mqtt_port})")

        # The agents announced themselves: HA's MQTT discovery offers each camera for setup.
        discovered = await self.wait_discovered(ha, {c.camera_id for c in CAMERAS if c.kind != "ha"})
        for cam in CAMERAS:
            flow_id = discovered.get(cam.camera_id)
            if cam.kind == "ha":  # "Add integration > RoiWatch", then pick HA's camera entity
                source = await self.add_mjpeg_camera(ha)
                result = await ha.flow(
                    "/api/config/config_entries/flow",
                    {"handler": "roiwatch", "show_advanced_options": False},
                    {"name": cam.name, "camera_id": cam.camera_id, "kind": cam.kind},
                    {"source_entity_id": source},
                )
                how = f"added as a camera of Home Assistant ({source})"
            elif flow_id:
                result = await ha.request(
                    "POST", f"/api/config/config_entries/flow/{flow_id}", {"name": cam.name}
                )
                how = "discovered camera confirmed"
            else:  # not discovered in time: add it by hand, as in the "Add integration" dialog
                result = await ha.flow(
                    "/api/config/config_entries/flow",
                    {"handler": "roiwatch", "show_advanced_options": False},
                    {"name": cam.name, "camera_id": cam.camera_id, "kind": cam.kind},
                )
                how = "camera added by hand (it was not discovered)"
            if result["type"] != "create_entry":
                raise DemoError(f"camera {cam.camera_id}: {result}")
            self.entries[cam.camera_id] = result["result"]
            log(f"{cam.name} ({cam.kind}, id {cam.camera_id}): {how}, entry {result['result']['entry_id']}")

        for cam in CAMERAS:
            entry_id = self.entries[cam.camera_id]["entry_id"]
            for region in cam.regions:
                await self.add_region(ha, entry_id, region)
                log(
                    f"{cam.name}: region {region.name!r} added ({region.detect}, points {region.points},"
                    f" off delay {region.off_delay} s)"
                )
        await self.refresh_watched(ha)
        await self.remove_onboarding_extras(ha)

    async def add_mjpeg_camera(self, ha: HomeAssistant) -> str:
        """HA's core MJPEG IP Camera on the picture server, through its config flow; its entity id."""
        url = f"http://127.0.0.1:{self.picture_port}"
        result = await ha.flow(
            "/api/config/config_entries/flow",
            {"handler": "mjpeg", "show_advanced_options": False},
            {
                "name": GARDEN_SOURCE_NAME,
                "mjpeg_url": f"{url}/stream.mjpg",
                "still_image_url": f"{url}/snapshot.jpg",
                "verify_ssl": False,
            },
        )
        if result["type"] != "create_entry":
            raise DemoError(f"MJPEG camera flow: {result}")
        entry_id = result["result"]["entry_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for ent in await ha.call("config/entity_registry/list"):
                if ent.get("config_entry_id") == entry_id and ent["entity_id"].startswith("camera."):
                    log(f"MJPEG IP camera {GARDEN_SOURCE_NAME!r} set up: {ent['entity_id']} ({url})")
                    return str(ent["entity_id"])
            await asyncio.sleep(0.5)
        raise DemoError("the MJPEG camera's entity did not appear")

    async def confirm_http_config(self, ha: HomeAssistant) -> None:
        """Keep the demo's HTTP settings (loopback only), as the "Confirm" button does.

        Since Home Assistant 2026.8 the http: settings of configuration.yaml are a trial that
        reverts after a few minutes unless confirmed.
        """
        try:
            config = await ha.call("http/config")
        except DemoError:  # older releases have no trial (nor the command)
            return
        if config.get("pending"):
            await ha.call("http/config/promote")
            log("HTTP settings (127.0.0.1 only) confirmed")

    async def remove_onboarding_extras(self, ha: HomeAssistant) -> None:
        """Onboarding adds a few integrations (weather, radio, TTS, shopping list): remove them.

        HA runs with --skip-pip and without their libraries, so they failed or did nothing
        (and sent nothing anywhere); removing them keeps the integrations page to the point.
        """
        for entry in await ha.request("GET", "/api/config/config_entries/entry"):
            if entry["domain"] in ONBOARDING_EXTRAS:
                await ha.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")

    async def wait_running(self, ha: HomeAssistant, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (await ha.call("get_config")).get("state") == "RUNNING":
                return
            await asyncio.sleep(1)
        raise DemoError("Home Assistant did not finish starting")

    async def wait_discovered(
        self, ha: HomeAssistant, camera_ids: set[str], timeout: float = 60
    ) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        found: dict[str, str] = {}
        while time.monotonic() < deadline:
            for flow in await ha.call("config_entries/flow/progress"):
                unique_id = flow.get("context", {}).get("unique_id")
                if flow["handler"] == "roiwatch" and unique_id in camera_ids:
                    found[unique_id] = flow["flow_id"]
            # Both offered, and shown in the "New devices discovered" notification as a person
            # would see them (confirming them before HA's debounced notification is done leaves
            # a stale notification behind).
            if set(found) == camera_ids and "config_entry_discovery" in self.report.notification_ids:
                await asyncio.sleep(1.5)  # HA shows it again after a 1 s cool-down
                break
            self.processes.check_alive()
            await asyncio.sleep(1)
        return found

    async def add_region(self, ha: HomeAssistant, entry_id: str, region: Region) -> dict[str, Any]:
        """The "Add region" dialog: the region subentry flow of the camera's config entry."""
        result = await ha.flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, "roi"], "show_advanced_options": False},
            {
                "name": region.name,
                "detect": region.detect,
                "points": region.points,
                "sensitivity": region.sensitivity,
                "off_delay": region.off_delay,
            },
        )
        if result["type"] != "create_entry":
            raise DemoError(f"region {region.name}: {result}")
        subentries = await ha.call("config_entries/subentries/list", entry_id=entry_id)
        subentry_id = next(s["subentry_id"] for s in subentries if s["title"] == region.name)
        # Like a person who opens the next dialog only after this one is done, wait until the
        # integration has published the new region to the camera (its diagnostics show the
        # config it published). Adding regions back to back while the camera's entry reloads
        # can lose one (a race in the integration); the reload below recovers from that.
        if not await self.wait_published(ha, entry_id, subentry_id, timeout=20):
            self.problems.append(f"region {region.name!r} was not published to the camera")
            log(f"WARNING: region {region.name!r} was not published; reloading the camera's entry")
            await ha.request("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
            if not await self.wait_published(ha, entry_id, subentry_id, timeout=20):
                raise DemoError(f"region {region.name!r} is not published even after a reload")
        return result

    async def published_config(self, ha: HomeAssistant, entry_id: str) -> dict[str, Any] | None:
        """The config the integration last published for a camera (from its diagnostics)."""
        try:
            diagnostics = await ha.request("GET", f"/api/diagnostics/config_entry/{entry_id}")
        except DemoError:  # the entry is reloading
            return None
        config: dict[str, Any] | None = diagnostics.get("data", {}).get("published_config")
        return config

    async def wait_published(
        self, ha: HomeAssistant, entry_id: str, subentry_id: str, timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            config = await self.published_config(ha, entry_id)
            if config and any(roi["id"] == subentry_id for roi in config["rois"]):
                # Published by the setup that follows the change; its end (state "loaded") is
                # when the integration listens for the next change again.
                entry = await ha.call("config_entries/get_single", entry_id=entry_id)
                if entry["config_entry"]["state"] == "loaded":
                    return True
            await asyncio.sleep(0.5)
        return False

    async def regions_in_sync(self, ha: HomeAssistant) -> bool:
        """Every region HA shows is in the config it published (and so the agent runs)."""
        for cam in CAMERAS:
            entry_id = self.entries[cam.camera_id]["entry_id"]
            subentries = await ha.call("config_entries/subentries/list", entry_id=entry_id)
            config = await self.published_config(ha, entry_id)
            shown = {s["subentry_id"] for s in subentries if s["subentry_type"] == "roi"}
            if config is None or {roi["id"] for roi in config["rois"]} != shown:
                return False
        return True

    async def edit_region(self, ha: HomeAssistant, entry_id: str, subentry_id: str, **changes: Any) -> None:
        """The "Edit region" dialog: the subentry reconfigure flow."""
        form = await ha.request(
            "POST",
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, "roi"], "subentry_id": subentry_id, "show_advanced_options": False},
        )
        values = {}
        for field_ in form["data_schema"]:
            suggested = (field_.get("description") or {}).get("suggested_value")
            values[field_["name"]] = suggested if suggested is not None else field_.get("default")
        values.update(changes)
        result = await ha.request(
            "POST", f"/api/config/config_entries/subentries/flow/{form['flow_id']}", values
        )
        if result["type"] != "abort" or result.get("reason") != "reconfigure_successful":
            raise DemoError(f"editing region {subentry_id}: {result}")

    def on_registry_event(self, event: dict[str, Any]) -> None:
        if event.get("data", {}).get("action") in ("create", "update") and self.ha is not None:
            asyncio.get_running_loop().create_task(self.refresh_watched(self.ha))

    def on_notifications(self, event: dict[str, Any]) -> None:
        if event.get("type") == "removed":
            self.report.notification_ids.difference_update(event.get("notifications", {}))
        else:
            self.report.notification_ids.update(event.get("notifications", {}))
        if event.get("type") in ("added", "updated", "current"):
            for note in event.get("notifications", {}).values():
                if "RoiWatch" in (note.get("title") or "") or "RoiWatch" in (note.get("message") or ""):
                    self.report.notifications.append(note)
                    if event["type"] != "current" and self.report.printing:
                        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
                        print(
                            f"{stamp}  notification: {note.get('title')}: {note.get('message')}", flush=True
                        )

    async def refresh_watched(self, ha: HomeAssistant) -> None:
        """Follow the cameras' region, detected and config-applied entities (new ones too)."""
        by_entry = {e["entry_id"]: cam_id for cam_id, e in self.entries.items()}
        names = {c.camera_id: c.name for c in CAMERAS}
        for ent in await ha.call("config/entity_registry/list"):
            camera_id = by_entry.get(ent.get("config_entry_id"))
            if camera_id is None or ent["entity_id"] in self.report.watched or ent.get("disabled_by"):
                continue
            unique = ent["unique_id"].removeprefix(f"{camera_id}_")
            if unique.startswith("roi_"):
                role, what = "roi", ent.get("original_name") or ent.get("name") or unique
            elif unique == "detected":
                role, what = "detected", "(any region)"
            elif unique == "config_applied":
                role, what = "applied", "(config)"
            else:
                continue
            self.report.watched[ent["entity_id"]] = Watched(
                ent["entity_id"], f"{names.get(camera_id, camera_id)} / {what}", camera_id, role
            )
        for state in await ha.call("get_states"):
            if state["entity_id"] in self.report.watched:
                self.report.states.setdefault(state["entity_id"], state["state"])

    def entity(self, camera_id: str, role: str) -> str | None:
        return next(
            (
                w.entity_id
                for w in self.report.watched.values()
                if w.camera_id == camera_id and w.role == role
            ),
            None,
        )

    # ---- the check

    def applied(self, camera_id: str) -> bool:
        entity_id = self.entity(camera_id, "applied")
        return entity_id is not None and self.report.states.get(entity_id) == "on"

    def detections_seen(self) -> bool:
        return all(c.camera_id in self.report.roi_on_off for c in CAMERAS)

    async def wait_for(self, what: str, condition: Callable[[], bool], deadline: float) -> bool:
        while not condition():
            self.processes.check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.failures.append(what)
                log(f"CHECK FAILED: {what}")
                return False
            self.report.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.report.changed.wait(), min(remaining, 1.0))
        log(f"check: {what}: ok")
        return True

    async def check(self, ha: HomeAssistant, deadline: float) -> None:
        names = {c.camera_id: c.name for c in CAMERAS}
        for problem in self.problems:
            self.failures.append(problem)
            log(f"CHECK FAILED: {problem}")
        await self.wait_for(
            "every camera runs the latest configuration revision",
            lambda: all(self.applied(c.camera_id) for c in CAMERAS),
            deadline,
        )
        for cam in CAMERAS:
            await self.wait_for(
                f"{names[cam.camera_id]}: HA reported a region ON and then OFF",
                functools.partial(self.report.roi_on_off.__contains__, cam.camera_id),
                deadline,
            )
        await self.wait_for(
            "the blueprint automation sent its notification",
            lambda: bool(self.report.notifications),
            deadline,
        )
        # Edit a region as in the "Edit region" dialog: the agent must apply the new revision.
        porch = self.entries["porch"]
        subentries = await ha.call("config_entries/subentries/list", entry_id=porch["entry_id"])
        driveway = next(s for s in subentries if s["title"] == "Driveway")
        applied_id = self.entity("porch", "applied")
        edited_at = time.monotonic()
        await self.edit_region(ha, porch["entry_id"], driveway["subentry_id"], sensitivity=60)
        log("Porch: region 'Driveway' edited (sensitivity 50 -> 60)")
        await self.wait_for(
            "Porch applied the edited region's revision",
            lambda: (
                applied_id is not None
                and self.report.last_change.get(applied_id, 0) > edited_at
                and self.report.states.get(applied_id) == "on"
            ),
            deadline,
        )
        await self.check_in_sync(ha, deadline)

    async def check_in_sync(self, ha: HomeAssistant, deadline: float) -> None:
        what = "every region HA shows is in the configuration the cameras run"
        while not (await self.regions_in_sync(ha) and all(self.applied(c.camera_id) for c in CAMERAS)):
            if time.monotonic() > deadline:
                self.failures.append(what)
                log(f"CHECK FAILED: {what}")
                return
            await asyncio.sleep(1)
        log(f"check: {what}: ok")

    async def create_blueprint_automation(self, ha: HomeAssistant) -> None:
        """An automation from the shipped blueprint, as the blueprint's "Create automation" does."""
        if not BLUEPRINT.exists():
            raise DemoError(f"{BLUEPRINT} is missing")
        blueprints = await ha.call("blueprint/list", domain="automation")
        path = "roiwatch/notify_person_in_roi.yaml"
        if path not in blueprints or "error" in blueprints[path]:
            raise DemoError(f"HA did not load the blueprint: {blueprints.get(path)}")
        driveway = next(
            w.entity_id for w in self.report.watched.values() if w.camera_id == "porch" and w.role == "roi"
        )
        image = next(
            e["entity_id"]
            for e in await ha.call("config/entity_registry/list")
            if e.get("config_entry_id") == self.entries["porch"]["entry_id"]
            and e["entity_id"].startswith("image.")
        )
        await ha.request(
            "POST",
            "/api/config/automation/config/roiwatch_demo_notify",
            {
                "alias": "RoiWatch demo: notify when a person is on the Porch driveway",
                "description": "Created by scripts/demo from the RoiWatch blueprint.",
                "use_blueprint": {
                    "path": path,
                    "input": {
                        "region": driveway,
                        "snapshot": image,
                        "notify_action": "notify.persistent_notification",
                        "cooldown": 30,
                    },
                },
            },
        )
        log(f"automation from blueprint {path} created ({driveway} -> notify.persistent_notification)")

    async def run_browser_test(self, ha: HomeAssistant) -> None:
        env = {
            **os.environ,
            "HA_URL": ha.url,
            "HA_USERNAME": USERNAME,
            "HA_PASSWORD": PASSWORD,
            "HA_TOKEN": ha.token or "",
            "ROIWATCH_SCREENSHOTS": str(SCREENSHOTS),
            "ROIWATCH_ENTRIES": json.dumps({k: v["entry_id"] for k, v in self.entries.items()}),
        }
        tests = [BROWSER_DIR / f"{name}.test.mjs" for name in self.args.browser_test or BROWSER_TESTS]
        names = " ".join(str(test.relative_to(ROOT)) for test in tests)
        log(f"running the browser test: node --test {names} (Chromium, Home Assistant {self.args.ha})")
        proc = await asyncio.create_subprocess_exec(
            "node",
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
            *map(str, tests),
            cwd=BROWSER_DIR,
            env=env,
            start_new_session=True,  # its Chromium too: stopped as a group below
        )
        try:
            rc = await asyncio.wait_for(proc.wait(), BROWSER_TIMEOUT)
        except TimeoutError:
            rc = -1
            log(f"the browser test did not finish within {BROWSER_TIMEOUT} s")
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if rc != 0:
            self.failures.append(f"browser test failed (exit code {rc})")
            log(f"CHECK FAILED: browser test exit code {rc}")
        else:
            log("check: browser test: ok")

    async def main(self) -> int:
        started = time.monotonic()
        deadline = started + self.args.timeout
        self.prepare()
        self.start_processes()
        async with aiohttp.ClientSession() as session:
            ha = self.ha = HomeAssistant(session, f"http://127.0.0.1:{self.http_port}")
            try:
                await self.setup_home_assistant(ha)
                await self.create_blueprint_automation(ha)
                self.print_banner(ha)
                if self.args.check:
                    await self.check(ha, deadline)
                if self.args.browser:
                    await self.run_browser_test(ha)
                    if self.args.check:  # the region the browser added runs on the camera too
                        await self.check_in_sync(ha, max(deadline, time.monotonic() + 60))
                if self.args.check:
                    took = time.monotonic() - started
                    if self.failures:
                        log(f"CHECK FAILED after {took:.0f} s: " + "; ".join(self.failures))
                        return 1
                    log(f"CHECK PASSED in {took:.0f} s")
                    return 0
                log("running; press Ctrl-C to stop")
                while True:
                    self.processes.check_alive()
                    await asyncio.sleep(2)
            finally:
                await ha.close()

    def print_banner(self, ha: HomeAssistant) -> None:
        lines = [
            f"Home Assistant: {ha.url}   (user {USERNAME!r}, password {PASSWORD!r})",
            f'Region editor:  {ha.url}/roiwatch   (sidebar "RoiWatch": draw regions on the live picture)',
            "Cameras: "
            + ", ".join(f"{c.name} ({c.kind})" for c in CAMERAS)
            + f"; broker mqtt://127.0.0.1:{self.mqtt_port}; logs in {LOGS.relative_to(ROOT)}/",
            "Region state changes as Home Assistant reports them:",
        ]
        width = max(len(line) for line in lines)
        print("\n" + "=" * width + "\n" + "\n".join(lines) + "\n" + "=" * width, flush=True)
        for entity_id, watched in sorted(self.report.watched.items(), key=lambda kv: kv[1].label):
            state = shown(watched, self.report.states.get(entity_id, "?"))
            print(f"{'now':>12}  {watched.label:<34} {state}  ({entity_id})")
        self.report.printing = True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="headless, bounded run; exit 1 unless it all worked"
    )
    parser.add_argument("--browser", action="store_true", help="run the real-browser test while HA is up")
    parser.add_argument(
        "--browser-test",
        action="append",
        choices=BROWSER_TESTS,
        help="with --browser: only this test (tests/browser/NAME.test.mjs; repeatable; default all)",
    )
    parser.add_argument(
        "--ha",
        choices=tuple(HASS),
        default="newest",
        help="which supported Home Assistant runs: the newest (default) or the oldest (.venv)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="--check gives up after this many seconds")
    parser.add_argument("--port", type=int, default=8123, help="HA's HTTP port if free (default 8123)")
    parser.add_argument("--mqtt-port", type=int, default=None, help="the broker's port (default: a free one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    demo = Demo(args)
    loop = asyncio.new_event_loop()
    bound = args.timeout + (BROWSER_TIMEOUT if args.browser else 0)
    if args.check:  # bounded: setup, checks and the browser test together
        task = loop.create_task(asyncio.wait_for(demo.main(), bound))
    else:
        task = loop.create_task(demo.main())
    stopping: list[str] = []

    def on_signal(signum: int) -> None:
        if not stopping:
            stopping.append(signal.Signals(signum).name)
            print(flush=True)
            log(f"{signal.Signals(signum).name}: stopping")
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal, sig)
    code = 1
    try:
        code = loop.run_until_complete(task)
    except asyncio.CancelledError:
        code = 0 if not args.check else 130
    except TimeoutError:
        log(f"CHECK FAILED: not done within {bound:.0f} s (logs in {LOGS.relative_to(ROOT)}/)")
        code = 1
    except DemoError as err:
        log(f"ERROR: {err}")
        code = 1
    finally:
        if demo.processes.procs:
            log("stopping the agents, Home Assistant and mosquitto")
            demo.processes.stop()
            log("stopped")
        loop.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
