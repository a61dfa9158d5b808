"""The preview picture itself (roiwatch_agent.detection.preview.encode_preview), on real video frames.

The end-to-end behaviour (MQTT, rate limit, analyzer) is in test_preview.py; this covers every
scaling path quickly, including camera widths the end-to-end tests do not send.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roiwatch_agent import protocol
from roiwatch_agent.detection.preview import encode_preview


@pytest.fixture(scope="module")
def frame(vtest) -> np.ndarray:
    cap = cv2.VideoCapture(str(vtest))
    for _ in range(100):  # people on the pavement: detail worth scaling well
        ok, picture = cap.read()
        assert ok
    cap.release()
    return picture


def _decode(jpeg: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return picture


@pytest.mark.parametrize("width", [1281, 1920, 2560, 3000, 3840, 4096])
def test_wide_frames_are_scaled_to_1280_keeping_aspect_and_detail(frame, width):
    height = width * 9 // 16
    wide = cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC)
    jpeg = encode_preview(wide)
    assert jpeg is not None
    size = protocol.check_picture(jpeg)
    assert size == protocol.preview_size(width, height)
    assert size[0] == protocol.PREVIEW_MAX_WIDTH
    # The same picture, up to JPEG noise.
    reference = cv2.resize(wide, size, interpolation=cv2.INTER_AREA)
    assert cv2.norm(_decode(jpeg), reference, cv2.NORM_L1) / reference.size < 4


@pytest.mark.parametrize("width", [3000, 3840, 4096])
def test_scaling_by_2x_and_more_averages_pixels_instead_of_skipping_them(width):
    """Fine detail (a fence, a tiled roof: here 1 px stripes) must not turn into coarse false
    stripes: those average to grey, or to a faint beat at odd factors (std 43 at 3x), while
    plain bilinear scaling picks single pixels and shows stripes of full contrast (std 73+)."""
    height = width * 9 // 16
    stripes = np.zeros((height, width, 3), np.uint8)
    stripes[:, ::2] = 255
    jpeg = encode_preview(stripes)
    assert jpeg is not None
    assert _decode(jpeg).std() < 60


def test_narrow_frames_keep_their_size_and_a_jpeg_is_passed_on_as_it_came(frame):
    jpeg = encode_preview(frame)
    assert jpeg is not None and protocol.check_picture(jpeg) == (768, 576)
    original = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert encode_preview(frame, original) is original
    # Too wide, the camera's JPEG is not passed on but scaled.
    wide = cv2.resize(frame, (1600, 1200))
    wide_jpeg = cv2.imencode(".jpg", wide)[1].tobytes()
    scaled = encode_preview(wide, wide_jpeg)
    assert scaled is not None and protocol.check_picture(scaled) == (1280, 960)
