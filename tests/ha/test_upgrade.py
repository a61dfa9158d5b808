"""Upgrading: what RoiWatch 0.1.0 stored on Home Assistant 2025.4.4, loaded with this code.

fixtures/registry_0_1_0 was written by the 0.1.0 integration on 2025.4.4 (see
fixtures/make_registry_0_1_0.py): region sensors in their subentries, the device in all of
them, and the user's rename of the Path sensor. Each release of the test matrix loads it with
its own registry migrations (2026.8 and newer split devices per subentry), then sets the camera
up against a real broker holding the agent's retained state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant import bootstrap
from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import mock_storage

from custom_components.roiwatch.const import DOMAIN
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for

from .conftest import ROI_MOTION, ROI_PERSON
from .helpers import camera_device, is_state, setup_real_mqtt

FIXTURE = Path(__file__).parent / "fixtures" / "registry_0_1_0"
RENAMED = "binary_sensor.front_path"  # binary_sensor.porch_path, renamed by the user


def stored(name: str) -> dict[str, Any]:
    """One file of the 0.1.0 install's .storage."""
    data: dict[str, Any] = json.loads((FIXTURE / f"{name}.json").read_text())
    return data


@pytest.fixture
def hass_storage() -> Iterator[dict[str, Any]]:
    """Home Assistant's storage as 0.1.0 left it (its MQTT entry was the harness's mock)."""
    entries = stored("core.config_entries")
    entries["data"]["entries"] = [e for e in entries["data"]["entries"] if e["domain"] == DOMAIN]
    revision = stored("roiwatch.revision")
    data = {
        "core.config_entries": entries,
        "core.device_registry": stored("core.device_registry"),
        "core.entity_registry": stored("core.entity_registry"),
        revision["key"]: revision,
    }
    with mock_storage(data) as storage:
        yield storage


@pytest.mark.parametrize("load_registries", [False])
@pytest.mark.usefixtures("socket_enabled", "mock_hass_config")
async def test_upgrade_keeps_every_entity(hass: HomeAssistant, broker: Mosquitto) -> None:
    """Every entity id, the user's rename and the states survive; one device lists them all."""
    await bootstrap.async_load_base_functionality(hass)  # loads (and migrates) the stored registries
    # 0.1.0 had no camera entity: the upgrade adds it, and keeps every other one.
    old_ids = {e["entity_id"] for e in stored("core.entity_registry")["data"]["entities"]} | {"camera.porch"}
    await setup_real_mqtt(hass, broker)
    # The agent's retained state: running the stored revision, someone on the path.
    for leaf, payload in [
        ("availability", "online"),
        ("status", json.dumps({"state": "running", "revision": 1, "fps": 5.0})),
        (f"roi/{ROI_PERSON}", "ON"),
        (f"roi/{ROI_MOTION}", "OFF"),
        ("detected", "ON"),
    ]:
        await mqtt.async_publish(hass, f"roiwatch/porch/{leaf}", payload, qos=1, retain=True)

    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    registry = er.async_get(hass)
    entities = er.async_entries_for_config_entry(registry, entry.entry_id)
    assert {e.entity_id for e in entities} == old_ids
    device = camera_device(hass, entry.entry_id)
    assert all(e.device_id == device.id for e in entities)
    # Each retained topic comes on its own subscription, in no set order.
    await wait_for(is_state(hass, RENAMED, "on"), "the renamed region sensor to be on")
    await wait_for(is_state(hass, "binary_sensor.porch_gate", "off"), "the Gate region to be off")
    await wait_for(is_state(hass, "binary_sensor.porch_detected", "on"), "the camera to detect")
    assert hass.states.get(RENAMED).name == "Front path"
    # The content is unchanged, so is the revision: the agent needs no restart.
    await wait_for(is_state(hass, "binary_sensor.porch_configuration_applied", "on"), "revision 1 applied")

    # And again after a restart of the integration, with nothing left to adopt.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert {e.entity_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)} == old_ids
    await wait_for(is_state(hass, RENAMED, "on"), "the renamed region sensor after a reload")
