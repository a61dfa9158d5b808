"""The camera entity: the live picture asked for over the real broker, and its fallbacks."""

from __future__ import annotations

import asyncio
from http import HTTPStatus

import pytest
from aiohttp import ClientResponse
from homeassistant.components.camera import async_get_image
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, MqttMockHAClient

from custom_components.roiwatch.protocol import MAX_PICTURE_BYTES

from .helpers import BASE, Agent, Recorder, camera_device, jpeg

CAMERA = "camera.porch"
REQUEST = f"{BASE}/preview_request"
SNAPSHOT = jpeg(320, 240)


def picture(hass: HomeAssistant) -> str:
    """The camera's ``picture`` attribute."""
    return hass.states.get(CAMERA).attributes["picture"]


def frame(n: int) -> bytes:
    """The n-th live picture the fake detector sends (each one different)."""
    return jpeg(640 + n, 480)


async def image(hass: HomeAssistant) -> bytes:
    """What HA serves as the camera's picture (raises when it has none)."""
    return (await async_get_image(hass, CAMERA)).content


async def test_entity_is_the_device_picture(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, loaded_entry: MockConfigEntry
) -> None:
    """camera.porch: the camera device's main entity, of the entry itself, available without pictures."""
    entity = entity_registry.async_get(CAMERA)
    assert entity is not None
    assert entity.device_id == camera_device(hass, loaded_entry.entry_id).id
    assert entity.config_entry_id == loaded_entry.entry_id
    assert entity.config_subentry_id is None
    assert entity.original_name is None
    assert entity.translation_key == "preview"
    state = hass.states.get(CAMERA)
    assert state.state == "idle"
    assert state.attributes["picture"] == "none"
    assert state.attributes["friendly_name"] == "Porch"
    assert "supported_features" not in state.attributes or not state.attributes["supported_features"]


async def test_live_picture(
    hass: HomeAssistant, agent: Agent, recorder: Recorder, loaded_entry: MockConfigEntry
) -> None:
    """The detector's answer is the picture; the request is QoS 0 and not retained."""
    await agent.running()
    await agent.send("snapshot", SNAPSHOT)
    assert picture(hass) == "last_detection"
    agent.preview = frame
    assert await image(hass) == frame(1)
    assert picture(hass) == "live"
    assert await image(hass) == frame(2)
    assert await recorder.published(REQUEST) == [("", 0, False), ("", 0, False)]


async def test_no_answer_shows_last_detection(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    agent: Agent,
    recorder: Recorder,
    loaded_entry: MockConfigEntry,
) -> None:
    """A detector that does not answer: after the timeout, the last detection picture, said so.

    Diagnostics count what happened (what a user sends when the live picture stays away).
    """
    await agent.running()
    agent.preview = frame
    assert await image(hass) == frame(1)
    assert picture(hass) == "live"
    agent.preview = None
    await agent.send("snapshot", SNAPSHOT)
    assert await image(hass) == SNAPSHOT
    assert picture(hass) == "last_detection"
    assert len(await recorder.published(REQUEST)) == 2
    data = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert data["live_preview"] == {
        "possible": True,
        "requests": 2,
        "answers": 1,
        "timeouts": 1,
        "malformed": 0,
    }


async def test_no_answer_and_no_snapshot(
    hass: HomeAssistant, agent: Agent, recorder: Recorder, loaded_entry: MockConfigEntry
) -> None:
    """Nothing to show: no picture (HA answers an error), and the attribute says none."""
    await agent.running()
    agent.preview = frame
    await image(hass)
    agent.preview = None
    with pytest.raises(HomeAssistantError):
        await image(hass)
    assert picture(hass) == "none"
    assert agent.preview_requests == 2


@pytest.mark.parametrize(
    ("leaf", "payload"),
    [
        ("availability", "offline"),
        ("status", {"state": "stopped", "revision": 1}),
        ("status", {"state": "starting", "revision": 1}),
        ("status", {"state": "error", "revision": 1, "error": "no camera"}),
        ("status", {"state": "offline", "revision": 1}),
        ("armed", "OFF"),
    ],
)
async def test_not_running_is_not_asked(
    hass: HomeAssistant,
    agent: Agent,
    recorder: Recorder,
    loaded_entry: MockConfigEntry,
    leaf: str,
    payload: str | dict,
) -> None:
    """A camera known not to run gets no request; the last detection picture at once."""
    agent.preview = frame
    await agent.running()
    await agent.send("snapshot", SNAPSHOT)
    await agent.send(leaf, payload)
    assert picture(hass) == "last_detection"  # said before anyone looks
    assert await image(hass) == SNAPSHOT
    assert picture(hass) == "last_detection"

    # Positive control: running again, the next look asks and shows the answer. HA's requests
    # reach the recorder in order, so one recorded request proves the first look sent none.
    await agent.send("armed", "ON")
    await agent.running()
    assert await image(hass) == frame(1)
    assert picture(hass) == "live"
    assert await recorder.published(REQUEST) == [("", 0, False)]
    assert agent.preview_requests == 1


