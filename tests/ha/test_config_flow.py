"""Every path of the camera, options and region flows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_MQTT, SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.roiwatch.const import (
    CONF_CAMERA_ID,
    CONF_DETECT,
    CONF_FPS,
    CONF_KIND,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    DOMAIN,
    SUBENTRY_ROI,
)
from custom_components.roiwatch.protocol import FPS, MAX_ROIS, ROI_ID_RE
from roiwatch_dev.mosquitto import Mosquitto

from .conftest import CAMERA_ID, ROI_MOTION, ROI_PERSON, SQUARE, camera_entry, roi_subentry
from .helpers import Agent, retained_config

ANNOUNCE = json.dumps({"camera_id": CAMERA_ID, "kind": "dumb", "version": "1.2.3"})


def announce_info(topic: str = f"roiwatch/{CAMERA_ID}/announce", payload: Any = ANNOUNCE):
    """What the MQTT integration hands to the flow for a manifest topic."""
    return MqttServiceInfo(
        topic=topic,
        payload=payload,
        qos=0,
        retain=True,
        subscribed_topic="roiwatch/+/announce",
        timestamp=0,
    )


# ------------------------------------------------------------------------------ user step


@pytest.mark.usefixtures("mqtt_entry")
async def test_user_creates_camera_with_id_from_name(hass: HomeAssistant) -> None:
    """An empty camera id is derived from the name."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "  Front Porch ", CONF_KIND: "smart"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Front Porch"
    assert result["data"] == {CONF_CAMERA_ID: "front_porch", CONF_KIND: "smart"}
    assert result["options"] == {CONF_FPS: 5.0}
    assert result["result"].unique_id == "front_porch"


@pytest.mark.usefixtures("mqtt_entry")
async def test_user_explicit_camera_id(hass: HomeAssistant) -> None:
    """A typed camera id wins over the name."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Garden", CONF_CAMERA_ID: " cam-2 ", CONF_KIND: "dumb"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_CAMERA_ID: "cam-2", CONF_KIND: "dumb"}


@pytest.mark.usefixtures("mqtt_entry")
@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_NAME: "   ", CONF_KIND: "smart"}, {CONF_NAME: "name_required"}),
        (
            {CONF_NAME: "Porch", CONF_CAMERA_ID: "Bad Id!", CONF_KIND: "smart"},
            {CONF_CAMERA_ID: "invalid_camera_id"},
        ),
        ({CONF_NAME: "!!!", CONF_KIND: "smart"}, {CONF_CAMERA_ID: "invalid_camera_id"}),
        (
            {CONF_NAME: "x", CONF_CAMERA_ID: "a" * 65, CONF_KIND: "smart"},
            {CONF_CAMERA_ID: "invalid_camera_id"},
        ),
    ],
)
async def test_user_errors_then_recover(
    hass: HomeAssistant, user_input: dict[str, Any], errors: dict[str, str]
) -> None:
    """Each broken rule shows its error; the form keeps what was typed and can be fixed."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Porch", CONF_CAMERA_ID: "porch", CONF_KIND: "smart"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mqtt_entry")
async def test_user_already_configured(hass: HomeAssistant) -> None:
    """One entry per camera id."""
    camera_entry().add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Porch again", CONF_CAMERA_ID: "porch", CONF_KIND: "smart"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_user_without_mqtt(hass: HomeAssistant) -> None:
    """Without the MQTT integration the flow stops with a clear reason."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


# ------------------------------------------------------------------------------ discovery


@pytest.mark.usefixtures("mqtt_entry")
async def test_discovery_confirm_creates_camera(hass: HomeAssistant) -> None:
    """An announced camera is offered with a suggested name and its announced kind."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=announce_info()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {
        "camera_id": CAMERA_ID,
        "kind": "dumb",
        "version": "1.2.3",
    }
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": CAMERA_ID}
    assert flow["context"]["unique_id"] == CAMERA_ID

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_NAME: ""})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_NAME: "name_required"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_NAME: "Porch"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Porch"
    assert result["data"] == {CONF_CAMERA_ID: CAMERA_ID, CONF_KIND: "dumb"}


@pytest.mark.usefixtures("mqtt_entry")
async def test_discovery_without_version(hass: HomeAssistant) -> None:
    """An announce without a version still works."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=announce_info(payload=bytearray(b'{"camera_id": "porch", "kind": "smart"}')),
    )
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"]["version"] == "?"


@pytest.mark.usefixtures("mqtt_entry")
@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("roiwatch/porch/announce", "not json"),
        ("roiwatch/porch/announce", ""),
        ("roiwatch/porch/announce", '{"camera_id": "porch", "kind": "toaster"}'),
        ("roiwatch/porch/announce", '{"camera_id": "garden", "kind": "smart"}'),
        ("roiwatch/porch/announce", "[1, 2]"),
        ("roiwatch/Bad Cam/announce", ANNOUNCE),
        ("roiwatch/porch/status", ANNOUNCE),
        ("other/porch/announce", ANNOUNCE),
    ],
)
async def test_discovery_invalid(hass: HomeAssistant, topic: str, payload: str) -> None:
    """A malformed announce, or a topic that is not an announce, is refused."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=announce_info(topic, payload)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


