"""Helpers of the RoiWatch Home Assistant tests."""

from __future__ import annotations

import json
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.roiwatch.protocol import parse_config

from .conftest import CAMERA_ID

BASE = f"roiwatch/{CAMERA_ID}"


def jpeg(width: int = 64, height: int = 48) -> bytes:
    """A JPEG header that declares a size (all the protocol reads before decoding)."""
    sof = (
        b"\xff\xc0\x00\x11\x08"
        + height.to_bytes(2, "big")
        + width.to_bytes(2, "big")
        + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + sof + b"\xff\xd9"


def published(mqtt_mock: MqttMockHAClient, topic: str) -> list[tuple[Any, int, bool]]:
    """(payload, qos, retain) of every publish on ``topic``, oldest first."""
    return [
        (c.args[1], c.args[2], c.args[3])
        for c in mqtt_mock.async_publish.call_args_list
        if c.args[0] == topic
    ]


def published_configs(mqtt_mock: MqttMockHAClient, camera_id: str = CAMERA_ID) -> list[dict]:
    """Every config published for a camera, each checked against the protocol."""
    configs = []
    for payload, qos, retain in published(mqtt_mock, f"roiwatch/{camera_id}/config"):
        assert (qos, retain) == (1, True)
        configs.append(parse_config(payload, expected_camera_id=camera_id))
    return configs


async def fire(hass: HomeAssistant, leaf: str, payload: Any) -> None:
    """A message from the camera's agent on ``roiwatch/porch/<leaf>``."""
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    # Live messages reach existing subscribers unretained (HA skips repeated retained ones).
    async_fire_mqtt_message(hass, f"{BASE}/{leaf}", payload)
    await hass.async_block_till_done()


async def agent_running(hass: HomeAssistant, revision: int | None = 1, **status: Any) -> None:
    """The agent is online and its detector runs ``revision``."""
    await fire(hass, "availability", "online")
    await fire(hass, "status", {"state": "running", "revision": revision, "fps": 4.8} | status)


def camera_device(hass: HomeAssistant, entry_id: str) -> dr.DeviceEntry:
    """The one device of a camera's config entry (async_get_device is deprecated)."""
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry_id)
    assert len(devices) == 1, devices
    return devices[0]
