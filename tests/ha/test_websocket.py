"""The region editor's websocket API and its panel, on HA's real core and a real mosquitto.

What the panel saves must be what the flows would have saved: the camera's config subentries,
its entities and the config the broker holds for the agent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SIGNAL_CONFIG_ENTRY_CHANGED, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import DATA_DISPATCHER
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    MockHAClientWebSocket,
    WebSocketGenerator,
)

from custom_components.roiwatch.const import DOMAIN, SUBENTRY_ROI
from custom_components.roiwatch.panel import FRONTEND_DIR, PANEL_JS, version
from custom_components.roiwatch.protocol import MAX_ROIS, RoiConfig, panel_limits
from roiwatch_dev import REPO
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for

from .conftest import ROI_MOTION, ROI_PERSON, SQUARE, TRIANGLE, camera_entry, roi_subentry, set_up
from .helpers import Agent, Recorder, retained_config

STRINGS = REPO / "custom_components" / "roiwatch" / "strings.json"
ERRORS = json.loads(STRINGS.read_text())["config_subentries"]["roi"]["error"]

PATH = "binary_sensor.porch_path"
GATE = "binary_sensor.porch_gate"
DRIVEWAY = {
    "name": "Driveway",
    "detect": "person",
    "points": [[0.2, 0.5], [0.8, 0.5], [0.8, 0.9], [0.2, 0.9]],
    "sensitivity": 65,
    "off_delay": 2.5,
}


async def call(client: MockHAClientWebSocket, command: str, **fields: Any) -> dict[str, Any]:
    """Send a command; its answer."""
    await client.send_json_auto_id({"type": f"roiwatch/{command}", **fields})
    response: dict[str, Any] = await client.receive_json()
    return response


def subentries(entry: MockConfigEntry) -> dict[str, Any]:
    """The camera's subentries as stored."""
    return {key: subentry.as_dict() for key, subentry in entry.subentries.items()}


@pytest.fixture
async def client(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, loaded_entry: MockConfigEntry
) -> MockHAClientWebSocket:
    """An admin's websocket connection, with the camera loaded on the real broker."""
    return await hass_ws_client(hass)


# ------------------------------------------------------------------------------ cameras


async def test_cameras(
    hass: HomeAssistant, client: MockHAClientWebSocket, loaded_entry: MockConfigEntry
) -> None:
    """Each camera with its regions, entity ids and published revision; a camera not loaded too."""
    garden = camera_entry("garden", "Garden", subentries=[])
    garden.add_to_hass(hass)  # not set up
    response = await call(client, "cameras")
    assert response["success"], response
    result = response["result"]
    # The protocol's rules, exactly: the panel accepts what the server accepts.
    assert result["limits"] == panel_limits()
    assert result["limits"] == {
        "max_regions": 16,
        "min_points": 3,
        "max_points": 32,
        "name_max": 64,
        "sensitivity": {"min": 1, "max": 100, "step": 1},  # whole numbers
        "off_delay": {"min": 0, "max": 3600, "step": None},  # any number, fractions too
        "detect": ["person", "motion"],
    }
    porch, other = result["cameras"]
    assert porch == {
        "entry_id": loaded_entry.entry_id,
        "title": "Porch",
        "camera_id": "porch",
        "kind": "smart",
        "loaded": True,
        "revision": 1,
        "running_revision": None,
        "entities": {
            "camera": "camera.porch",
            "applied": "binary_sensor.porch_configuration_applied",
            "running_revision": "sensor.porch_running_revision",
            "state": "sensor.porch_detection_state",
        },
        "regions": [
            {
                "id": ROI_PERSON,
                "name": "Path",
                "detect": "person",
                "points": SQUARE,
                "sensitivity": 50,
                "off_delay": 10,
                "entity_id": PATH,
            },
            {
                "id": ROI_MOTION,
                "name": "Gate",
                "detect": "motion",
                "points": TRIANGLE,
                "sensitivity": 70,
                "off_delay": 4,
                "entity_id": GATE,
            },
        ],
    }
    assert other["entry_id"] == garden.entry_id
    assert (other["loaded"], other["revision"], other["running_revision"], other["regions"]) == (
        False,
        None,
        None,
        [],
    )
    assert other["entities"] == dict.fromkeys(("camera", "applied", "running_revision", "state"))
    # What the panel fills in for a new region: the region flow's defaults.
    assert result["defaults"] == {"detect": "person", "sensitivity": 50, "off_delay": 10}


