"""End to end: camera.porch shows the live picture of a real agent replaying vtest.avi."""

from __future__ import annotations

import io

import pytest
from homeassistant.components.camera import async_get_image
from homeassistant.core import HomeAssistant
from PIL import Image
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.roiwatch.protocol import PREVIEW_MAX_WIDTH
from roiwatch_dev.waiting import wait_for

from .helpers import REAL_AGENT_MARKS
from .test_e2e import agent as real_agent  # noqa: F401 (the fixture running the real agent)

pytestmark = REAL_AGENT_MARKS

CAMERA = "camera.porch"


async def live_picture(hass: HomeAssistant, looks: int = 30) -> bytes:
    """The camera's next live picture (a detector just started has no frame yet: look again)."""
    for _ in range(looks):
        content = (await async_get_image(hass, CAMERA)).content
        if hass.states.get(CAMERA).attributes["picture"] == "live":
            return content
    pytest.fail(f"no live picture in {looks} looks")


@pytest.mark.usefixtures("real_agent")
async def test_live_picture_of_a_real_agent(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """A JPEG at most 1280 px wide, the video's current frame: it changes over time."""
    coordinator = loaded_entry.runtime_data
    await wait_for(lambda: coordinator.detection_state == "running", "the agent to run the config", 60)
    first = await live_picture(hass)
    decoded = Image.open(io.BytesIO(first))
    assert decoded.format == "JPEG"
    assert decoded.width <= PREVIEW_MAX_WIDTH
    decoded.load()  # the whole picture decodes, not just its header
    for _ in range(30):  # the video moves: a few looks see another frame
        if await live_picture(hass) != first:
            break
    else:
        pytest.fail("the live picture did not change over 30 looks")
