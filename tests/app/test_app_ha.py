"""Stream cameras in the app, end to end with Home Assistant's real core.

An IP camera's HTTP MJPEG stream (behind a password in its URL) and a snapshot URL, served by
the test from vtest.avi, are put in the app's options. The app runs each as a smart camera;
Home Assistant discovers both, a region is drawn on each as the UI does, and a person walking
in turns the region ON. The camera's password shows nowhere a user or a bug report can see it.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from PIL import Image
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.roiwatch.const import DOMAIN
from roiwatch_dev import VIDEO
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.waiting import wait_for
from tests.agent.conftest import vtest_jpegs
from tests.ha.helpers import add_region, camera_device, is_state, setup_real_mqtt

from .conftest import PASSWORDS, App, _Server

CAMERA_LOGIN = ("viewer", "cam-pw-9d31e7")
FPS = 10  # vtest.avi's own rate

pytestmark = pytest.mark.usefixtures("enable_custom_integrations", "mock_hass_config")


@pytest.fixture
def ip_camera(broker: Mosquitto) -> Iterator[_Server]:
    """One IP camera: /stream.mjpg (HTTP basic auth) and /snapshot.jpg, showing vtest.avi live."""
    if not VIDEO.exists():
        pytest.skip("vtest.avi is missing: run scripts/setup")
    frames = vtest_jpegs(VIDEO, n=120, width=384)
    t0 = time.monotonic()
    login = "Basic " + base64.b64encode(":".join(CAMERA_LOGIN).encode()).decode()

    def now() -> bytes:
        return frames[int((time.monotonic() - t0) * FPS) % len(frames)]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            server: _Server = self.server  # type: ignore[assignment]
            server.requests.append(self.path)
            if self.path == "/snapshot.jpg":
                picture = now()
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(picture)))
                self.end_headers()
                self.wfile.write(picture)
            elif self.path == "/stream.mjpg" and self.headers.get("Authorization") == login:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not server.stopping.is_set():
                        picture = now()
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\n"
                            + f"Content-Length: {len(picture)}\r\n\r\n".encode()
                            + picture
                            + b"\r\n"
                        )
                        time.sleep(1 / FPS)
                except OSError:
                    pass  # the agent went away
            elif self.path == "/stream.mjpg":
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_error(404)

    server = _Server(Handler)
    yield server
    server.close()


async def _add_discovered(hass: HomeAssistant, camera_id: str, name: str) -> ConfigEntry:
    await wait_for(
        lambda: any(
            f["context"].get("unique_id") == camera_id
            for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        ),
        f"camera {camera_id} to be discovered",
        90,
    )
    (flow,) = [
        f
        for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if f["context"].get("unique_id") == camera_id
    ]
    assert flow["step_id"] == "discovery_confirm"
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_NAME: name})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def test_stream_cameras_discovered_and_detecting_in_home_assistant(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    app: App,
    broker: Mosquitto,
    ip_camera: _Server,
) -> None:
    user, password = CAMERA_LOGIN
    mqtt_entry = await setup_real_mqtt(hass, broker, ("homeassistant", PASSWORDS["homeassistant"]))
    stream_url = f"http://{user}:{password}@127.0.0.1:{ip_camera.server_address[1]}/stream.mjpg"
    # A camera whose password is wrong: its error reaches HA, its password does not.
    wrong = "wrong-pw-40c2"
    refused_url = stream_url.replace(password, wrong)
    app.start(
        {
            "analyzer": False,
            "cameras": [
                {"id": "gate", "source": stream_url},
                {"id": "drive", "source": f"{ip_camera.url}/snapshot.jpg"},
                {"id": "door", "source": refused_url},
            ],
            "log_level": "info",
        }
    )
    try:
        entries = {cam: await _add_discovered(hass, cam, cam.title()) for cam in ("gate", "drive", "door")}
        door = entries.pop("door")
        for cam, entry in entries.items():
            # Where it is analysed, on its device page.
            await wait_for(
                lambda e=entry: camera_device(hass, e.entry_id).model == "Smart camera (Home Assistant app)",
                f"{cam}'s device to say where it is analysed",
            )
            assert entry.runtime_data.data.announce.host == "Home Assistant app"
            await add_region(hass, entry.entry_id)
        for cam in entries:
            await wait_for(is_state(hass, f"binary_sensor.{cam}_walkway", "on"), f"a person on {cam}", 120)
        assert "/stream.mjpg" in ip_camera.requests and "/snapshot.jpg" in ip_camera.requests
        # Each camera's last good config is kept in the app's /data (it survives an app update).
        for cam in entries:
            assert [p for p in (app.data / "state/cameras" / cam).rglob("*") if p.is_file()], cam
        # The live picture (the panel's and the camera entity's): a frame of the stream.
        for cam in entries:
            for _ in range(30):
                picture = (await async_get_image(hass, f"camera.{cam}")).content
                if hass.states.get(f"camera.{cam}").attributes["picture"] == "live":
                    break
            else:
                pytest.fail(f"no live picture of {cam}")
            with Image.open(io.BytesIO(picture)) as decoded:
                assert (decoded.format, decoded.size) == ("JPEG", (384, 288))

        # The streams' passwords: not in the app's log, the cameras' status or the diagnostics.
        gate = entries["gate"]
        status = gate.runtime_data.data.status
        assert status is not None and status.state == "running"
        await wait_for(lambda: door.runtime_data.error, "the refused camera's error in HA", 60)
        refused = door.runtime_data.data.status
        for secret, entry, shown in ((password, gate, status), (wrong, door, refused)):
            diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
            assert secret not in repr(shown)  # every field of the status
            assert secret not in json.dumps(diagnostics)
            assert secret not in app.output
        assert f"source http://{user}:***@127.0.0.1" in app.output
    finally:
        for entry in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.config_entries.async_unload(mqtt_entry.entry_id)
        await hass.async_block_till_done()
