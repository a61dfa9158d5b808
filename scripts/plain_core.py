"""A plain Home Assistant Core loads RoiWatch: only `homeassistant` installed, no default_config.

In the Python 3.14 root of the newest release (scripts/ha-newest): a fresh venv gets only
`homeassistant` (the version the root runs); a config with an MQTT entry (a real mosquitto) and a
camera entry with a region, no default_config; `hass` starts and installs every requirement itself
(uv, as a user's Core does). Passes when the camera entry and each of its platforms set up with no
error and every entity of the camera is registered. The venv is made again on every run; uv's
cache in the root keeps that to seconds once the packages were downloaded.

Usage: scripts/plain-core [--keep] (--keep: leave the work folder, printed, for a look).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: roiwatch_dev

from roiwatch_dev import REPO as ROOT
from roiwatch_dev.mosquitto import Mosquitto

HA_NEWEST = ROOT / "scripts" / "ha-newest"
HAROOT = Path(os.environ.get("ROIWATCH_HA_ROOT", ROOT / ".cache" / "ha-newest-root"))
# Inside the root, on the file system of uv's cache there (/root/.cache/uv): uv hard-links the
# cached packages instead of copying them, which makes the fresh venv take seconds.
INSIDE = Path("/tmp") / f"roiwatch-plain-core-{os.getpid()}"
WORK = HAROOT / INSIDE.relative_to("/")
VENV = INSIDE / "venv"
CONFIG = INSIDE / "config"
ENTRIES = ROOT / "tests" / "ha" / "fixtures" / "registry_0_1_0" / "core.config_entries.json"
PLATFORMS = ("binary_sensor", "camera", "image", "sensor", "switch")
ENTITIES = 11  # the fixture camera's: 2 regions, detected, applied, switch, image, camera, 4 sensors
START_TIMEOUT = 600.0  # a first run downloads every requirement (the frontend is large)
REGISTERED = re.compile(r"Registered new [a-z_]+\.roiwatch entity: ([a-z_]+\.[a-z0-9_]+)")
# What an integration that failed to load or set up logs, whatever the release.
FAILURE = re.compile(
    r" (ERROR|CRITICAL) .*(roiwatch|Setup failed|Unable to install|Error setting up|Unable to set up"
    r"|ModuleNotFoundError|ImportError|Error while setting up|platform for)",
)


def log(message: str) -> None:
    print(f"plain-core: {message}", flush=True)


def in_root(*argv: str) -> list[str]:
    """A command in the newest root, without its venv on PATH."""
    return [str(HA_NEWEST), "--no-venv", *argv]


def ha_version() -> str:
    out = subprocess.run(
        [str(HA_NEWEST), "python", "-c", "import homeassistant.const as c; print(c.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def make_venv(version: str) -> None:
    """A fresh venv with homeassistant only (and what it depends on)."""
    subprocess.run(
        in_root("/opt/ha/bin/uv", "venv", "-q", "--python", "/usr/bin/python3.14", str(VENV)), check=True
    )
    subprocess.run(
        in_root(
            "/opt/ha/bin/uv",
            "pip",
            "install",
            "-q",
            "--python",
            str(VENV / "bin" / "python"),
            f"homeassistant=={version}",
        ),
        check=True,
    )


def write_config(broker: Mosquitto) -> None:
    """configuration.yaml without default_config, the integration, the MQTT and camera entries."""
    config = WORK / CONFIG.relative_to(INSIDE)
    (config / ".storage").mkdir(parents=True)
    (config / "configuration.yaml").write_text(
        "homeassistant:\n  name: Plain core\n  time_zone: UTC\n"
        # info: each platform logs "Setting up roiwatch.<platform>", the registry each entity.
        "logger:\n  default: info\n"
    )
    shutil.copytree(
        ROOT / "custom_components" / "roiwatch",
        config / "custom_components" / "roiwatch",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    entries = json.loads(ENTRIES.read_text())
    for entry in entries["data"]["entries"]:
        if entry["domain"] == "mqtt":
            entry["data"] = {"broker": "127.0.0.1", "port": broker.port}
    (config / ".storage" / "core.config_entries").write_text(json.dumps(entries))


def wait_set_up(hass: subprocess.Popen[bytes], log_file: Path) -> str:
    """Until every platform of the camera is set up (or something failed); the log so far."""
    wanted = [f"Setting up roiwatch.{platform}" for platform in PLATFORMS]
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        if FAILURE.search(text):
            return text
        # Not "Home Assistant initialized": the rest of a plain Core installs for another minute.
        if all(w in text for w in wanted) and len(REGISTERED.findall(text)) >= ENTITIES:
            return text
        if hass.poll() is not None:
            return text
        time.sleep(0.5)
    raise SystemExit(f"plain-core: FAILED: not set up within {START_TIMEOUT:.0f} s")


def stop(hass: subprocess.Popen[bytes]) -> None:
    """hass restarts itself in a child process: stop the whole group."""
    try:
        os.killpg(hass.pid, signal.SIGTERM)
        hass.wait(5)  # it may be busy installing what other integrations need: no need to wait
    except subprocess.TimeoutExpired:
        os.killpg(hass.pid, signal.SIGKILL)
        hass.wait(10)
    except ProcessLookupError:
        pass


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (hass, broker) when stopped
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the work folder")
    args = parser.parse_args()
    started = time.monotonic()
    version = ha_version()
    broker = Mosquitto()
    hass: subprocess.Popen[bytes] | None = None
    try:
        log(f"fresh venv with homeassistant=={version} only")
        make_venv(version)
        log(f"venv made in {time.monotonic() - started:.0f} s")
        broker.start()
        write_config(broker)
        log_file = WORK / "home-assistant.log"
        log("hass starts and installs the requirements itself")
        hass = subprocess.Popen(
            in_root(str(VENV / "bin" / "hass"), "-c", str(CONFIG), "--log-file", str(INSIDE / log_file.name)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        text = wait_set_up(hass, log_file)
        stop(hass)
        hass = None
        failures = [line for line in text.splitlines() if FAILURE.search(line)]
        entities = REGISTERED.findall(text)
        if failures or len(entities) != ENTITIES:
            print("\n".join(text.splitlines()[-60:]))
            log(f"FAILED: {len(failures)} setup errors, {len(entities)} of {ENTITIES} entities: {entities}")
            for line in failures[:10]:
                log(line)
            return 1
        took = time.monotonic() - started
        log(f"OK: the camera and its platforms set up, {len(entities)} entities, in {took:.0f} s")
        return 0
    finally:
        if hass is not None:
            stop(hass)
        broker.close()
        if args.keep:
            log(f"left {WORK}")
        else:
            shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
