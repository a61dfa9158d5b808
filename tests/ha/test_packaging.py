"""Manifest, hacs.json, translations and icons: the static rules hassfest and HACS apply."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant import loader
from homeassistant.components.mqtt import util as mqtt_util
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import translation
from PIL import Image
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.roiwatch import issues
from custom_components.roiwatch.const import BASE_TOPIC, DOMAIN
from custom_components.roiwatch.protocol import STATES, Topics
from custom_components.roiwatch.regions import FIELD_ERRORS
from roiwatch_dev import REPO

from .conftest import CAMERA_ID

INTEGRATION = REPO / "custom_components" / "roiwatch"


def load(path: Path) -> Any:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def test_one_integration_folder() -> None:
    """HACS wants exactly one integration under custom_components."""
    folders = [p.name for p in (REPO / "custom_components").iterdir() if p.is_dir()]
    assert [f for f in folders if f != "__pycache__"] == ["roiwatch"]


async def test_manifest(hass: HomeAssistant) -> None:
    """Home Assistant's loader accepts the integration as a custom one, discoverable on MQTT."""
    integration = await loader.async_get_integration(hass, DOMAIN)
    assert not integration.is_built_in
    assert integration.pkg_path.endswith(INTEGRATION.name)  # domain == folder
    # A custom integration without a version that AwesomeVersion parses is not loaded at all.
    assert isinstance(integration.version, AwesomeVersion)
    assert integration.version.strategy is not AwesomeVersionStrategy.UNKNOWN
    assert integration.config_flow
    assert "mqtt" in integration.dependencies
    assert integration.requirements == []
    # Discovery: HA subscribes to the manifest's topics; the agent announces on this one.
    announce = Topics(BASE_TOPIC).announce(CAMERA_ID)
    assert integration.mqtt
    assert any(mqtt_util.valid_subscribe_topic(t) and _matches(t, announce) for t in integration.mqtt)
    manifest = load(INTEGRATION / "manifest.json")
    # What hassfest requires of every integration and HACS of a custom one.
    for key in ("domain", "name", "codeowners", "documentation", "issue_tracker", "iot_class", "version"):
        assert manifest.get(key), key
    assert manifest["iot_class"] in {
        "local_push",
        "local_polling",
        "cloud_push",
        "cloud_polling",
        "assumed_state",
        "calculated",
    }
    # hassfest's order: domain, name, then alphabetical.
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def _used_components() -> set[str]:
    """The Home Assistant integrations the integration's modules import."""
    used = set()
    for path in INTEGRATION.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "homeassistant.components":
                    used |= {alias.name for alias in node.names}
                elif node.module.startswith("homeassistant.components."):
                    used.add(node.module.split(".")[2])
    return used


async def test_manifest_declares_what_needs_requirements(hass: HomeAssistant) -> None:
    """An integration RoiWatch imports that has requirements is a dependency.

    A plain Home Assistant Core installs an integration's requirements when it sets that
    integration up; RoiWatch's platforms import e.g. camera (PyTurboJPEG, numpy) before Home
    Assistant would set camera up for them. scripts/plain-core proves it on a real install.
    """
    manifest = load(INTEGRATION / "manifest.json")
    used = _used_components()
    assert {"camera", "image", "mqtt", "binary_sensor"} <= used  # the scan sees the platforms
    with_requirements = {
        domain for domain in used if (await loader.async_get_integration(hass, domain)).requirements
    }
    assert "camera" in with_requirements
    assert with_requirements <= set(manifest["dependencies"])
    assert {"camera", "image"} <= set(manifest["dependencies"])


def _matches(subscription: str, topic: str) -> bool:
    """Whether an MQTT subscription filter matches a topic."""
    return bool(re.fullmatch(subscription.replace("+", "[^/]+").replace("#", ".*"), topic))


def test_hacs() -> None:
    """hacs.json lets HACS offer the integration on every Home Assistant release we test."""
    hacs = load(REPO / "hacs.json")
    assert hacs["name"]
    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.strategy is AwesomeVersionStrategy.CALVER
    # HACS hides the integration from releases older than this: each leg must be allowed.
    assert minimum <= AwesomeVersion(HA_VERSION)


def test_english_translation_is_strings() -> None:
    """A custom integration ships translations/en.json; it must say what strings.json says."""
    assert load(INTEGRATION / "translations" / "en.json") == load(INTEGRATION / "strings.json")


def _flow_keys(cls: ast.ClassDef | ast.FunctionDef) -> dict[str, set[str]]:
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
    # The region rules (regions.py) give the region flow's form errors too: each field's codes,
    # the protocol's refusals of it, in FIELD_ERRORS; HA's own rules in check_region.
    rules = ast.parse((INTEGRATION / "regions.py").read_text())
    check_region = next(n for n in rules.body if getattr(n, "name", "") == "check_region")
    rule_errors = set().union(*FIELD_ERRORS.values()) | _flow_keys(check_region)["error"]
    sections = {
        "RoiWatchConfigFlow": strings["config"],
        "RoiWatchOptionsFlow": strings["options"],
        "RoiSubentryFlow": strings["config_subentries"]["roi"],
    }
    for name, section in sections.items():
        keys = _flow_keys(classes[name])
        if name == "RoiSubentryFlow":
            keys["error"] |= rule_errors
            keys["abort"].add("reconfigure_successful")
        if name == "RoiWatchConfigFlow":
            keys["abort"] |= {"already_configured", "reconfigure_successful"}
        assert keys["step"], name
        assert keys["step"] <= set(section["step"]), name
        assert keys["abort"] <= set(section.get("abort", {})), name
        assert keys["error"] <= set(section.get("error", {})), name
    assert rule_errors == {
        "name_required",
        "name_too_long",
        "name_duplicate",
        "detect_invalid",
        "points_format",
        "points_count",
        "points_range",
        "points_area",
        "points_self_intersect",
        "sensitivity_range",
        "off_delay_range",
    }
    roi = strings["config_subentries"]["roi"]
    assert roi["initiate_flow"]["user"] == "Add region"


