"""Setup, publishing of the whole config, revisions, reloads and removal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.roiwatch.const import (
    CONF_DETECT,
    CONF_FPS,
    CONF_KIND,
    CONF_OFF_DELAY,
    CONF_POINTS,
    CONF_SENSITIVITY,
    SUBENTRY_ROI,
)
from custom_components.roiwatch.protocol import build_config, config_content

from .conftest import CAMERA_ID, ROI_MOTION, ROI_PERSON, SQUARE, TRIANGLE, camera_entry
from .helpers import camera_device, published, published_configs

STORAGE_KEY = "roiwatch.{}"


def expected_rois() -> list[dict[str, Any]]:
    """The fixture camera's regions as the wire carries them."""
    return [
        {
            "id": ROI_PERSON,
            "name": "Path",
            "detect": "person",
            "points": SQUARE,
            "sensitivity": 50,
            "off_delay": 10,
        },
        {
            "id": ROI_MOTION,
            "name": "Gate",
            "detect": "motion",
            "points": TRIANGLE,
            "sensitivity": 50,
            "off_delay": 10,
        },
    ]


async def test_setup_publishes_whole_config(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, loaded_entry: MockConfigEntry
) -> None:
    """At setup the whole config goes out, retained, QoS 1, revision 1."""
    assert loaded_entry.state is ConfigEntryState.LOADED
    configs = published_configs(mqtt_mock)
    assert len(configs) == 1
    assert configs[0] == {
        "schema": 1,
        "camera_id": CAMERA_ID,
        "kind": "smart",
        "revision": 1,
        "fps": 5.0,
        "rois": expected_rois(),
    }


async def test_unload(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, loaded_entry: MockConfigEntry
) -> None:
    """Unloading works and stops listening."""
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("binary_sensor.porch_path").state == "unavailable"


async def test_setup_retries_without_mqtt(hass: HomeAssistant) -> None:
    """Without MQTT the camera waits (setup retry), translated."""
    entry = camera_entry()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "mqtt_not_available"


