"""Setup, publishing of the whole config, revisions, reloads and removal."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.components import mqtt
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import translation
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
    DOMAIN,
    SUBENTRY_ROI,
)
from custom_components.roiwatch.protocol import CameraConfig, RoiConfig, parse_config
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for

from .conftest import CAMERA_ID, ROI_MOTION, ROI_PERSON, SQUARE, TRIANGLE, camera_entry
from .helpers import Agent, Recorder, camera_device, is_state, retained, retained_config

STORAGE_KEY = "roiwatch.{}"


def expected_rois() -> tuple[RoiConfig, ...]:
    """The fixture camera's regions as the wire carries them."""
    return (
        RoiConfig(id=ROI_PERSON, name="Path", detect="person", points=SQUARE, sensitivity=50, off_delay=10),
        RoiConfig(id=ROI_MOTION, name="Gate", detect="motion", points=TRIANGLE, sensitivity=70, off_delay=4),
    )


async def test_setup_publishes_whole_config(
    hass: HomeAssistant, recorder: Recorder, broker: Mosquitto, loaded_entry: MockConfigEntry
) -> None:
    """At setup the whole config goes out, retained, QoS 1, revision 1; the broker holds it."""
    assert loaded_entry.state is ConfigEntryState.LOADED
    expected = CameraConfig(camera_id=CAMERA_ID, kind="smart", revision=1, rois=expected_rois(), fps=5.0)
    assert await recorder.configs() == [expected]
    assert await retained_config(broker) == expected