@pytest.mark.usefixtures("mqtt_entry")
async def test_discovery_already_configured(hass: HomeAssistant) -> None:
    """A configured camera is not offered again."""
    camera_entry().add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=announce_info()
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_discovery_through_manifest_topic(
    hass: HomeAssistant, broker: Mosquitto, mqtt_entry: MockConfigEntry
) -> None:
    """The manifest's mqtt topic makes HA start the flow from a retained announce."""
    garden = Agent(hass, broker, "garden")
    try:
        await garden.connected()
        await garden.send("announce", ANNOUNCE.replace("porch", "garden"))
    finally:
        garden.close()
    await hass.async_block_till_done(wait_background_tasks=True)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["step_id"] == "discovery_confirm"
    assert flows[0]["context"]["unique_id"] == "garden"


# ------------------------------------------------------------------------------ reconfigure


async def test_reconfigure(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """Name and kind can change; the camera id cannot."""
    result = await loaded_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"camera_id": CAMERA_ID}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: " ", CONF_KIND: "dumb"}
    )
    assert result["errors"] == {CONF_NAME: "name_required"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Back door", CONF_KIND: "dumb"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert loaded_entry.title == "Back door"
    assert loaded_entry.data == {CONF_CAMERA_ID: CAMERA_ID, CONF_KIND: "dumb"}
    assert loaded_entry.unique_id == CAMERA_ID


# ------------------------------------------------------------------------------ options


async def test_options(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """The detection frame rate."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {CONF_FPS: 2.5})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_entry.options == {CONF_FPS: 2.5}


def number_field(form: dict[str, Any], name: str) -> dict[str, Any]:
    """The number selector of a form's field, as the frontend gets it."""
    (selector,) = [value for key, value in form["data_schema"].schema.items() if str(key) == name]
    config: dict[str, Any] = selector.serialize()["selector"]["number"]
    return config


async def test_options_take_what_the_protocol_takes(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """The frame rate field takes any number in the protocol's range: 0.25 fps is fine."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    field = number_field(result, CONF_FPS)
    assert (field["min"], field["max"], field["step"]) == (FPS.min, FPS.max, "any")
    result = await hass.config_entries.options.async_configure(result["flow_id"], {CONF_FPS: 0.25})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options == {CONF_FPS: 0.25}


# ------------------------------------------------------------------------------ regions

ROI_INPUT = {
    CONF_NAME: "Driveway",
    CONF_DETECT: "person",
    CONF_POINTS: "10,40 90,40 90,100 10,100",
    CONF_SENSITIVITY: 70.0,
    CONF_OFF_DELAY: 5.0,
}


async def start_region_flow(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Open the "Add region" form as the UI does."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ROI), context={"source": SOURCE_USER}
    )


async def test_add_region(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """A valid region becomes a subentry; its id is fit for the wire."""
    result = await start_region_flow(hass, loaded_entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["description_placeholders"] == {"example": "10,40 90,40 90,100 10,100"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_OFF_DELAY: 2.5}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Driveway"
    await hass.async_block_till_done()
    new = [s for s in loaded_entry.subentries.values() if s.title == "Driveway"]
    assert len(new) == 1
    assert ROI_ID_RE.match(new[0].subentry_id)
    assert new[0].data == {
        CONF_DETECT: "person",
        CONF_POINTS: SQUARE,
        CONF_SENSITIVITY: 70,
        CONF_OFF_DELAY: 2.5,
    }
    assert isinstance(new[0].data[CONF_SENSITIVITY], int)


async def test_region_form_takes_what_the_protocol_takes(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """The form's number fields hold the protocol's rules: fractions of a second, whole sensitivities."""
    result = await start_region_flow(hass, loaded_entry)
    sensitivity = number_field(result, CONF_SENSITIVITY)
    off_delay = number_field(result, CONF_OFF_DELAY)
    assert (sensitivity["min"], sensitivity["max"], sensitivity["step"]) == (1, 100, 1)
    assert (off_delay["min"], off_delay["max"], off_delay["step"]) == (0, 3600, "any")
    assert off_delay["unit_of_measurement"] == "s"
    # A fraction of a sensitivity is refused with the panel's error (the slider gives none).
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_SENSITIVITY: 50.5}
    )
    assert result["errors"] == {CONF_SENSITIVITY: "sensitivity_range"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_OFF_DELAY: 0.5}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (new,) = [s for s in loaded_entry.subentries.values() if s.title == "Driveway"]
    assert new.data[CONF_OFF_DELAY] == 0.5


POINTS_ERRORS = [
    ("10,40 90 90,100", "points_format"),
    ("10,40 90,40,1 90,100", "points_format"),
    ("a,b c,d e,f", "points_format"),
    ("nan,1 2,3 4,5", "points_format"),
    ("", "points_count"),
    ("10,10 20,20", "points_count"),
    (" ".join(f"{i},{i % 2 * 50}" for i in range(33)), "points_count"),
    ("10,10 120,10 50,50", "points_range"),
    ("10,-1 90,10 50,50", "points_range"),
    ("0,0 50,50 100,100", "points_area"),
    ("0,0 100,100 100,0 0,100", "points_self_intersect"),
    ("0,0 100,0 100,0 0,100", "points_self_intersect"),
]


@pytest.mark.parametrize(("points", "error"), POINTS_ERRORS)
async def test_add_region_points_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, points: str, error: str
) -> None:
    """Every rule the points break has its own error; fixing them saves the region."""
    result = await start_region_flow(hass, loaded_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_POINTS: points}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_POINTS: error}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], ROI_INPUT)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("  ", "name_required"),
        ("x" * 65, "name_too_long"),
        ("Path", "name_duplicate"),
        (" path ", "name_duplicate"),
    ],
)
async def test_add_region_name_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, name: str, error: str
) -> None:
    """Name rules; a duplicate name within the camera is a form error, not a crash."""
    result = await start_region_flow(hass, loaded_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_NAME: name}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_NAME: error}


async def test_add_region_name_and_points_errors_together(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Both fields are checked at once."""
    result = await start_region_flow(hass, loaded_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_NAME: "Path", CONF_POINTS: "1,1"}
    )
    assert result["errors"] == {CONF_NAME: "name_duplicate", CONF_POINTS: "points_count"}


@pytest.mark.usefixtures("mqtt_entry")
async def test_region_name_may_repeat_on_another_camera(hass: HomeAssistant) -> None:
    """Names are unique per camera only."""
    first = camera_entry()
    second = camera_entry("garden", "Garden", subentries=[])
    for entry in (first, second):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    result = await start_region_flow(hass, second)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_NAME: "Path"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mqtt_entry")
async def test_add_region_max(hass: HomeAssistant) -> None:
    """A camera takes at most MAX_ROIS regions."""
    entry = camera_entry(subentries=[roi_subentry(f"roi{i}", f"Region {i}") for i in range(MAX_ROIS)])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await start_region_flow(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "max_regions"
    assert result["description_placeholders"] == {"max": str(MAX_ROIS)}


async def test_reconfigure_region(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """A region is edited in place: same subentry id, new title and data."""
    # As the frontend starts it (the harness's helper changed its signature in 2026).
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, SUBENTRY_ROI),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": ROI_PERSON},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    schema_defaults = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert schema_defaults == {
        CONF_NAME: "Path",
        CONF_DETECT: "person",
        CONF_POINTS: "10,40 90,40 90,100 10,100",
        CONF_SENSITIVITY: 50,
        CONF_OFF_DELAY: 10,
    }

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_NAME: "gate"}
    )
    assert result["errors"] == {CONF_NAME: "name_duplicate"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ROI_INPUT, CONF_POINTS: "0,0 1,1"}
    )
    assert result["errors"] == {CONF_POINTS: "points_count"}

    # Keeping its own name is no duplicate.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {**ROI_INPUT, CONF_NAME: "Path", CONF_DETECT: "motion", CONF_POINTS: "0,30 100,30 100,100"},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    subentry = loaded_entry.subentries[ROI_PERSON]
    assert subentry.title == "Path"
    assert subentry.data[CONF_DETECT] == "motion"
    assert subentry.data[CONF_POINTS] == [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0]]
    assert ROI_MOTION in loaded_entry.subentries


async def test_delete_region(
    hass: HomeAssistant,
    broker: Mosquitto,
    loaded_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Deleting a region (the UI calls this): its sensor is gone, the agent's config drops it."""
    gate = "binary_sensor.porch_gate"
    assert hass.states.get(gate) is not None
    assert [r.id for r in (await retained_config(broker)).rois] == [ROI_PERSON, ROI_MOTION]

    assert hass.config_entries.async_remove_subentry(loaded_entry, ROI_MOTION)
    await hass.async_block_till_done()
    assert list(loaded_entry.subentries) == [ROI_PERSON]
    assert hass.states.get(gate) is None
    assert entity_registry.async_get(gate) is None
    held = await retained_config(broker)
    assert [r.id for r in held.rois] == [ROI_PERSON]
    assert held.revision == 2
