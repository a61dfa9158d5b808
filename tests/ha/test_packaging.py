"""Manifest, hacs.json, translations and icons: the static rules hassfest and HACS apply."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.roiwatch.protocol import STATES

ROOT = Path(__file__).parents[2]
INTEGRATION = ROOT / "custom_components" / "roiwatch"


def load(path: Path) -> Any:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def test_one_integration_folder() -> None:
    """HACS wants exactly one integration under custom_components."""
    folders = [p.name for p in (ROOT / "custom_components").iterdir() if p.is_dir()]
    assert [f for f in folders if f != "__pycache__"] == ["roiwatch"]


def test_manifest() -> None:
    """Keys, values and order as hassfest wants them (domain, name, then alphabetical)."""
    manifest = load(INTEGRATION / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest == {
        "domain": "roiwatch",
        "name": "RoiWatch",
        "codeowners": ["@roiwatch"],
        "config_flow": True,
        "dependencies": ["mqtt"],
        "documentation": "https://github.com/roiwatch/roiwatch",
        "integration_type": "device",
        "iot_class": "local_push",
        "issue_tracker": "https://github.com/roiwatch/roiwatch/issues",
        "mqtt": ["roiwatch/+/announce"],
        "requirements": [],
        "version": "0.1.0",
    }


def test_hacs() -> None:
    """hacs.json at the repository root."""
    assert load(ROOT / "hacs.json") == {
        "name": "RoiWatch",
        "homeassistant": "2025.4.0",
        "render_readme": True,
    }


def test_english_translation_is_strings() -> None:
    """A custom integration ships translations/en.json; it must say what strings.json says."""
    assert load(INTEGRATION / "translations" / "en.json") == load(INTEGRATION / "strings.json")


def _flow_keys(cls: ast.ClassDef) -> dict[str, set[str]]:
    """step ids, abort reasons and error keys a flow class can produce."""
    found: dict[str, set[str]] = {"step": set(), "abort": set(), "error": set()}
    for node in ast.walk(cls):
        if isinstance(node, ast.keyword) and isinstance(node.value, ast.Constant):
            if node.arg == "reason":
                found["abort"].add(node.value.value)
            elif node.arg == "step_id":
                found["step"].add(node.value.value)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            target = node.targets[0]
            if isinstance(target.value, ast.Name) and target.value.id == "errors":
                for value in ast.walk(node.value):
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found["error"].add(value.value)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_show":
            found["step"].add(node.args[0].value)
    return found


def test_flow_strings_exist() -> None:
    """Every step, abort reason and form error of every flow is translated."""
    strings = load(INTEGRATION / "strings.json")
    tree = ast.parse((INTEGRATION / "config_flow.py").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    points_errors = {
        e.value
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "POINTS_ERRORS"
        for e in ast.walk(n.value)
        if isinstance(e, ast.Constant)
    }
    sections = {
        "RoiWatchConfigFlow": strings["config"],
        "RoiWatchOptionsFlow": strings["options"],
        "RoiSubentryFlow": strings["config_subentries"]["roi"],
    }
    for name, section in sections.items():
        keys = _flow_keys(classes[name])
        if name == "RoiSubentryFlow":
            keys["error"] |= points_errors
            keys["abort"].add("reconfigure_successful")
        if name == "RoiWatchConfigFlow":
            keys["abort"] |= {"already_configured", "reconfigure_successful"}
        assert keys["step"], name
        assert keys["step"] <= set(section["step"]), name
        assert keys["abort"] <= set(section.get("abort", {})), name
        assert keys["error"] <= set(section.get("error", {})), name
    assert points_errors == {
        "points_format",
        "points_count",
        "points_range",
        "points_area",
        "points_self_intersect",
    }
    roi = strings["config_subentries"]["roi"]
    assert roi["initiate_flow"]["user"] == "Add region"


def test_exceptions_and_issues_translated() -> None:
    """Translation keys used in code exist."""
    strings = load(INTEGRATION / "strings.json")
    code = "\n".join(p.read_text() for p in INTEGRATION.glob("*.py"))
    for key in ("mqtt_not_available", "publish_failed"):
        assert f'translation_key="{key}"' in code
        assert key in strings["exceptions"]
    assert set(strings["issues"]) == {"config_not_applied", "agent_error"}


async def test_entity_translations_and_icons(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Every entity has a translated name (or its region's), states and an icon."""
    strings = load(INTEGRATION / "strings.json")["entity"]
    icons = load(INTEGRATION / "icons.json")["entity"]
    for entry in er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id):
        assert "name" in strings[entry.domain][entry.translation_key], entry.entity_id
        assert entry.translation_key in icons[entry.domain], entry.entity_id
    assert set(strings["sensor"]["detection_state"]["state"]) == set(STATES)
    assert set(icons["sensor"]["detection_state"]["state"]) == set(STATES)
    for domain, keys in icons.items():
        assert set(keys) <= set(strings[domain]), domain


@pytest.mark.parametrize("path", ["quality_scale.yaml"])
def test_quality_scale(path: str) -> None:
    """Every rule has a status; exemptions and todos say why."""
    rules = yaml.safe_load((INTEGRATION / path).read_text())["rules"]
    assert len(rules) >= 50
    for rule, value in rules.items():
        if isinstance(value, dict):
            assert value["status"] in ("done", "exempt", "todo"), rule
            assert value["comment"].strip(), rule
        else:
            assert value in ("done", "todo"), rule
