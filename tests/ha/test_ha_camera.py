"""A camera of Home Assistant, on the harness's MQTT client: its entities and its source's states.

(The real thing, with core's mjpeg camera, a real broker and the real analyzer, is
test_ha_camera_e2e.py.)
"""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.roiwatch import issues
from custom_components.roiwatch.const import CONF_CAMERA_ID, CONF_FPS, CONF_KIND, CONF_SOURCE, DOMAIN, KIND_HA
from roiwatch_dev import REPO

from .conftest import ROI_PERSON, roi_subentry, set_up

INTEGRATION = REPO / "custom_components" / DOMAIN
SOURCE = "camera.yard_camera"
REGION = "binary_sensor.yard_path"
SENSOR = "sensor.yard_picture_source"


def ha_camera_entry() -> MockConfigEntry:
    """A camera of Home Assistant with one person region, as the flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Yard",
        unique_id="yard",
        data={CONF_CAMERA_ID: "yard", CONF_KIND: KIND_HA, CONF_SOURCE: SOURCE},
        options={CONF_FPS: 2.0},
        subentries_data=[roi_subentry(ROI_PERSON, "Path")],
    )


async def test_entities_and_source_states(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, entity_registry: er.EntityRegistry
) -> None:
    """No RoiWatch camera entity; the Picture source sensor says why there is no picture."""
    hass.states.async_set(SOURCE, "idle")
    entry = await set_up(hass, ha_camera_entry())
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert not [e for e in entities if e.domain == "camera"]  # the source is the live picture
    (source_sensor,) = [e for e in entities if e.translation_key == "source"]
    assert source_sensor.entity_id == SENSOR
    icons = json.loads((INTEGRATION / "icons.json").read_text())["entity"]["sensor"]
    assert "source" in icons

    # The entity goes unavailable: said at once, and the region is unavailable.
    hass.states.async_set(SOURCE, "unavailable")
    await hass.async_block_till_done()
    state = hass.states.get(SENSOR)
    assert state.state == "unavailable"
    assert state.attributes == state.attributes | {
        "source_entity_id": SOURCE,
        "error": f"{SOURCE} is unavailable",
    }
    assert hass.states.get(REGION).state == "unavailable"
    assert (
        ir.async_get(hass).async_get_issue(
            DOMAIN, issues.issue_id(issues.ISSUE_SOURCE_MISSING, entry.entry_id)
        )
        is None
    )

    # The entity is removed: a repair issue names it.
    hass.states.async_remove(SOURCE)
    await hass.async_block_till_done()
    assert hass.states.get(SENSOR).state == "missing"
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, issues.issue_id(issues.ISSUE_SOURCE_MISSING, entry.entry_id)
    )
    assert issue is not None
    assert issue.translation_placeholders == {"camera": "Yard", "source": SOURCE}

    # Unloading clears it (and the camera's other issues).
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert not [i for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN]


async def test_renamed_source_is_followed(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, entity_registry: er.EntityRegistry
) -> None:
    """The user renames the source entity: the camera keeps taking its pictures, under the new id."""
    entity_registry.async_get_or_create("camera", "mjpeg", "yard-1", suggested_object_id="yard_camera")
    hass.states.async_set(SOURCE, "idle")
    entry = await set_up(hass, ha_camera_entry())
    entity_registry.async_update_entity(SOURCE, new_entity_id="camera.back_yard")
    await hass.async_block_till_done()
    assert entry.data[CONF_SOURCE] == "camera.back_yard"
    assert entry.runtime_data.ha_camera.source == "camera.back_yard"  # reloaded with it
    assert hass.states.get(SENSOR).attributes["source_entity_id"] == "camera.back_yard"


async def test_removed_camera_clears_what_ha_announced(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """Removing the camera clears its retained announce and availability: not offered again."""
    hass.states.async_set(SOURCE, "idle")
    entry = await set_up(hass, ha_camera_entry())
    mqtt_mock.async_publish.reset_mock()
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    cleared = {c.args[0] for c in mqtt_mock.async_publish.call_args_list if c.args[1:] == ("", 1, True)}
    assert cleared == {f"roiwatch/yard/{leaf}" for leaf in ("config", "armed", "announce", "availability")}
