"""The region editor panel in the sidebar: its files and its registration with the frontend."""

from __future__ import annotations

import hashlib
import logging
from functools import partial
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
PANEL_JS: Final = "roiwatch-panel.js"  # the entry module; it imports the others (./x.js)
WEBCOMPONENT: Final = "roiwatch-panel"


def version(directory: Path) -> str:
    """A short hash of all the panel's modules (names and contents).

    The files are served under it, so a release that changes any module changes every URL:
    the entry module's and, through its relative imports, the others' (no stale mix of
    releases from the browser's cache, and the files may be cached for good).
    """
    if not (directory / PANEL_JS).is_file():
        raise FileNotFoundError(f"{directory / PANEL_JS} is missing")
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.js")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def module_url(release: str) -> str:
    """Where the frontend loads the panel's entry module from."""
    return f"{STATIC_URL}/{release}/{PANEL_JS}"


async def async_setup_panel(hass: HomeAssistant) -> None:
    """Serve the panel's files; add the panel once the frontend is set up (if it ever is)."""
    try:
        release = await hass.async_add_executor_job(version, FRONTEND_DIR)
    except OSError as err:
        _LOGGER.warning("RoiWatch panel not added: cannot read %s: %s", PANEL_JS, err)
        return
    await hass.http.async_register_static_paths(
        [StaticPathConfig(f"{STATIC_URL}/{release}", str(FRONTEND_DIR), cache_headers=True)]
    )
    # The frontend is optional (a test bed or a headless install may lack it); the regions
    # stay editable through the flows without the panel.
    async_when_setup(hass, "frontend", partial(_async_register_panel, release=release))


async def _async_register_panel(hass: HomeAssistant, _component: str, *, release: str) -> None:
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=URL_PATH,
        webcomponent_name=WEBCOMPONENT,
        sidebar_title="RoiWatch",
        sidebar_icon="mdi:vector-polygon",
        module_url=module_url(release),
        embed_iframe=False,
        require_admin=True,
    )
