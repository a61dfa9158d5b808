"""The camera flow for a camera of Home Assistant: kind ``ha``, then its source entity."""

from __future__ import annotations

import pytest
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.roiwatch.const import (
    CONF_CAMERA_ID,
    CONF_FPS,
    CONF_KIND,
    CONF_SOURCE,
    DOMAIN,
    KIND_HA,
)

from .conftest import camera_entry

SOURCE = "camera.yard"


@pytest.fixture
def source(hass: HomeAssistant) -> str:
    """A camera entity of Home Assistant (its state is all the flow looks at)."""
    hass.states.async_set(SOURCE, "idle")
    return SOURCE


@pytest.mark.usefixtures("mqtt_entry", "source")
async def test_add_ha_camera(hass: HomeAssistant) -> None:
    """Kind ``ha`` asks for the source entity; the camera id comes from the name; 2 fps."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Back Yard", CONF_KIND: KIND_HA}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "ha_source"
    assert result["description_placeholders"] == {"name": "Back Yard"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_SOURCE: SOURCE})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Back Yard"
    assert result["data"] == {CONF_CAMERA_ID: "back_yard", CONF_KIND: KIND_HA, CONF_SOURCE: SOURCE}
    assert result["options"] == {CONF_FPS: 2.0}


@pytest.mark.usefixtures("mqtt_entry", "source")
async def test_ha_source_errors_then_recover(hass: HomeAssistant) -> None:
    """A missing entity and a RoiWatch camera's own picture are refused; another pick works."""
    er.async_get(hass).async_get_or_create(
        "camera", DOMAIN, "porch-preview", suggested_object_id="porch_roiwatch"
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Yard", CONF_KIND: KIND_HA}
    )
    for entity_id, error in (
        ("camera.nowhere", "source_not_found"),
        ("camera.porch_roiwatch", "source_is_roiwatch"),
    ):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_SOURCE: entity_id})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_SOURCE: error}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_SOURCE: SOURCE})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SOURCE] == SOURCE


@pytest.mark.usefixtures("mqtt_entry", "source")
async def test_ha_camera_id_already_configured(hass: HomeAssistant) -> None:
    """The id is checked before the source is asked for."""
    camera_entry(camera_id="yard").add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Yard", CONF_KIND: KIND_HA}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mqtt_entry", "source")
async def test_reconfigure_ha_camera(hass: HomeAssistant) -> None:
    """Its name and source change (the kind stays); bad values show their errors first."""
    hass.states.async_set("camera.drive", "idle")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Yard",
        unique_id="yard",
        data={CONF_CAMERA_ID: "yard", CONF_KIND: KIND_HA, CONF_SOURCE: SOURCE},
        options={CONF_FPS: 2.0},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert set(result["data_schema"].schema) == {CONF_NAME, CONF_SOURCE}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: " ", CONF_SOURCE: "camera.nowhere"}
    )
    assert result["errors"] == {CONF_NAME: "name_required", CONF_SOURCE: "source_not_found"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Drive", CONF_SOURCE: "camera.drive"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.title == "Drive"
    assert entry.data == {CONF_CAMERA_ID: "yard", CONF_KIND: KIND_HA, CONF_SOURCE: "camera.drive"}
