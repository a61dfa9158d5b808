"""The test IP camera (roiwatch_dev/picture_server.py) behaves as the Home Assistant tests rely on."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from roiwatch_dev.picture_server import BOUNDARY, PictureServer


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def width_of(jpeg: bytes) -> int:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[1]


@pytest.fixture
def server(vtest):
    with PictureServer(vtest, fps=10, width=320, frames=40) as camera:
        yield camera


def test_snapshots_change_at_the_fps_and_a_still_picture_is_byte_identical(server):
    first = get(server.snapshot_url)
    assert first[:2] == b"\xff\xd8" and width_of(first) == 320
    time.sleep(0.11)
    assert get(server.snapshot_url) != first  # a new picture every 1/fps (the video's own rate here)
    server.still = True
    held = get(server.snapshot_url)
    time.sleep(0.11)
    assert get(server.snapshot_url) == held
    server.still = False
    time.sleep(0.11)
    assert get(server.snapshot_url) != held
    assert server.requests == 5


def test_the_empty_street_differs_in_bytes_every_picture_but_has_nobody(server):
    server.people = False
    seen = set()
    for _ in range(3):
        seen.add(get(server.snapshot_url))
        time.sleep(0.11)
    assert len(seen) == 3
    empty = cv2.imdecode(np.frombuffer(seen.pop(), np.uint8), cv2.IMREAD_GRAYSCALE).astype(int)
    server.people = True
    walkers = cv2.imdecode(np.frombuffer(get(server.snapshot_url), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert (abs(walkers.astype(int) - empty) > 60).sum() > 200  # people stand out of the street


def test_mjpeg_stream_carries_jpegs_and_ends_when_the_server_stops(server):
    response = urllib.request.urlopen(server.mjpeg_url, timeout=5)
    assert response.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    data = b""
    while data.count(b"\xff\xd9\r\n") < 3:
        data += response.read1(65536)
    parts = data.split(f"--{BOUNDARY}\r\n".encode())[1:4]
    for part in parts:
        head, jpeg = part.split(b"\r\n\r\n", 1)
        assert b"Content-Type: image/jpeg" in head
        assert width_of(jpeg.removesuffix(b"\r\n")) == 320
    server.stop()
    with pytest.raises(urllib.error.URLError):
        get(server.snapshot_url)
    deadline = time.monotonic() + 2
    while response.read1(65536) and time.monotonic() < deadline:
        pass  # the open stream ends: its viewer sees the camera go
    assert time.monotonic() < deadline
    response.close()


def test_restart_serves_on_the_same_port_and_broken_answers_503(server):
    url = server.snapshot_url
    server.stop()
    server.start()
    assert server.snapshot_url == url
    assert get(url)[:2] == b"\xff\xd8"
    server.broken = True
    with pytest.raises(urllib.error.HTTPError) as err:
        get(url)
    assert err.value.code == 503