async def test_exceptions_and_issues_translated(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mocked_entry: MockConfigEntry
) -> None:
    """Every error and repair issue RoiWatch raises has an English text with its placeholders.

    Fake client: the switch's publish error is one a real broker cannot cause. (The reason a
    camera waits for MQTT: test_init.py::test_setup_retries_without_mqtt.)
    """
    texts = await translation.async_get_translations(hass, "en", "exceptions", {DOMAIN})
    mqtt_mock.async_publish.side_effect = HomeAssistantError("gone")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "switch", "turn_off", {"entity_id": "switch.porch_detection"}, blocking=True
        )
    key = err.value.translation_key
    text = texts.get(f"component.{DOMAIN}.exceptions.{key}.message")
    assert text, key
    assert set(re.findall(r"{(\w+)}", text)) <= set(err.value.translation_placeholders), key

    issue_texts = await translation.async_get_translations(hass, "en", "issues", {DOMAIN})
    issues.async_raise_not_applied(hass, "e1", "Porch", 2, None)
    issues.async_raise_agent_error(hass, "e1", "Porch", "boom")
    issues.async_raise_source_missing(hass, "e1", "Porch", "camera.porch")
    issues.async_raise_no_analyzer(hass, "e1", "Porch", "porch")
    raised_issues = [i for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN]
    assert len(raised_issues) == len(issues.ISSUES)
    for issue in raised_issues:
        for part in ("title", "description"):
            text = issue_texts.get(f"component.{DOMAIN}.issues.{issue.translation_key}.{part}")
            assert text, (issue.translation_key, part)
            assert set(re.findall(r"{(\w+)}", text)) <= set(issue.translation_placeholders), issue


async def test_entity_translations_and_icons(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Every entity has a translated name (or its region's), states and an icon."""
    strings = load(INTEGRATION / "strings.json")["entity"]
    icons = load(INTEGRATION / "icons.json")["entity"]
    # As HA loads them for the UI (translations/en.json of a custom integration).
    shown = await translation.async_get_translations(hass, "en", "entity", {DOMAIN})
    for entry in er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id):
        assert entry.translation_key in strings[entry.domain], entry.entity_id
        if entry.domain != "camera":  # the camera is the device's main entity, named after it
            assert "name" in strings[entry.domain][entry.translation_key], entry.entity_id
            assert shown.get(f"component.{DOMAIN}.entity.{entry.domain}.{entry.translation_key}.name")
        assert entry.translation_key in icons[entry.domain], entry.entity_id
    assert shown.get(f"component.{DOMAIN}.entity.camera.preview.state_attributes.picture.state.live")
    assert set(strings["sensor"]["detection_state"]["state"]) == set(STATES)
    assert set(icons["sensor"]["detection_state"]["state"]) == set(STATES)
    for domain, keys in icons.items():
        assert set(keys) <= set(strings[domain]), domain


async def test_quality_scale(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Every rule has a status, exemptions and todos say why; what is claimed done holds."""
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    status = {}
    for rule, value in rules.items():
        if isinstance(value, dict):
            assert value["status"] in ("done", "exempt", "todo"), rule
            assert value["comment"].strip(), rule
            status[rule] = value["status"]
        else:
            assert value in ("done", "todo"), rule
            status[rule] = value
    entities = er.async_entries_for_config_entry(entity_registry, loaded_entry.entry_id)
    integration = await loader.async_get_integration(hass, DOMAIN)
    claims = {
        "config-flow": integration.config_flow,
        "discovery": bool(integration.mqtt),
        "integration-owner": bool(integration.manifest["codeowners"]),
        "has-entity-name": all(hass.states.get(e.entity_id) is None or e.has_entity_name for e in entities),
        "entity-unique-id": all(e.unique_id for e in entities),
        "entity-translations": all(e.translation_key for e in entities),
        "entity-category": any(e.entity_category for e in entities),
        "entity-disabled-by-default": any(e.disabled_by for e in entities),
        "devices": all(e.device_id for e in entities),
        "runtime-data": loaded_entry.runtime_data is not None,
        "diagnostics": (INTEGRATION / "diagnostics.py").exists(),
    }
    for rule, holds in claims.items():
        if status.get(rule) == "done":
            assert holds, rule


@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_brand_icon(name: str, size: int) -> None:
    """The brand images HA (2026.3+) and HACS's validator take from the integration itself.

    Home Assistant's brand rules: PNG, square, 256x256 (hDPI 512x512), transparency preferred,
    trimmed to the picture. scripts/brand_icon.py draws them.
    """
    path = INTEGRATION / "brand" / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    with Image.open(path) as icon:
        assert icon.format == "PNG"
        assert icon.size == (size, size)
        assert icon.mode == "RGBA"
        alpha = icon.getchannel("A")
        # Transparent corners (rounded), an opaque picture, and no empty margin around it.
        for corner in ((0, 0), (size - 1, 0), (0, size - 1), (size - 1, size - 1)):
            assert alpha.getpixel(corner) == 0, (name, corner)
        assert alpha.getpixel((size // 2, size // 2)) == 255
        assert alpha.getbbox() == (0, 0, size, size), name
        # Not a blank square: the region's orange and the person's white are both there.
        colours = {c for _, c in icon.convert("RGB").getcolors(size * size) or []}
        assert any(r > 230 and 130 < g < 170 and b < 40 for r, g, b in colours), name
        assert (255, 255, 255) in colours, name