async def test_concurrent_viewers_share_one_request(
    hass: HomeAssistant, agent: Agent, recorder: Recorder, loaded_entry: MockConfigEntry
) -> None:
    """Two viewers at once: one request, both get its answer; the next look asks again."""
    await agent.running()
    agent.preview = frame
    assert await asyncio.gather(image(hass), image(hass)) == [frame(1), frame(1)]
    assert len(await recorder.published(REQUEST)) == 1
    assert await image(hass) == frame(2)
    assert len(await recorder.published(REQUEST)) == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"not a jpeg", "not a JPEG"),
        (jpeg(5000, 5000), "pixel limit"),
        (jpeg() + bytes(MAX_PICTURE_BYTES), "byte limit"),
    ],
    ids=["not_jpeg", "too_many_pixels", "too_large"],
)
async def test_malformed_answer_is_refused(
    hass: HomeAssistant,
    agent: Agent,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    answer: bytes,
    reason: str,
) -> None:
    """A bad answer is logged and not shown: the last detection picture instead."""
    await agent.running()
    await agent.send("snapshot", SNAPSHOT)
    agent.preview = lambda _n: answer
    assert await image(hass) == SNAPSHOT
    assert picture(hass) == "last_detection"
    (record,) = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert f"{BASE}/preview" in record.getMessage()
    assert reason in record.getMessage()


async def test_request_publish_failure_shows_last_detection(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mocked_entry: MockConfigEntry
) -> None:
    """A request that cannot be sent: no wait, the last detection picture.

    Fake client: a publish that raises on a connected client cannot be made with a real broker.
    """
    async_fire_mqtt_message(hass, f"{BASE}/availability", "online")
    async_fire_mqtt_message(hass, f"{BASE}/status", '{"state": "running", "revision": 1}')
    async_fire_mqtt_message(hass, f"{BASE}/snapshot", SNAPSHOT)
    await hass.async_block_till_done()
    mqtt_mock.async_publish.reset_mock()
    mqtt_mock.async_publish.side_effect = HomeAssistantError("no connection")
    assert await image(hass) == SNAPSHOT
    assert picture(hass) == "last_detection"
    (call,) = mqtt_mock.async_publish.call_args_list
    assert call.args[:4] == (REQUEST, b"", 0, False)  # newer releases add keyword arguments


async def _parts(response: ClientResponse, wanted: int) -> list[bytes]:
    """The first ``wanted`` distinct pictures of a multipart MJPEG response."""
    assert response.status == HTTPStatus.OK
    assert response.content_type == "multipart/x-mixed-replace"
    pictures: list[bytes] = []
    async with asyncio.timeout(30):
        while len(pictures) < wanted:
            assert await response.content.readline() == b"--frameboundary\r\n"
            headers = {}
            while (line := await response.content.readline()) != b"\r\n":
                key, value = line.decode().split(":", 1)
                headers[key.strip().lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            body = await response.content.readexactly(int(headers["content-length"]))
            assert await response.content.readexactly(2) == b"\r\n"
            if body not in pictures:
                pictures.append(body)
    response.close()
    return pictures


async def test_mjpeg_stream(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, agent: Agent, loaded_entry: MockConfigEntry
) -> None:
    """HA's MJPEG stream (more-info dialog, picture cards) shows the live pictures one after another."""
    await agent.running()
    agent.preview = frame
    client = await hass_client()
    pictures = await _parts(await client.get(f"/api/camera_proxy_stream/{CAMERA}"), 2)
    assert pictures == [frame(1), frame(2)]


async def test_stream_and_picture_with_access_token(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    agent: Agent,
    loaded_entry: MockConfigEntry,
) -> None:
    """What a panel or an <img> uses: the stream and entity_picture with the access_token attribute."""
    await agent.running()
    agent.preview = frame
    client = await hass_client_no_auth()
    attributes = hass.states.get(CAMERA).attributes
    response = await client.get(f"/api/camera_proxy_stream/{CAMERA}")
    assert response.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN)
    response = await client.get(f"/api/camera_proxy_stream/{CAMERA}?token={attributes['access_token']}")
    assert len(await _parts(response, 2)) == 2
    response = await client.get(attributes["entity_picture"])
    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/jpeg"
    assert await response.read() == frame(agent.preview_requests)


async def test_removed_with_the_camera(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, loaded_entry: MockConfigEntry
) -> None:
    """Removing the camera removes its picture."""
    assert entity_registry.async_get(CAMERA) is not None
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert entity_registry.async_get(CAMERA) is None
    assert hass.states.get(CAMERA) is None