async def test_cameras_running_revision(client: MockHAClientWebSocket, agent: Agent) -> None:
    """The revision the camera reports running (what the panel's "applied" mark waits for)."""
    await agent.running(revision=1)
    (porch,) = (await call(client, "cameras"))["result"]["cameras"]
    assert porch["running_revision"] == 1


# ------------------------------------------------------------------------------ subscription


async def subscribe(client: MockHAClientWebSocket) -> int:
    """Subscribe to the cameras; the subscription's id (its first event is still to be read)."""
    await client.send_json_auto_id({"type": "roiwatch/subscribe_cameras"})
    response = await client.receive_json()
    assert response["success"], response
    assert response["result"] is None
    return int(response["id"])


async def pushed(client: MockHAClientWebSocket, subscription: int) -> dict[str, Any]:
    """The next listing the subscription pushes."""
    message = await client.receive_json()
    assert (message["type"], message["id"]) == ("event", subscription), message
    event: dict[str, Any] = message["event"]
    return event


async def pushed_until(
    client: MockHAClientWebSocket, subscription: int, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first listing pushed for which ``done`` holds (a change may take a few steps)."""
    while not done(listing := await pushed(client, subscription)):
        pass
    return listing


async def nothing_pushed(client: MockHAClientWebSocket) -> None:
    """Nothing came before a ping's pong (messages on a connection keep their order)."""
    await client.send_json_auto_id({"type": "ping"})
    message = await client.receive_json()
    assert message["type"] == "pong", message


async def test_subscribe_cameras_pushes_each_change(
    hass: HomeAssistant,
    client: MockHAClientWebSocket,
    hass_ws_client: WebSocketGenerator,
    loaded_entry: MockConfigEntry,
    agent: Agent,
) -> None:
    """The listing at once, then again on each change a panel shows, and never twice the same."""
    subscription = await subscribe(client)
    first = await pushed(client, subscription)
    assert first == (await call(await hass_ws_client(hass), "cameras"))["result"]
    assert first["cameras"][0]["running_revision"] is None

    # The camera reports the revision: pushed (the panel's "Applied"), no polling.
    await agent.running(revision=1)
    assert (await pushed(client, subscription))["cameras"][0]["running_revision"] == 1
    # Detections change nothing the listing shows: nothing is pushed for them.
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    await agent.send("detected", "ON")
    await nothing_pushed(client)

    # A region saved by another admin (its own connection): the new revision and region come.
    other = await hass_ws_client(hass)
    saved = await call(other, "region/save", entry_id=loaded_entry.entry_id, **DRIVEWAY)
    region_id = saved["result"]["region_id"]
    listing = await pushed_until(
        client,
        subscription,
        lambda listing: (
            (camera := listing["cameras"][0])["revision"] == 2
            and camera["regions"][-1]["id"] == region_id
            and camera["regions"][-1]["entity_id"] == "binary_sensor.porch_driveway"
        ),
    )
    # The camera reports running it (its coordinator may be a new one, if the change reloaded).
    await agent.running(revision=2)
    listing = await pushed_until(
        client, subscription, lambda listing: listing["cameras"][0]["running_revision"] == 2
    )
    await nothing_pushed(client)
    # Once quiet, the last listing pushed is what is listed now.
    assert listing == (await call(other, "cameras"))["result"]

    # Deleted: pushed without it.
    await call(other, "region/delete", entry_id=loaded_entry.entry_id, region_id=region_id)
    listing = await pushed_until(client, subscription, lambda listing: listing["cameras"][0]["revision"] == 3)
    assert region_id not in [r["id"] for r in listing["cameras"][0]["regions"]]

    # A camera added: pushed too.
    garden = camera_entry("garden", "Garden", subentries=[])
    garden.add_to_hass(hass)
    await pushed_until(
        client, subscription, lambda listing: [c["title"] for c in listing["cameras"]] == ["Porch", "Garden"]
    )


def _listeners(hass: HomeAssistant, entry: MockConfigEntry) -> tuple[int, int, int]:
    """Everything a subscription listens to: entry changes, registry updates, the coordinator."""
    dispatcher = hass.data.get(DATA_DISPATCHER, {}).get(SIGNAL_CONFIG_ENTRY_CHANGED, {})
    registry = hass.bus.async_listeners().get(er.EVENT_ENTITY_REGISTRY_UPDATED, 0)
    return len(dispatcher), registry, len(entry.runtime_data._listeners)


async def test_unsubscribe_leaves_no_listener(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    loaded_entry: MockConfigEntry,
    agent: Agent,
) -> None:
    """The panel closed (unsubscribed) or its connection gone: nothing of the subscription is left."""
    before = _listeners(hass, loaded_entry)
    client = await hass_ws_client(hass)
    subscription = await subscribe(client)
    await pushed(client, subscription)
    during = _listeners(hass, loaded_entry)
    assert all(n > was for n, was in zip(during, before, strict=True)), (before, during)

    await client.send_json_auto_id({"type": "unsubscribe_events", "subscription": subscription})
    assert (await client.receive_json())["success"]
    assert _listeners(hass, loaded_entry) == before
    # And nothing is sent on it any more.
    await agent.running(revision=1)
    await call(client, "region/delete", entry_id=loaded_entry.entry_id, region_id=ROI_MOTION)
    await nothing_pushed(client)

    # A connection closed while subscribed (the browser tab gone) leaves nothing behind either.
    await hass.async_block_till_done()  # the deleted region's entity (and its listener) gone
    before = _listeners(hass, loaded_entry)
    client = await hass_ws_client(hass)
    await pushed(client, await subscribe(client))
    assert _listeners(hass, loaded_entry) != before
    await client.close()
    await wait_for(lambda: _listeners(hass, loaded_entry) == before, "the subscription's listeners removed")


# ------------------------------------------------------------------------------ saving


async def test_create_region(
    hass: HomeAssistant,
    client: MockHAClientWebSocket,
    loaded_entry: MockConfigEntry,
    broker: Mosquitto,
    entity_registry: er.EntityRegistry,
) -> None:
    """A new region: a subentry, its sensor, and the agent's config holds it at the answered revision."""
    response = await call(client, "region/save", entry_id=loaded_entry.entry_id, **DRIVEWAY)
    assert response["success"], response
    region_id = response["result"]["region_id"]
    assert response["result"] == {"region_id": region_id, "revision": 2}

    subentry = loaded_entry.subentries[region_id]
    assert (subentry.subentry_type, subentry.title) == (SUBENTRY_ROI, "Driveway")
    assert dict(subentry.data) == {k: v for k, v in DRIVEWAY.items() if k != "name"}
    assert loaded_entry.state is ConfigEntryState.LOADED
    state = hass.states.get("binary_sensor.porch_driveway")
    assert state is not None
    assert state.attributes["device_class"] == "occupancy"

    held = await retained_config(broker)
    assert held.revision == 2
    assert RoiConfig.from_wire({"id": region_id, **DRIVEWAY}) in held.rois
    assert [r.id for r in held.rois] == [ROI_PERSON, ROI_MOTION, region_id]

    listed = (await call(client, "cameras"))["result"]["cameras"][0]
    assert listed["revision"] == 2
    assert listed["regions"][-1] == {"id": region_id, **DRIVEWAY, "entity_id": "binary_sensor.porch_driveway"}


async def test_update_region(
    hass: HomeAssistant,
    client: MockHAClientWebSocket,
    loaded_entry: MockConfigEntry,
    broker: Mosquitto,
    recorder: Recorder,
    entity_registry: er.EntityRegistry,
) -> None:
    """Renamed and redrawn in place: same subentry, same entity id; each change a new revision."""
    path_unique_id = entity_registry.async_get(PATH).unique_id
    moved = [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]
    edit = {"entry_id": loaded_entry.entry_id, "region_id": ROI_PERSON, **DRIVEWAY, "points": moved}
    response = await call(client, "region/save", **edit)
    assert response["result"] == {"region_id": ROI_PERSON, "revision": 2}
    subentry = loaded_entry.subentries[ROI_PERSON]
    assert subentry.title == "Driveway"
    assert subentry.data["points"] == moved
    assert len(loaded_entry.subentries) == 2
    # The entity keeps its id (automations use it); its name follows the region.
    entity = entity_registry.async_get(PATH)
    assert entity is not None
    assert entity.unique_id == path_unique_id
    assert hass.states.get(PATH).name == "Porch Driveway"
    held = await retained_config(broker)
    assert held.revision == 2
    assert held.rois[0] == RoiConfig.from_wire({"id": ROI_PERSON, **DRIVEWAY, "points": moved})

    # Points only: no entity changes, the config is republished without a reload.
    edit["points"] = SQUARE
    response = await call(client, "region/save", **edit)
    assert response["result"] == {"region_id": ROI_PERSON, "revision": 3}
    assert [list(p) for p in (await retained_config(broker)).rois[0].points] == SQUARE

    # Saving what is saved changes nothing and publishes nothing.
    published = len(await recorder.configs())
    response = await call(client, "region/save", **edit)
    assert response["result"] == {"region_id": ROI_PERSON, "revision": 3}
    assert len(await recorder.configs()) == published


async def test_save_answers_after_its_publish(
    hass: HomeAssistant, client: MockHAClientWebSocket, loaded_entry: MockConfigEntry, broker: Mosquitto
) -> None:
    """While another publish holds the publisher (a reconnect's, say), the answer waits for ours."""
    moved = [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]]
    edit = {"entry_id": loaded_entry.entry_id, "region_id": ROI_PERSON, **DRIVEWAY, "name": "Path"}
    async with loaded_entry.runtime_data.publisher._lock:
        await client.send_json_auto_id({"type": "roiwatch/region/save", **edit, "points": moved})
        await wait_for(lambda: loaded_entry.subentries[ROI_PERSON].data["points"] == moved, "the change")
    response = await client.receive_json()
    assert response["result"] == {"region_id": ROI_PERSON, "revision": 2}
    assert (await retained_config(broker)).revision == 2


