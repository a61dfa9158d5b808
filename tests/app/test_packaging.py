"""The app repository as the Supervisor reads it: repository.yaml, the app's config.yaml, its Dockerfile.

The Supervisor fails quietly: an app whose config.yaml it cannot read is left out of the store
with a line in the Supervisor's log only. These are its rules (supervisor/apps/validate.py and
options.py), checked before a user finds the app missing.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from roiwatch_dev import REPO

APP = REPO / "roiwatch_app"
ARCHES = {"aarch64", "amd64"}  # 32-bit ended with Home Assistant 2025.12
# The Supervisor's grammar of a schema element (supervisor/apps/options.py, RE_SCHEMA_ELEMENT).
SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool"
    r"|email"
    r"|url"
    r"|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
SERVICE = re.compile(r"^(?:mqtt|mysql):(?:provide|want|need)$")
SLUG = re.compile(r"^[-_.A-Za-z0-9]+$")
# What would lower the app's security rating or reach beyond what it needs.
NOT_WANTED = (
    "privileged",
    "full_access",
    "host_network",
    "host_pid",
    "host_ipc",
    "host_dbus",
    "docker_api",
    "hassio_api",
    "homeassistant_api",
    "apparmor",
    "devices",
    "map",
    "ports",
)


def repo_files() -> list[str]:
    """What a clone holds: tracked files and new ones not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return [f for f in out.stdout.splitlines() if (REPO / f).exists()]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load((APP / "config.yaml").read_text())


def test_repository_yaml() -> None:
    repository = yaml.safe_load((REPO / "repository.yaml").read_text())
    assert isinstance(repository.get("name"), str) and repository["name"]
    assert repository.get("url", "").startswith("https://")


def test_required_keys_and_arch(config: dict[str, Any]) -> None:
    for key in ("name", "version", "slug", "description", "arch"):
        assert isinstance(config.get(key), str | list) and config[key], key
    assert SLUG.match(config["slug"])
    assert config["arch"] and set(config["arch"]) <= ARCHES, config["arch"]


def test_version_is_the_integrations_and_the_agents(config: dict[str, Any]) -> None:
    """The Dockerfile installs the agent from the source archive of this version's tag."""
    manifest = json.loads((REPO / "custom_components/roiwatch/manifest.json").read_text())
    assert isinstance(config["version"], str)
    assert config["version"] == manifest["version"]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'\nversion = "{config["version"]}"\n' in pyproject
    assert f"## {config['version']}" in (APP / "CHANGELOG.md").read_text()


def test_broker_from_the_mqtt_service_and_nothing_more(config: dict[str, Any]) -> None:
    """The user types no broker: the Supervisor hands the Mosquitto app's; no privilege is asked."""
    services = config.get("services", [])
    assert all(SERVICE.match(s) for s in services), services
    assert "mqtt:need" in services
    assert config.get("init") is False  # s6-overlay of the base image is PID 1
    asked = [key for key in NOT_WANTED if config.get(key)]
    assert not asked, f"the app asks for {asked}"


def _check_element(element: Any, value: Any, where: str) -> None:
    assert isinstance(element, str), f"{where}: schema element {element!r} is not a string"
    found = SCHEMA_ELEMENT.match(element)
    assert found, f"{where}: the Supervisor cannot parse the schema type {element!r}"
    if value is None:
        return
    kind = element.rstrip("?").split("(")[0]
    if kind == "bool":
        assert isinstance(value, bool), where
    elif kind == "match":
        assert re.fullmatch(found["match"], str(value)), f"{where}: {value!r} does not match"
    elif kind == "list":
        assert value in found["list"].split("|"), f"{where}: {value!r} not in {found['list']}"
    elif kind in ("str", "url", "password", "email"):
        assert isinstance(value, str), where


def test_schema_types_parse_and_defaults_fit(config: dict[str, Any]) -> None:
    schema, options = config["schema"], config["options"]
    assert set(options) <= set(schema), "every option needs a schema entry"
    for key, element in schema.items():
        value = options.get(key)
        if isinstance(element, list):  # a list of dicts (depth two at most)
            assert len(element) == 1 and isinstance(element[0], dict), key
            assert isinstance(value, list), key
            for field, sub in element[0].items():
                _check_element(sub, None, f"{key}.{field}")
            continue
        if value is None:
            assert element.endswith("?"), f"{key} has no default, so it must be optional ({element}?)"
        _check_element(element, value, key)
    # The camera id pattern is the protocol's.
    from roiwatch_agent import protocol

    (camera,) = schema["cameras"]
    assert camera["id"] == f"match({protocol.CAMERA_ID_RE.pattern})"


def test_translations_name_every_option(config: dict[str, Any]) -> None:
    english = yaml.safe_load((APP / "translations/en.yaml").read_text())["configuration"]
    assert set(english) == set(config["schema"])
    assert set(english["cameras"]["fields"]) == set(config["schema"]["cameras"][0])


def test_dockerfile_from_base_debian_runs_the_install_script() -> None:
    lines = [ln.strip() for ln in (APP / "Dockerfile").read_text().splitlines()]
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    assert len(froms) == 1
    assert re.fullmatch(r"FROM ghcr\.io/home-assistant/base-debian:(bookworm|trixie)", froms[0]), froms[0]
    assert not any(ln.startswith("ARG BUILD_FROM") for ln in lines)  # no default BUILD_FROM any more
    # The steps the test root runs (scripts/setup-app-root) are the image's: one script.
    assert any(ln.startswith("RUN ") and "install.sh" in ln for ln in lines)
    assert not (APP / "build.yaml").exists()
    # ... from this repository's source archive of the app's version (the Supervisor passes it).
    url = yaml.safe_load((REPO / "repository.yaml").read_text())["url"]
    archive = f"{url}/archive/refs/tags/v${{BUILD_VERSION}}.tar.gz"
    assert "ARG BUILD_VERSION" in lines
    assert f"ARG ROIWATCH_SOURCE={archive}" in lines
    assert f"SOURCE=${{ROIWATCH_SOURCE:-{archive}}}" in (APP / "install.sh").read_text()


def test_icon_and_logo() -> None:
    with Image.open(APP / "icon.png") as icon:
        assert icon.format == "PNG" and icon.size == (128, 128)
    with Image.open(APP / "logo.png") as logo:
        assert logo.format == "PNG" and logo.size == (250, 100)
    for doc in ("DOCS.md", "CHANGELOG.md"):
        assert (APP / doc).read_text().strip(), doc


def test_one_app_and_one_integration() -> None:
    """The Supervisor searches the whole repository for config.yaml; HACS wants one integration."""
    files = repo_files()
    configs = [f for f in files if Path(f).name in ("config.yaml", "config.yml", "config.json")]
    assert configs == ["roiwatch_app/config.yaml"]
    manifests = [f for f in files if f.startswith("custom_components/") and f.endswith("/manifest.json")]
    assert manifests == ["custom_components/roiwatch/manifest.json"]
    assert "hacs.json" in files
