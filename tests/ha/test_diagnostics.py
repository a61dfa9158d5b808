"""Diagnostics download."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.roiwatch.const import CONF_CAMERA_ID, CONF_KIND

from .conftest import CAMERA_ID, ROI_PERSON, camera_entry
from .helpers import Agent, jpeg


async def test_diagnostics(hass: HomeAssistant, hass_client: ClientSessionGenerator, agent: Agent) -> None:
    """Entry, regions, last status and the published config; credentials redacted."""
    template = camera_entry()
    # Nothing secret is stored today; whatever looks like a credential must never leak.
    entry = MockConfigEntry(
        domain=template.domain,
        title=template.title,
        unique_id=template.unique_id,
        data={**template.data, "username": "me", "password": "secret", "token": "t"},
        options=template.options,
        subentries_data=[s.as_dict() for s in template.subentries.values()],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await agent.running(revision=1, error="bad roi", detector="ssdlite/onnxruntime")
    await agent.send(f"roi/{ROI_PERSON}", "ON")
    await agent.send("snapshot", jpeg())

    data = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert data["entry"]["data"] == {
        CONF_CAMERA_ID: CAMERA_ID,
        CONF_KIND: "smart",
        "username": "**REDACTED**",
        "password": "**REDACTED**",
        "token": "**REDACTED**",
    }
    assert [s["title"] for s in data["entry"]["subentries"]] == ["Path", "Gate"]
    camera = data["camera"]
    assert camera["status"]["error"] == "bad roi"
    assert camera["status"]["revision"] == 1
    assert camera["status"]["detector"] == "ssdlite/onnxruntime"  # the person model's runtime
    assert camera["rois"] == {ROI_PERSON: True}
    assert camera["snapshot_bytes"] == len(jpeg())
    assert camera["applied"] is True
    assert camera["detection_state"] == "running"
    assert data["published_config"]["revision"] == 1
    assert data["live_preview"] == {
        "possible": True,
        "requests": 0,
        "answers": 0,
        "timeouts": 0,
        "malformed": 0,
    }
    assert len(data["published_config"]["rois"]) == 2
    assert "secret" not in str(data)