async def test_revision_stable_across_reload_and_rises_on_change(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Same content, same revision; new content, next revision; stored outside the entry."""
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert [c["revision"] for c in published_configs(mqtt_mock)] == [1, 1]

    hass.config_entries.async_update_entry(loaded_entry, options={CONF_FPS: 2.0})
    await hass.async_block_till_done()
    configs = published_configs(mqtt_mock)
    assert [c["revision"] for c in configs] == [1, 1, 2]
    assert configs[-1]["fps"] == 2.0
    assert hass_storage[STORAGE_KEY.format(loaded_entry.entry_id)]["data"]["revision"] == 2
    assert "revision" not in loaded_entry.data

    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert published_configs(mqtt_mock)[-1]["revision"] == 2


@pytest.mark.parametrize("same_content", [True, False])
async def test_revision_survives_restart(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    hass_storage: dict[str, Any],
    same_content: bool,
) -> None:
    """A new HA (storage from disk) goes on from the stored revision."""
    entry = camera_entry()
    content = config_content(build_config(CAMERA_ID, "smart", 0, expected_rois(), fps=5.0))
    if not same_content:
        content["fps"] = 9.0
    hass_storage[STORAGE_KEY.format(entry.entry_id)] = {
        "version": 1,
        "minor_version": 1,
        "key": STORAGE_KEY.format(entry.entry_id),
        "data": {"revision": 41, "content": json.loads(json.dumps(content))},
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert published_configs(mqtt_mock)[-1]["revision"] == (41 if same_content else 42)


async def test_region_edit_republishes_without_reload(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, loaded_entry: MockConfigEntry
) -> None:
    """Points or timing changes need no new entities: just a new config."""
    coordinator = loaded_entry.runtime_data
    subentry = loaded_entry.subentries[ROI_PERSON]
    hass.config_entries.async_update_subentry(
        loaded_entry, subentry, data={**subentry.data, CONF_SENSITIVITY: 90}
    )
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data is coordinator
    config = published_configs(mqtt_mock)[-1]
    assert config["revision"] == 2
    assert config["rois"][0]["sensitivity"] == 90


async def test_region_added_renamed_deleted(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    loaded_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Entities follow the regions; every change publishes the whole set."""
    hass.config_entries.async_add_subentry(
        loaded_entry,
        ConfigSubentry(
            data={
                CONF_DETECT: "person",
                CONF_POINTS: SQUARE,
                CONF_SENSITIVITY: 10,
                CONF_OFF_DELAY: 0,
            },
            subentry_id="ROI3",
            subentry_type=SUBENTRY_ROI,
            title="Lawn",
            unique_id=None,
        ),
    )
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.porch_lawn") is not None
    lawn_device = entity_registry.async_get("binary_sensor.porch_lawn").device_id
    assert lawn_device == camera_device(hass, loaded_entry.entry_id).id
    config = published_configs(mqtt_mock)[-1]
    assert [r["id"] for r in config["rois"]] == [ROI_PERSON, ROI_MOTION, "ROI3"]
    assert config["revision"] == 2

    hass.config_entries.async_update_subentry(loaded_entry, loaded_entry.subentries["ROI3"], title="Big lawn")
    await hass.async_block_till_done()
    assert entity_registry.async_get("binary_sensor.porch_lawn").original_name == "Big lawn"
    assert published_configs(mqtt_mock)[-1]["rois"][2]["name"] == "Big lawn"

    hass.config_entries.async_remove_subentry(loaded_entry, "ROI3")
    await hass.async_block_till_done()
    assert entity_registry.async_get("binary_sensor.porch_lawn") is None
    assert hass.states.get("binary_sensor.porch_lawn") is None
    config = published_configs(mqtt_mock)[-1]
    assert [r["id"] for r in config["rois"]] == [ROI_PERSON, ROI_MOTION]
    assert config["revision"] == 4
    # Every config ever published names every region the camera had at that moment.
    assert all(c["rois"][:2] == published_configs(mqtt_mock)[0]["rois"] for c in published_configs(mqtt_mock))


async def test_reconfigure_kind_updates_device_and_config(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    loaded_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A kind change reloads (device model) and republishes."""
    hass.config_entries.async_update_entry(
        loaded_entry, title="Back door", data={**loaded_entry.data, CONF_KIND: "dumb"}
    )
    await hass.async_block_till_done()
    device = camera_device(hass, loaded_entry.entry_id)
    assert device.model == "Dumb camera"
    assert device.name == "Back door"
    assert published_configs(mqtt_mock)[-1]["kind"] == "dumb"


async def test_republish_on_reconnect(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, loaded_entry: MockConfigEntry
) -> None:
    """After a reconnect the config is published again, same revision."""
    mqtt_mock.connected = False
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await hass.async_block_till_done()
    assert hass.states.get("switch.porch_detection").state == "unavailable"
    mqtt_mock.connected = True
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert [c["revision"] for c in published_configs(mqtt_mock)] == [1, 1]
    assert hass.states.get("switch.porch_detection").state == "on"


async def test_publish_failure_is_logged(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker error does not break setup; the config goes out on reconnect."""
    mqtt_mock.async_publish.side_effect = HomeAssistantError("not connected")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert "could not publish config revision 1: not connected" in caplog.text
    mqtt_mock.async_publish.side_effect = None
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert published_configs(mqtt_mock)[-1]["revision"] == 1


async def test_setup_while_disconnected(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Set up before the broker connection: no warning, published on connect."""
    mqtt_mock.connected = False
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert published_configs(mqtt_mock) == []
    assert "could not publish" not in caplog.text
    mqtt_mock.connected = True
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert [c["revision"] for c in published_configs(mqtt_mock)] == [1]


async def test_invalid_region_data_is_not_published(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A config the protocol refuses is logged and never sent."""
    entry = camera_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    subentry = entry.subentries[ROI_PERSON]
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_POINTS: [[0, 0], [1, 1]]}
    )
    await hass.async_block_till_done()
    assert "config not published" in caplog.text
    assert len(published_configs(mqtt_mock)) == 1


async def test_region_with_unusable_id_is_skipped(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A subentry id the protocol refuses cannot go on the wire (ULIDs always fit)."""
    from .conftest import roi_subentry

    entry = camera_entry(subentries=[roi_subentry("bad.id", "Odd"), roi_subentry("ok", "Fine")])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert [r["id"] for r in published_configs(mqtt_mock)[-1]["rois"]] == ["ok"]
    assert "has an id the protocol refuses" in caplog.text


async def test_remove_clears_retained_topics(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Removing a camera clears its retained config and armed state, and its revision."""
    assert STORAGE_KEY.format(loaded_entry.entry_id) in hass_storage
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert published(mqtt_mock, f"roiwatch/{CAMERA_ID}/config")[-1] == ("", 1, True)
    assert published(mqtt_mock, f"roiwatch/{CAMERA_ID}/armed") == [("", 1, True)]
    assert STORAGE_KEY.format(loaded_entry.entry_id) not in hass_storage


async def test_remove_with_broker_error(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker error while clearing is logged; the camera is removed anyway."""
    mqtt_mock.async_publish.side_effect = HomeAssistantError("gone")
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert "Could not clear roiwatch/porch/config of removed camera: gone" in caplog.text
    assert hass.config_entries.async_get_entry(loaded_entry.entry_id) is None


async def test_remove_without_mqtt(hass: HomeAssistant, caplog: pytest.LogCaptureFixture) -> None:
    """Without MQTT the retained config cannot be cleared: say so."""
    entry = camera_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_remove(entry.entry_id)
    assert "retained config of removed camera porch stays on the broker" in caplog.text


async def test_region_added_during_setup_is_not_lost(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, entry: MockConfigEntry
) -> None:
    """A region saved while the camera is (re)loading still gets its entity and reaches the agent."""
    entry.add_to_hass(hass)
    forward = hass.config_entries.async_forward_entry_setups

    async def forward_while_a_region_is_saved(*args: Any, **kwargs: Any) -> None:
        # The config went out already; the platforms are not set up yet.
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data={CONF_DETECT: "person", CONF_POINTS: SQUARE, CONF_SENSITIVITY: 50, CONF_OFF_DELAY: 5},
                subentry_id="LATE",
                subentry_type=SUBENTRY_ROI,
                title="Late",
                unique_id=None,
            ),
        )
        await forward(*args, **kwargs)

    hass.config_entries.async_forward_entry_setups = forward_while_a_region_is_saved  # type: ignore[method-assign]
    try:
        # The setup that saw the late region may hand over to a reload: judge the end state.
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        hass.config_entries.async_forward_entry_setups = forward  # type: ignore[method-assign]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("binary_sensor.porch_late") is not None
    assert [r["id"] for r in published_configs(mqtt_mock)[-1]["rois"]] == [ROI_PERSON, ROI_MOTION, "LATE"]
