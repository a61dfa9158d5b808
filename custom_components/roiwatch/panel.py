"""The region editor panel in the sidebar: its files and its registration with the frontend."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Final

from homeassistant.components import panel_custom
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_when_setup

_LOGGER = logging.getLogger(__name__)

URL_PATH: Final = "roiwatch"
STATIC_URL: Final = "/roiwatch_static"
FRONTEND_DIR: Final = Path(__file__).parent / "frontend"
PANEL_JS: Final = "roiwatch-panel.js"
WEBCOMPONENT: Final = "roiwatch-panel"


def _version(path: Path) -> str:
    """A short hash of the file: a new release changes the panel's URL, so no stale cache."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


async def async_setup_panel(hass: HomeAssistant) -> None:
    """Serve the panel's files; add the panel once the frontend is set up (if it ever is)."""
    # No cache headers: the module's URL changes with its content, what it imports may not.
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STATIC_URL, str(FRONTEND_DIR), cache_headers=False)]
    )
    # The frontend is optional (a test bed or a headless install may lack it); the regions
    # stay editable through the flows without the panel.
    async_when_setup(hass, "frontend", _async_register_panel)


async def _async_register_panel(hass: HomeAssistant, _component: str) -> None:
    try:
        version = await hass.async_add_executor_job(_version, FRONTEND_DIR / PANEL_JS)
    except OSError as err:
        _LOGGER.warning("RoiWatch panel not added: cannot read %s: %s", PANEL_JS, err)
        return
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=URL_PATH,
        webcomponent_name=WEBCOMPONENT,
        sidebar_title="RoiWatch",
        sidebar_icon="mdi:vector-polygon",
        module_url=f"{STATIC_URL}/{PANEL_JS}?v={version}",
        embed_iframe=False,
        require_admin=True,
    )