async def test_create_answers_after_its_publish(
    hass: HomeAssistant, client: MockHAClientWebSocket, loaded_entry: MockConfigEntry, broker: Mosquitto
) -> None:
    """A new region (no reload): the answer comes once its config went out, with its sensor."""
    coordinator = loaded_entry.runtime_data
    async with coordinator.publisher._lock:
        await client.send_json_auto_id(
            {"type": "roiwatch/region/save", "entry_id": loaded_entry.entry_id, **DRIVEWAY}
        )
        await wait_for(lambda: len(loaded_entry.subentries) == 3, "the new subentry")
    response = await client.receive_json()
    assert response["result"]["revision"] == 2
    assert hass.states.get("binary_sensor.porch_driveway") is not None
    assert (await retained_config(broker)).revision == 2
    assert loaded_entry.runtime_data is coordinator


async def test_save_not_published_in_time(
    hass: HomeAssistant,
    client: MockHAClientWebSocket,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A camera that does not get its change out (its publisher hangs): saved, revision null, logged."""
    with patch("custom_components.roiwatch.websocket_api.PUBLISH_TIMEOUT", 0.05):
        async with loaded_entry.runtime_data.publisher._lock:  # held until the timeout answered
            response = await call(client, "region/save", entry_id=loaded_entry.entry_id, **DRIVEWAY)
    assert response["result"]["revision"] is None
    assert "Driveway" in [s.title for s in loaded_entry.subentries.values()]
    assert "the change to camera Porch was not published within 0.05 s" in caplog.text
    await hass.async_block_till_done()  # the publish goes on once the lock is free
    assert hass.states.get("binary_sensor.porch_driveway") is not None


async def test_delete_region(
    hass: HomeAssistant,
    client: MockHAClientWebSocket,
    loaded_entry: MockConfigEntry,
    broker: Mosquitto,
    entity_registry: er.EntityRegistry,
) -> None:
    """Deleted: subentry, sensor and the agent's region are gone, at the answered revision."""
    assert hass.states.get(GATE) is not None
    response = await call(client, "region/delete", entry_id=loaded_entry.entry_id, region_id=ROI_MOTION)
    assert response["success"], response
    assert response["result"] == {"revision": 2}
    assert list(loaded_entry.subentries) == [ROI_PERSON]
    assert hass.states.get(GATE) is None
    assert entity_registry.async_get(GATE) is None
    held = await retained_config(broker)
    assert held.revision == 2
    assert [r.id for r in held.rois] == [ROI_PERSON]


async def test_save_to_camera_not_loaded(hass: HomeAssistant, client: MockHAClientWebSocket) -> None:
    """A camera that is not set up takes the region; its config goes out when it loads."""
    garden = camera_entry("garden", "Garden", subentries=[])
    garden.add_to_hass(hass)
    response = await call(client, "region/save", entry_id=garden.entry_id, **DRIVEWAY)
    assert response["result"]["revision"] is None
    assert [s.title for s in garden.subentries.values()] == ["Driveway"]


# ------------------------------------------------------------------------------ refusals

BOWTIE = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
REFUSALS = [
    ({"points": [[0.1, 0.1], [0.9, 0.9]]}, "points", "points_count"),
    ({"points": [[i / 40, (i % 2) * 0.5] for i in range(33)]}, "points", "points_count"),
    ({"points": [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]}, "points", "points_range"),
    ({"points": [[0.1, -0.01], [0.9, 0.1], [0.5, 0.5]]}, "points", "points_range"),
    ({"points": BOWTIE}, "points", "points_self_intersect"),
    ({"points": [[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]}, "points", "points_self_intersect"),
    ({"points": [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]}, "points", "points_area"),
    ({"name": " gate "}, "name", "name_duplicate"),
    ({"name": "  "}, "name", "name_required"),
    ({"name": "x" * 65}, "name", "name_too_long"),
    ({"detect": "car"}, "detect", "detect_invalid"),
    ({"sensitivity": 0}, "sensitivity", "sensitivity_range"),
    ({"sensitivity": 101}, "sensitivity", "sensitivity_range"),
    ({"sensitivity": 50.5}, "sensitivity", "sensitivity_range"),
    ({"off_delay": -1}, "off_delay", "off_delay_range"),
    ({"off_delay": 3600.5}, "off_delay", "off_delay_range"),
]


async def assert_refused(
    response: dict[str, Any], errors: dict[str, str], entry: MockConfigEntry, before: dict[str, Any]
) -> None:
    """The answer names each broken rule with the form's text; the camera is unchanged."""
    assert response["success"], response
    assert response["result"] == {"errors": errors, "messages": {f: ERRORS[k] for f, k in errors.items()}}
    assert subentries(entry) == before


@pytest.mark.parametrize(("change", "field", "error"), REFUSALS)
@pytest.mark.parametrize("region_id", [None, ROI_PERSON], ids=["create", "update"])
async def test_save_refused(
    hass: HomeAssistant,
    client: MockHAClientWebSocket,
    loaded_entry: MockConfigEntry,
    broker: Mosquitto,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    region_id: str | None,
    change: dict[str, Any],
    field: str,
    error: str,
) -> None:
    """Every rule of the region form, on a new region and an edited one: nothing changes."""
    before = subentries(loaded_entry)
    published = await recorder.configs()
    fields = {**DRIVEWAY, **change} | ({"region_id": region_id} if region_id else {})
    response = await call(client, "region/save", entry_id=loaded_entry.entry_id, **fields)
    await assert_refused(response, {field: error}, loaded_entry, before)
    assert loaded_entry.runtime_data.publisher.revision == 1
    assert await recorder.configs() == published
    assert (await retained_config(broker)).revision == 1
    assert f"{field}: {error}" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_save_refuses_all_broken_rules_at_once(
    client: MockHAClientWebSocket, loaded_entry: MockConfigEntry
) -> None:
    """Each field with its own error in one answer."""
    before = subentries(loaded_entry)
    bad = {"name": "Path", "detect": "x", "points": BOWTIE, "sensitivity": 0, "off_delay": 4000}
    response = await call(client, "region/save", entry_id=loaded_entry.entry_id, **bad)
    errors = {
        "name": "name_duplicate",
        "detect": "detect_invalid",
        "points": "points_self_intersect",
        "sensitivity": "sensitivity_range",
        "off_delay": "off_delay_range",
    }
    await assert_refused(response, errors, loaded_entry, before)


async def test_save_keeps_own_name(client: MockHAClientWebSocket, loaded_entry: MockConfigEntry) -> None:
    """An edited region may keep its name (in any case); another region's name is refused."""
    edit = {**DRIVEWAY, "entry_id": loaded_entry.entry_id, "region_id": ROI_PERSON, "name": "PATH"}
    response = await call(client, "region/save", **edit)
    assert response["result"]["region_id"] == ROI_PERSON
    assert loaded_entry.subentries[ROI_PERSON].title == "PATH"


async def test_seventeenth_region_refused(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, mqtt_entry: MockConfigEntry, broker: Mosquitto
) -> None:
    """At most MAX_ROIS regions: a new one is refused, editing one of them is not."""
    entry = await set_up(
        hass, camera_entry(subentries=[roi_subentry(f"roi{i}", f"Region {i}") for i in range(MAX_ROIS)])
    )
    client = await hass_ws_client(hass)
    before = subentries(entry)
    response = await call(client, "region/save", entry_id=entry.entry_id, **DRIVEWAY)
    await assert_refused(response, {"base": "max_regions"}, entry, before)
    assert (await retained_config(broker)).revision == 1
    response = await call(client, "region/save", entry_id=entry.entry_id, region_id="roi3", **DRIVEWAY)
    assert response["result"] == {"region_id": "roi3", "revision": 2}


async def test_region_breaking_a_rule_listed_as_stored(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    mqtt_entry: MockConfigEntry,
    broker: Mosquitto,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hand-edited region (an id the wire refuses, a number out of range) is listed as stored,
    so the editor shows it and can fix it; saving the one the wire refuses answers at once."""
    regions = [roi_subentry("bad.id", "Odd"), roi_subentry(ROI_PERSON, "Path", sensitivity=500)]
    entry = await set_up(hass, camera_entry(subentries=regions))
    assert "config not published" in caplog.text  # Path's sensitivity: nothing goes out
    client = await hass_ws_client(hass)
    (porch,) = (await call(client, "cameras"))["result"]["cameras"]
    assert [(r["id"], r["name"], r["sensitivity"]) for r in porch["regions"]] == [
        ("bad.id", "Odd", 50),
        (ROI_PERSON, "Path", 500),
    ]
    # Fixed in the editor: Path goes out with the next revision; Odd's id never can.
    response = await call(client, "region/save", entry_id=entry.entry_id, region_id=ROI_PERSON, **DRIVEWAY)
    assert response["result"] == {"region_id": ROI_PERSON, "revision": 1}
    assert [r.id for r in (await retained_config(broker)).rois] == [ROI_PERSON]
    with patch("custom_components.roiwatch.websocket_api.PUBLISH_TIMEOUT", 5):
        edit = {**DRIVEWAY, "name": "Odd"}
        response = await call(client, "region/save", entry_id=entry.entry_id, region_id="bad.id", **edit)
    assert response["result"] == {"region_id": "bad.id", "revision": None}
    assert "not published within" not in caplog.text


# ------------------------------------------------------------------------------ access and format


async def test_non_admin_unauthorized(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_read_only_access_token: str,
    loaded_entry: MockConfigEntry,
    broker: Mosquitto,
) -> None:
    """A user who is not an admin can neither list nor change anything."""
    client = await hass_ws_client(hass, hass_read_only_access_token)
    before = subentries(loaded_entry)
    entry_id = loaded_entry.entry_id
    for command, fields in (
        ("cameras", {}),
        ("subscribe_cameras", {}),
        ("region/save", {"entry_id": entry_id, **DRIVEWAY}),
        ("region/save", {"entry_id": entry_id, "region_id": ROI_PERSON, **DRIVEWAY}),
        ("region/delete", {"entry_id": entry_id, "region_id": ROI_MOTION}),
    ):
        response = await call(client, command, **fields)
        assert not response["success"], command
        assert response["error"]["code"] == "unauthorized", command
    assert subentries(loaded_entry) == before
    assert (await retained_config(broker)).revision == 1


async def test_not_found(
    client: MockHAClientWebSocket,
    loaded_entry: MockConfigEntry,
    mqtt_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unknown cameras (or another integration's entry) and regions: not_found, nothing changed."""
    before = subentries(loaded_entry)
    for command, fields in (
        ("region/save", {"entry_id": "nope", **DRIVEWAY}),
        ("region/save", {"entry_id": mqtt_entry.entry_id, **DRIVEWAY}),
        ("region/save", {"entry_id": loaded_entry.entry_id, "region_id": "nope", **DRIVEWAY}),
        ("region/delete", {"entry_id": "nope", "region_id": ROI_MOTION}),
        ("region/delete", {"entry_id": loaded_entry.entry_id, "region_id": "nope"}),
    ):
        response = await call(client, command, **fields)
        assert not response["success"], fields
        assert response["error"]["code"] == "not_found", fields
    assert subentries(loaded_entry) == before
    assert "Region editor: camera Porch has no region nope" in caplog.text
    assert "Region editor: no camera with entry id nope" in caplog.text


MALFORMED = [
    {"name": None},
    {"name": 5},
    {"detect": ["person"]},
    {"points": "10,40 90,40 90,100"},
    {"points": [[0.1, 0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]},
    {"points": [[0.1, "0.1"], [0.9, 0.1], [0.5, 0.9]]},
    {"points": [[0.1, True], [0.9, 0.1], [0.5, 0.9]]},
    {"points": [[0.5, 0.5]] * 34},
    {"sensitivity": "50"},
    {"sensitivity": True},
    {"off_delay": None},
    {"extra": 1},
]


@pytest.mark.parametrize("change", MALFORMED)
async def test_malformed(
    client: MockHAClientWebSocket, loaded_entry: MockConfigEntry, change: dict[str, Any]
) -> None:
    """A message of the wrong shape: invalid_format, nothing changed."""
    before = subentries(loaded_entry)
    response = await call(client, "region/save", entry_id=loaded_entry.entry_id, **(DRIVEWAY | change))
    assert not response["success"]
    assert response["error"]["code"] == "invalid_format"
    assert subentries(loaded_entry) == before


async def test_malformed_missing_fields(client: MockHAClientWebSocket, loaded_entry: MockConfigEntry) -> None:
    """Required fields, and no fields where none belong."""
    for command, fields in (
        ("region/save", {"entry_id": loaded_entry.entry_id}),
        ("region/save", DRIVEWAY),
        ("region/delete", {"entry_id": loaded_entry.entry_id}),
        ("cameras", {"entry_id": loaded_entry.entry_id}),
        ("subscribe_cameras", {"entry_id": loaded_entry.entry_id}),
    ):
        response = await call(client, command, **fields)
        assert response["error"]["code"] == "invalid_format", (command, fields)


# ------------------------------------------------------------------------------ panel


async def test_panel_files_served(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, loaded_entry: MockConfigEntry
) -> None:
    """Every module of the panel is served as it is on disk, under the hash of them all.

    What each module imports (``./x.js``) is served next to it, so under the same hash: a new
    release changes every URL, and they may be cached for good. Whether or not the frontend runs.
    """
    http = await hass_client()
    release = version(FRONTEND_DIR)
    modules = sorted(FRONTEND_DIR.glob("*.js"))
    assert len(modules) > 1
    for module in modules:
        response = await http.get(f"/roiwatch_static/{release}/{module.name}")
        assert response.status == HTTPStatus.OK, module.name
        assert await response.read() == module.read_bytes()
        assert "max-age" in response.headers.get("Cache-Control", ""), module.name
        source = module.read_text()
        for imported in re.findall(r"""from\s+['"]([^'"]+)['"]""", source):
            assert re.fullmatch(r"\./[\w-]+\.js", imported), f"{module.name} imports {imported}"
            assert (FRONTEND_DIR / imported).is_file(), f"{module.name} imports {imported}"
        # Nothing fetched from outside: no URL in a module but the integration's own API.
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", source), module.name
    assert (await http.get(f"/roiwatch_static/{PANEL_JS}")).status == HTTPStatus.NOT_FOUND
    assert (await http.get(f"/roiwatch_static/{release}/missing.js")).status == HTTPStatus.NOT_FOUND


def test_release_changes_with_any_module(tmp_path: Path) -> None:
    """Any module changed, added or renamed gives another release (and so other URLs)."""
    (tmp_path / PANEL_JS).write_text("import './a.js';")
    (tmp_path / "a.js").write_text("export const a = 1;")
    first = version(tmp_path)
    (tmp_path / "a.js").write_text("export const a = 2;")
    second = version(tmp_path)
    (tmp_path / "b.js").write_text("")
    third = version(tmp_path)
    (tmp_path / "b.js").rename(tmp_path / "c.js")
    assert len({first, second, third, version(tmp_path)}) == 4


def _frontend_installed() -> bool:
    try:
        import hass_frontend  # noqa: F401
    except ImportError:
        return False
    return True


async def test_no_frontend_no_panel(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """Where the frontend is not set up the integration works and adds no panel."""
    assert "frontend" not in hass.config.components
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert "frontend_panels" not in hass.data


@pytest.mark.skipif(not _frontend_installed(), reason="home-assistant-frontend is not installed")
@pytest.mark.parametrize("frontend_first", [True, False], ids=["frontend-first", "frontend-later"])
async def test_panel_registered(hass: HomeAssistant, frontend_first: bool) -> None:
    """With the frontend: one admin-only sidebar panel whose module URL changes with the files.

    Whichever is set up first; sockets stay blocked (the harness keeps HA's web server unbound).
    """
    order = ["frontend", DOMAIN] if frontend_first else [DOMAIN, "frontend"]
    for domain in order:
        assert await async_setup_component(hass, domain, {})
    await hass.async_block_till_done()
    panel = hass.data["frontend_panels"]["roiwatch"].to_response()
    assert panel["component_name"] == "custom"
    assert panel["url_path"] == "roiwatch"
    assert panel["title"] == "RoiWatch"
    assert panel["icon"] == "mdi:vector-polygon"
    assert panel["require_admin"] is True
    # Newer releases add keys of their own (handle_safe_area, ...).
    expected = {
        "name": "roiwatch-panel",
        "embed_iframe": False,
        "trust_external": False,
        "module_url": f"/roiwatch_static/{version(FRONTEND_DIR)}/{PANEL_JS}",
    }
    assert panel["config"]["_panel_custom"] | expected == panel["config"]["_panel_custom"]


@pytest.mark.skipif(not _frontend_installed(), reason="home-assistant-frontend is not installed")
async def test_panel_file_missing(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken install without the panel's module: no panel, a warning, the rest works."""
    with patch("custom_components.roiwatch.panel.FRONTEND_DIR", tmp_path):
        for domain in ("frontend", DOMAIN):
            assert await async_setup_component(hass, domain, {})
        await hass.async_block_till_done()
    assert "roiwatch" not in hass.data["frontend_panels"]
    assert "RoiWatch panel not added: cannot read roiwatch-panel.js" in caplog.text