async def test_unload(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
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
    texts = await translation.async_get_translations(hass, "en", "exceptions", {DOMAIN})
    assert texts[f"component.{DOMAIN}.exceptions.mqtt_not_available.message"]


async def test_revision_stable_across_reload_and_rises_on_change(
    hass: HomeAssistant,
    recorder: Recorder,
    broker: Mosquitto,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Same content, same revision; new content, next revision; stored outside the entry."""
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert [c.revision for c in await recorder.configs()] == [1, 1]

    hass.config_entries.async_update_entry(loaded_entry, options={CONF_FPS: 2.0})
    await hass.async_block_till_done()
    configs = await recorder.configs()
    assert [c.revision for c in configs] == [1, 1, 2]
    assert configs[-1].fps == 2.0
    assert await retained_config(broker) == configs[-1]
    assert hass_storage[STORAGE_KEY.format(loaded_entry.entry_id)]["data"]["revision"] == 2
    assert "revision" not in loaded_entry.data

    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert [c.revision for c in await recorder.configs()] == [1, 1, 2, 2]


# The fixture camera's content as the previous version stored it (its voluptuous-normalised
# config without the revision): fps a float, the points as the region editor's JSON gave them.
PREVIOUS_CONTENT: dict[str, Any] = {
    "schema": 1,
    "camera_id": CAMERA_ID,
    "kind": "smart",
    "fps": 5.0,
    "rois": [
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
            "points": [[0, 0], [0.5, 0], [0, 0.5]],
            "sensitivity": 70,
            "off_delay": 4,
        },
    ],
}


@pytest.mark.parametrize(
    ("content", "revision"),
    [
        (PREVIOUS_CONTENT, 41),
        (PREVIOUS_CONTENT | {"fps": 9.0}, 42),
        ({"rois": "unreadable"}, 42),
    ],
    ids=["same", "changed", "unreadable"],
)
async def test_revision_survives_restart(
    hass: HomeAssistant,
    mqtt_entry: MockConfigEntry,
    broker: Mosquitto,
    hass_storage: dict[str, Any],
    content: dict[str, Any],
    revision: int,
) -> None:
    """A new HA (or an upgraded one: storage from disk) goes on from the stored revision.

    Content the previous version saved is the same content: nobody's revision jumps on upgrade.
    """
    entry = camera_entry()
    hass_storage[STORAGE_KEY.format(entry.entry_id)] = {
        "version": 1,
        "minor_version": 1,
        "key": STORAGE_KEY.format(entry.entry_id),
        "data": {"revision": 41, "content": content},
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert (await retained_config(broker)).revision == revision


async def test_region_edit_republishes_without_reload(
    hass: HomeAssistant, recorder: Recorder, broker: Mosquitto, loaded_entry: MockConfigEntry
) -> None:
    """Points or timing changes need no new entities: just a new config."""
    coordinator = loaded_entry.runtime_data
    subentry = loaded_entry.subentries[ROI_PERSON]
    hass.config_entries.async_update_subentry(
        loaded_entry, subentry, data={**subentry.data, CONF_SENSITIVITY: 90}
    )
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data is coordinator
    config = (await recorder.configs())[-1]
    assert config.revision == 2
    assert config.rois[0].sensitivity == 90
    assert await retained_config(broker) == config


async def test_reconfigure_kind_updates_device_and_config(
    hass: HomeAssistant,
    broker: Mosquitto,
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
    assert (await retained_config(broker)).kind == "dumb"


@pytest.mark.parametrize("broker_kept_retained", [True, False], ids=["restarted", "retained_lost"])
async def test_republish_on_reconnect(
    hass: HomeAssistant,
    recorder: Recorder,
    broker: Mosquitto,
    agent: Agent,
    loaded_entry: MockConfigEntry,
    broker_kept_retained: bool,
) -> None:
    """The broker goes away: entities unavailable; back: available, the config held again.

    A broker that comes back without its retained messages (no persistence) only holds the
    config if HA published it again; the revision stays 1.
    """
    await agent.running()
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    assert hass.states.get("binary_sensor.porch_path").state == "on"

    broker.stop()
    await wait_for(is_state(hass, "switch.porch_detection", "unavailable"), "the switch to go unavailable")
    assert hass.states.get("binary_sensor.porch_path").state == "unavailable"
    if broker_kept_retained:
        broker.start()
        back = broker
    else:
        back = Mosquitto(port=broker.port)  # a new broker on the same port: nothing retained
        back.start()
    try:
        await wait_for(is_state(hass, "switch.porch_detection", "on"), "the switch to be available again")
        await wait_for(is_state(hass, "binary_sensor.porch_path", "on"), "the region sensor to be back")
        await wait_for(lambda: mqtt.is_connected(hass), "HA to reconnect")
        await hass.async_block_till_done()
        # A broker that lost it holds the config again: published again, the same revision.
        held = await retained_config(back)
        assert held is not None
        assert held.revision == 1
        assert held.rois == expected_rois()
    finally:
        if back is not broker:
            back.stop()
            back.close()


async def test_publish_failure_is_logged(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker error does not break setup; the config goes out on reconnect.

    Fake client: HA checks the connection before publishing, so a real broker cannot make a
    publish on a connected client raise; the fake one can.
    """
    mqtt_mock.async_publish.side_effect = HomeAssistantError("not connected")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert "could not publish config revision 1: not connected" in caplog.text
    mqtt_mock.async_publish.side_effect = None
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    topic, payload, qos, retain = mqtt_mock.async_publish.call_args_list[-1].args
    assert (topic, qos, retain) == (f"roiwatch/{CAMERA_ID}/config", 1, True)
    assert parse_config(payload).revision == 1


async def test_setup_while_disconnected(
    hass: HomeAssistant,
    recorder: Recorder,
    broker: Mosquitto,
    mqtt_entry: MockConfigEntry,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Set up while the broker is down: no warning, published once on connect."""
    broker.stop()
    await wait_for(lambda: not mqtt.is_connected(hass), "HA to lose the broker")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert "could not publish" not in caplog.text
    broker.start()
    await wait_for(lambda: mqtt.is_connected(hass), "HA to reconnect")
    await hass.async_block_till_done()  # the publish on connect
    assert (await retained_config(broker)).revision == 1
    assert "could not publish" not in caplog.text


async def test_invalid_region_data_is_not_published(
    hass: HomeAssistant,
    recorder: Recorder,
    broker: Mosquitto,
    mqtt_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A config the protocol refuses is logged and never sent; the broker keeps the last good one."""
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
    assert len(await recorder.configs()) == 1
    assert (await retained_config(broker)).rois == expected_rois()


async def test_region_with_unusable_id_is_skipped(
    hass: HomeAssistant, broker: Mosquitto, mqtt_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """A subentry id the protocol refuses cannot go on the wire (ULIDs always fit)."""
    from .conftest import roi_subentry

    entry = camera_entry(subentries=[roi_subentry("bad.id", "Odd"), roi_subentry("ok", "Fine")])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert [r.id for r in (await retained_config(broker)).rois] == ["ok"]
    assert "has an id the protocol refuses" in caplog.text


async def test_remove_clears_retained_topics(
    hass: HomeAssistant,
    recorder: Recorder,
    broker: Mosquitto,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Removing a camera clears its retained config and armed state, and its revision."""
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.porch_detection"}, blocking=True
    )
    held = await retained(broker)
    assert {f"roiwatch/{CAMERA_ID}/config", f"roiwatch/{CAMERA_ID}/armed"} <= set(held)
    assert STORAGE_KEY.format(loaded_entry.entry_id) in hass_storage
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert (await recorder.published(f"roiwatch/{CAMERA_ID}/config"))[-1] == ("", 1, True)
    assert recorder.on(f"roiwatch/{CAMERA_ID}/armed")[-1] == ("", 1, True)
    assert not [t for t in await retained(broker) if t.startswith(f"roiwatch/{CAMERA_ID}/")]
    assert STORAGE_KEY.format(loaded_entry.entry_id) not in hass_storage


async def test_remove_with_broker_error(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mocked_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker error while clearing is logged; the camera is removed anyway.

    Fake client: a publish that raises on a connected client cannot be made with a real broker.
    """
    mqtt_mock.async_publish.side_effect = HomeAssistantError("gone")
    assert await hass.config_entries.async_remove(mocked_entry.entry_id)
    await hass.async_block_till_done()
    assert "Could not clear roiwatch/porch/config of removed camera: gone" in caplog.text
    assert hass.config_entries.async_get_entry(mocked_entry.entry_id) is None


async def test_remove_without_mqtt(hass: HomeAssistant, caplog: pytest.LogCaptureFixture) -> None:
    """Without MQTT the retained config cannot be cleared: say so."""
    entry = camera_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_remove(entry.entry_id)
    assert "retained config of removed camera porch stays on the broker" in caplog.text


async def test_region_added_during_setup_is_not_lost(
    hass: HomeAssistant, broker: Mosquitto, mqtt_entry: MockConfigEntry, entry: MockConfigEntry
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
        # Judge the end state: the late region's update listener may run before or after the platforms.
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    finally:
        hass.config_entries.async_forward_entry_setups = forward  # type: ignore[method-assign]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("binary_sensor.porch_late") is not None
    assert [r.id for r in (await retained_config(broker)).rois] == [ROI_PERSON, ROI_MOTION, "LATE"]
