"""Behaviour of the wire protocol module (custom_components/roiwatch/protocol.py).

The same file is the contract for Home Assistant and the camera agent, so these tests pin down
what either side may send and what the other side accepts (docs/protocol.md in prose).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import pytest

from roiwatch_agent import protocol as p
from roiwatch_agent.protocol import ProtocolError
from roiwatch_dev import REPO

# --------------------------------------------------------------------------------------------
# Helpers

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]


def roi(**over: Any) -> dict[str, Any]:
    base = {
        "id": "r1",
        "name": "Driveway",
        "detect": "person",
        "points": SQUARE,
        "sensitivity": 50,
        "off_delay": 10,
    }
    base.update(over)
    return base


def config(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": 1,
        "camera_id": "porch",
        "kind": "smart",
        "revision": 7,
        "fps": 5,
        "rois": [roi()],
    }
    base.update(over)
    return base


def payload(cfg: Any) -> bytes:
    return json.dumps(cfg).encode()


def built(
    camera_id: str = "porch", kind: str = "smart", revision: int = 1, rois: Any = (), **kw: Any
) -> bytes:
    """The payload HA sends for this config (regions given as wire dicts)."""
    regions = tuple(p.RoiConfig(**r) for r in rois)
    return p.build_config(p.CameraConfig(camera_id, kind, revision, regions, **kw))


def circle(n: int, r: float = 0.4) -> list[list[float]]:
    """A convex polygon of n points (simple, non-zero area)."""
    return [[0.5 + r * np.cos(2 * np.pi * i / n), 0.5 + r * np.sin(2 * np.pi * i / n)] for i in range(n)]


def refused(code: str, fn: Any, *args: Any, match: str | None = None, **kwargs: Any) -> str:
    """Assert fn(*args) raises ProtocolError with this code (and message); return the message."""
    with pytest.raises(ProtocolError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, f"code {info.value.code!r} ({info.value}), expected {code!r}"
    message = str(info.value)
    assert message, "a ProtocolError must say what is wrong"
    if match is not None:
        assert re.search(match, message, re.IGNORECASE), f"{message!r} does not match {match!r}"
    return message


def jpeg(width: int = 64, height: int = 48, **params: int) -> bytes:
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2] = (0, 128, 255)
    flags: list[int] = []
    for key, value in params.items():
        flags += [getattr(cv2, key), value]
    ok, buf = cv2.imencode(".jpg", img, flags)
    assert ok
    return buf.tobytes()


def sof_offset(data: bytes) -> int:
    """Offset of the frame header (SOFn) marker, found by walking the JPEG segments."""
    i = 2
    while i + 4 <= len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return i
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    raise AssertionError("no SOF marker")


def with_declared_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header claiming another size (the scan is unchanged)."""
    i = sof_offset(data)
    patched = bytearray(data)
    patched[i + 5 : i + 7] = height.to_bytes(2, "big")
    patched[i + 7 : i + 9] = width.to_bytes(2, "big")
    return bytes(patched)


# --------------------------------------------------------------------------------------------
# Camera config: valid


def test_config_round_trip_keeps_every_roi() -> None:
    rois = [
        roi(id="drive-way_1", name="Driveway", points=SQUARE, sensitivity=80, off_delay=2.5),
        roi(
            id="Gate",
            name="Gate (left) ✓",
            detect="motion",
            points=[[0, 0], [1, 0], [1, 1]],
            sensitivity=1,
            off_delay=0,
        ),
        roi(
            id="L",
            name="L shape",
            points=[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.1, 0.9]],
            sensitivity=100,
            off_delay=3600,
        ),
    ]
    wire = built("porch", "smart", 7, rois, fps=2.5)
    assert isinstance(wire, bytes) and len(wire) <= p.MAX_CONFIG_BYTES
    assert json.loads(wire)["schema"] == 1
    parsed = p.parse_config(wire, expected_camera_id="porch")

    assert parsed.camera_id == "porch"
    assert parsed.kind == "smart"
    assert parsed.revision == 7
    assert parsed.fps == 2.5
    assert [r.id for r in parsed.rois] == ["drive-way_1", "Gate", "L"]
    for sent, got in zip(rois, parsed.rois, strict=True):
        assert got.name == sent["name"]
        assert got.detect == sent["detect"]
        assert got.points == tuple((float(x), float(y)) for x, y in sent["points"])
        assert got.sensitivity == sent["sensitivity"]
        assert got.off_delay == sent["off_delay"]
    # the encoding is canonical: encoding what was parsed gives the same bytes
    assert p.build_config(parsed) == wire
    # a str payload (as some MQTT libraries hand it over) parses the same
    assert p.parse_config(wire.decode(), "porch") == parsed


def test_config_defaults_are_filled_and_unknown_keys_dropped() -> None:
    cfg = config(future_key=1)
    del cfg["fps"]
    cfg["rois"] = [{"id": "a", "name": "A", "detect": "motion", "points": SQUARE, "x": 1}]
    parsed = p.parse_config(payload(cfg))
    assert parsed.fps == p.FPS.default == 5.0
    assert parsed.rois[0].sensitivity == p.SENSITIVITY.default == 50
    assert parsed.rois[0].off_delay == p.OFF_DELAY.default == 10
    assert b"future_key" not in p.build_config(parsed)
    assert b'"x"' not in p.build_config(parsed)


def test_config_without_rois_is_valid() -> None:
    assert p.parse_config(payload(config(rois=[]))).rois == ()


def test_largest_legal_config_round_trips() -> None:
    rois = [
        roi(id=f"{i:02d}" + "x" * 62, name="é" * p.MAX_NAME_LEN, points=circle(p.MAX_POINTS))
        for i in range(p.MAX_ROIS)
    ]
    wire = built("c" * 64, "dumb", 2**40, rois, fps=30)
    # so HA never builds a config the agent refuses for its size (16 regions, 32 points, 64 escaped chars)
    assert len(wire) <= p.MAX_CONFIG_BYTES
    assert p.build_config(p.parse_config(wire)) == wire
    assert len(p.parse_config(wire).rois) == 16


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sensitivity", 1),
        ("sensitivity", 100),
        ("off_delay", 0),
        ("off_delay", 3600),
        ("off_delay", 0.5),
        ("name", "n" * 64),
        ("points", circle(3)),
        ("points", circle(32)),
        ("points", [[0, 0], [1, 0], [1, 1], [0, 1]]),  # the whole frame, edges included
    ],
)
def test_roi_limits_are_inclusive(key: str, value: Any) -> None:
    parsed = p.parse_config(payload(config(rois=[roi(**{key: value})])))
    assert parsed.rois[0].to_wire()[key] == value


@pytest.mark.parametrize("fps", [0.2, 30, 30.0, 1])
def test_fps_limits_are_inclusive(fps: float) -> None:
    assert p.parse_config(payload(config(fps=fps))).fps == float(fps)


def test_config_content_ignores_revision() -> None:
    a, b, c = (
        p.parse_config(built("porch", "smart", 1, [roi()])),
        p.parse_config(built("porch", "smart", 2, [roi()])),
        p.parse_config(built("porch", "smart", 2, [roi(name="Other")])),
    )
    assert a != b
    assert a.content() == b.content()
    assert b.content() != c.content()


def test_config_payload_up_to_64_kib_is_accepted() -> None:
    wire = payload(config())
    padded = wire + b" " * (p.MAX_CONFIG_BYTES - len(wire))
    assert len(padded) == 64 * 1024
    assert p.parse_config(padded).camera_id == "porch"
    refused("config_too_large", p.parse_config, padded + b" ", match="65537 bytes")


# --------------------------------------------------------------------------------------------
# Camera config: refused


def _rois_with(**over: Any) -> dict[str, Any]:
    return config(rois=[roi(**over)])


BOW_TIE = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
COLLINEAR = [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]

BAD_CONFIGS = [
    # (id, payload, code, message pattern)
    ("malformed-json", b'{"schema": 1, "camera_id": ', "config_json", "not valid JSON"),
    ("not-utf8", b'{"schema": 1, "x": "\xff\xfe"}', "config_json", "not valid JSON"),
    ("empty", b"", "config_json", "not valid JSON"),
    ("not-an-object", b"[1, 2]", "config_format", "JSON object"),
    ("schema-2", payload(config(schema=2)), "config_schema", "unknown config schema 2"),
    (
        "schema-missing",
        payload({k: v for k, v in config().items() if k != "schema"}),
        "config_schema",
        "schema",
    ),
    ("schema-string", payload(config(schema="1")), "config_schema", "schema '1'"),
    ("camera-id-bad", payload(config(camera_id="Porch!")), "config_invalid", "camera id"),
    ("kind-bad", payload(config(kind="clever")), "config_invalid", "kind"),
    ("revision-negative", payload(config(revision=-1)), "config_invalid", "revision"),
    ("revision-string", payload(config(revision="7")), "config_invalid", "revision"),
    ("revision-float", payload(config(revision=7.5)), "config_invalid", "revision"),
    (
        "rois-missing",
        payload({k: v for k, v in config().items() if k != "rois"}),
        "config_invalid",
        "rois",
    ),
    ("rois-not-list", payload(config(rois={"id": "a"})), "config_invalid", "rois"),
    (
        "17-rois",
        payload(config(rois=[roi(id=f"r{i}") for i in range(17)])),
        "config_invalid",
        r"rois.*16",
    ),
    (
        "duplicate-roi-ids",
        payload(config(rois=[roi(id="a"), roi(id="a", name="B")])),
        "config_duplicate_roi",
        "share one id",
    ),
    ("roi-id-space", payload(_rois_with(id="a b")), "config_invalid", "ROI id"),
    ("roi-id-65", payload(_rois_with(id="a" * 65)), "config_invalid", "ROI id"),
    (
        "roi-id-missing",
        payload(config(rois=[{k: v for k, v in roi().items() if k != "id"}])),
        "config_invalid",
        r"\bid\b",
    ),
    ("name-65", payload(_rois_with(name="n" * 65)), "config_invalid", "name longer than 64"),
    ("name-empty", payload(_rois_with(name="  ")), "config_invalid", "name"),
    ("name-number", payload(_rois_with(name=5)), "config_invalid", "name"),
    ("detect-bad", payload(_rois_with(detect="car")), "config_invalid", "detect"),
    (
        "points-out-of-range",
        payload(_rois_with(points=[[0, 0], [1.5, 0], [1, 1]])),
        "config_invalid",
        r"points.*outside the picture",
    ),
    (
        "points-negative",
        payload(_rois_with(points=[[0, -0.1], [1, 0], [1, 1]])),
        "config_invalid",
        "outside the picture",
    ),
    ("points-bow-tie", payload(_rois_with(points=BOW_TIE)), "config_invalid", "crosses itself"),
    ("points-zero-area", payload(_rois_with(points=COLLINEAR)), "config_invalid", "no area"),
    (
        "points-2",
        payload(_rois_with(points=[[0, 0], [1, 1]])),
        "config_invalid",
        "3 to 32 points, got 2",
    ),
    (
        "points-33",
        payload(_rois_with(points=circle(33))),
        "config_invalid",
        "3 to 32 points, got 33",
    ),
    (
        "points-not-pairs",
        payload(_rois_with(points=[[0, 0, 0], [1, 0], [1, 1]])),
        "config_invalid",
        "not an \\[x, y\\] pair",
    ),
    (
        "points-string",
        payload(_rois_with(points="10,10 90,10 90,90")),
        "config_invalid",
        "points",
    ),
    ("off-delay-3601", payload(_rois_with(off_delay=3601)), "config_invalid", r"off_delay.*3600"),
    ("off-delay-negative", payload(_rois_with(off_delay=-1)), "config_invalid", "off_delay"),
    ("sensitivity-0", payload(_rois_with(sensitivity=0)), "config_invalid", r"sensitivity.*\b1\b"),
    (
        "sensitivity-101",
        payload(_rois_with(sensitivity=101)),
        "config_invalid",
        r"sensitivity.*100",
    ),
    ("sensitivity-float", payload(_rois_with(sensitivity=50.5)), "config_invalid", "sensitivity"),
    ("fps-0.1", payload(config(fps=0.1)), "config_invalid", r"fps.*0\.2"),
    ("fps-31", payload(config(fps=31)), "config_invalid", r"fps.*30"),
    (
        "fps-nan",
        b'{"schema":1,"camera_id":"porch","kind":"smart","revision":1,"fps":NaN,"rois":[]}',
        "config_invalid",
        "fps",
    ),
    (
        "fps-infinity",
        b'{"schema":1,"camera_id":"porch","kind":"smart","revision":1,"fps":Infinity,"rois":[]}',
        "config_invalid",
        "fps",
    ),
    ("fps-string", payload(config(fps="5")), "config_invalid", "fps"),
    # booleans are ints in Python and JSON true must not sneak in as 1
    ("bool-revision", payload(config(revision=True)), "config_invalid", "revision"),
    ("bool-fps", payload(config(fps=True)), "config_invalid", "fps"),
    ("bool-sensitivity", payload(_rois_with(sensitivity=True)), "config_invalid", "sensitivity"),
    ("bool-off-delay", payload(_rois_with(off_delay=False)), "config_invalid", "off_delay"),
    (
        "bool-point",
        payload(_rois_with(points=[[True, 0], [1, 0], [1, 1]])),
        "config_invalid",
        "points",
    ),
]


@pytest.mark.parametrize(
    ("wire", "code", "match"),
    [pytest.param(w, c, m, id=i) for i, w, c, m in BAD_CONFIGS],
)
def test_bad_config_is_refused_with_reason(wire: bytes, code: str, match: str) -> None:
    refused(code, p.parse_config, wire, match=match)


def test_config_for_another_camera_is_refused() -> None:
    wire = payload(config(camera_id="garden"))
    refused("config_camera_id", p.parse_config, wire, "porch", match="'garden'.*'porch'")
    assert p.parse_config(wire, "garden").camera_id == "garden"
    assert p.parse_config(wire).camera_id == "garden"  # no expectation, no check


def test_boolean_schema_is_refused() -> None:
    refused("config_schema", p.parse_config, payload(config(schema=True)))


def test_huge_config_payload_is_refused_before_parsing() -> None:
    huge = b" " * (200 * 1024 * 1024)
    start = time.perf_counter()
    message = refused("config_too_large", p.parse_config, huge, match="exceeds 65536 bytes")
    elapsed = time.perf_counter() - start
    assert str(len(huge)) in message
    assert elapsed < 0.5, f"took {elapsed:.2f} s: the size must be checked before JSON parsing"


DEEP_CONFIG = "[" * 32000 + "]" * 32000  # 64000 bytes: within the config size limit
DEEP_SMALL = "[" * 2000 + "]" * 2000  # 4000 bytes: within the status/announce size limit


@pytest.mark.parametrize(
    ("parse", "wire"),
    [
        pytest.param(p.parse_config, DEEP_CONFIG, id="parse_config"),
        pytest.param(p.parse_status, DEEP_SMALL, id="parse_status"),
        pytest.param(
            p.parse_announce,
            DEEP_SMALL,
            id="parse_announce",
        ),
    ],
)
def test_deeply_nested_json_is_a_protocol_error(parse: Any, wire: str) -> None:
    with pytest.raises(ProtocolError):
        parse(wire)


def test_a_config_cannot_be_built_broken() -> None:
    """What HA builds is valid by construction: the rule that failed names its field."""
    assert refused("sensitivity_range", built, rois=[roi(sensitivity=0)], match="at least 1")
    refused("config_duplicate_roi", built, rois=[roi(), roi()])
    refused("fps_range", built, rois=[roi()], fps=31, match="at most 30")
    with pytest.raises(ProtocolError) as info:
        p.RoiConfig(**roi(points=BOW_TIE))
    assert (info.value.code, info.value.field) == ("points_self_intersect", "points")


def test_parse_config_refuses_non_object() -> None:
    refused("config_format", p.parse_config, payload([config()]))


# --------------------------------------------------------------------------------------------
# Points


def test_validate_points_returns_floats() -> None:
    assert p.validate_points(((0, 0), (1, 0), (1, 1))) == ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))
    assert all(isinstance(c, float) for pt in p.validate_points([[0, 0], [1, 0], [1, 1]]) for c in pt)


@pytest.mark.parametrize(
    ("points", "code", "match"),
    [
        ("0,0 1,0 1,1", "points_format", "list"),
        ([[0, 0], [1, 0], [1]], "points_format", "pair"),
        ([[0, 0], [1, 0], ["1", 1]], "points_format", "pair"),
        ([[0, 0], [1, 0], [True, 1]], "points_format", "pair"),
        ([[0, 0], [1, 0], [float("nan"), 1]], "points_format", "pair"),
        ([[0, 0], [1, 0], None], "points_format", "pair"),
        ([[0, 0], [1, 1]], "points_count", "got 2"),
        ([], "points_count", "got 0"),
        (circle(33), "points_count", "got 33"),
        ([[0, 0], [1.0001, 0], [1, 1]], "points_range", "outside"),
        ([[0, 0], [1, 0], [1, -1e-9]], "points_range", "outside"),
        (BOW_TIE, "points_self_intersect", "crosses itself"),
        (
            [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.1], [0.1, 0.9]],
            "points_self_intersect",
            "crosses itself",
        ),  # a repeated vertex
        # a spike that runs back along its own edge
        ([[0, 0], [1, 0], [1, 1], [1, 0.5]], "points_self_intersect", "crosses itself"),
        (COLLINEAR, "points_area", "no area"),
        ([[0.5, 0.5], [0.5, 0.5000001], [0.5000001, 0.5]], "points_area", "no area"),
    ],
)
def test_bad_points(points: Any, code: str, match: str) -> None:
    refused(code, p.validate_points, points, match=match)


def test_points_text_round_trip() -> None:
    text = "10,40 90,40 90,100 12.5,99.9999 0,100"
    points = p.points_from_text(text)
    assert points == ((0.1, 0.4), (0.9, 0.4), (0.9, 1.0), (0.125, 0.999999), (0.0, 1.0))
    assert p.points_to_text(points) == text
    assert p.points_from_text(p.points_to_text(points)) == points
    # semicolons and extra blanks are fine
    assert p.points_from_text(" 10,40;90,40 ;  90,100\n") == points[:3]


def test_points_to_text_of_arbitrary_points_is_close() -> None:
    rng = random.Random(1)
    for _ in range(20):
        points = circle(rng.randint(3, 32), r=rng.uniform(0.05, 0.5))
        again = p.points_from_text(p.points_to_text(points))
        assert np.allclose(again, points, atol=1e-6)


@pytest.mark.parametrize(
    ("text", "code", "match"),
    [
        ("10,40 90,40 90", "points_format", "'90' is not an x,y pair"),
        ("10,40 90,40 90,100,5", "points_format", "not an x,y pair"),
        ("a,b 90,40 90,100", "points_format", "not an x,y pair"),
        ("nan,5 90,40 90,100", "points_format", "not an x,y pair"),
        ("10,40 150,40 90,100", "points_range", "150,40 is outside 0..100"),
        ("10,-1 90,40 90,100", "points_range", "outside"),
        ("", "points_count", "got 0"),
        ("10,10 90,90", "points_count", "got 2"),
        ("10,10 90,90 90,10 10,90", "points_self_intersect", "crosses itself"),
        ("10,10 50,50 90,90", "points_area", "no area"),
    ],
)
def test_bad_points_text(text: str, code: str, match: str) -> None:
    refused(code, p.points_from_text, text, match=match)


def test_polygon_area() -> None:
    assert p.polygon_area(SQUARE) == pytest.approx(0.64)
    assert p.polygon_area(list(reversed(SQUARE))) == pytest.approx(0.64)
    assert p.is_simple_polygon(SQUARE)
    assert not p.is_simple_polygon(BOW_TIE)


# --------------------------------------------------------------------------------------------
# Identifiers, topics


@pytest.mark.parametrize("cam", ["porch", "a", "0", "cam_2-x", "c" * 64])
def test_valid_camera_ids(cam: str) -> None:
    assert p.validate_camera_id(cam) == cam


@pytest.mark.parametrize(
    "cam", ["", "Porch", "_porch", "-porch", "c" * 65, "a/b", "a+b", "a#", "a b", "é", None, 5]
)
def test_invalid_camera_ids(cam: Any) -> None:
    refused("camera_id", p.validate_camera_id, cam, match="invalid camera id")


@pytest.mark.parametrize("rid", ["a", "Zone_1-A", "0", "R" * 64, "_x", "-"])
def test_valid_roi_ids(rid: str) -> None:
    assert p.validate_roi_id(rid) == rid


@pytest.mark.parametrize("rid", ["", "a b", "R" * 65, "a/b", "a+", "#", "ä", None])
def test_invalid_roi_ids(rid: Any) -> None:
    refused("roi_id", p.validate_roi_id, rid, match="invalid ROI id")


def test_topics_of_default_base() -> None:
    t = p.Topics()
    assert t.base == "roiwatch"
    assert t.config("porch") == "roiwatch/porch/config"
    assert t.armed("porch") == "roiwatch/porch/armed"
    assert t.announce("porch") == "roiwatch/porch/announce"
    assert t.availability("porch") == "roiwatch/porch/availability"
    assert t.status("porch") == "roiwatch/porch/status"
    assert t.roi("porch", "Zone_1") == "roiwatch/porch/roi/Zone_1"
    assert t.detected("porch") == "roiwatch/porch/detected"
    assert t.snapshot("porch") == "roiwatch/porch/snapshot"
    assert t.frame("porch") == "roiwatch/porch/frame"
    assert t.all_cameras("config") == "roiwatch/+/config"
    assert t.all_cameras("frame") == "roiwatch/+/frame"


def test_topics_parse_what_they_build() -> None:
    for base in ("roiwatch", "home/cams"):
        t = p.Topics(base)
        for leaf in (
            "config",
            "armed",
            "announce",
            "availability",
            "status",
            "detected",
            "snapshot",
            "frame",
        ):
            topic = getattr(t, leaf)("cam-1")
            assert topic == f"{base}/cam-1/{leaf}"
            assert t.parse(topic) == ("cam-1", leaf, None)
        assert t.parse(t.roi("cam-1", "Zone_1")) == ("cam-1", "roi", "Zone_1")


def test_topics_base_is_configurable() -> None:
    assert p.Topics("/home/cams/").base == "home/cams"
    assert p.Topics("home/cams").status("porch") == "home/cams/porch/status"


@pytest.mark.parametrize("base", ["", "/", "a/#", "a/+/b", "#", "x" * 129, "a\x00b"])
def test_invalid_base_topic(base: str) -> None:
    refused("base_topic", p.Topics, base, match="invalid base topic")


@pytest.mark.parametrize(
    "topic",
    [
        "other/porch/config",
        "roiwatchx/porch/config",
        "roiwatch",
        "roiwatch/",
        "roiwatch/porch",
        "roiwatch/Porch/config",  # not a camera id
        "roiwatch/_porch/config",
        "roiwatch/porch/roi/bad id",
        "roiwatch/porch/roi/a/b",
        "roiwatch/porch/roi/",
        "roiwatch/porch/config/extra",
        "roiwatch/porch/status/x/y",
        "/roiwatch/porch/config",
        "home/roiwatch/porch/config",
    ],
)
def test_topics_that_are_not_ours(topic: str) -> None:
    assert p.Topics().parse(topic) is None


def test_topics_with_another_base_are_not_ours() -> None:
    assert p.Topics("home/cams").parse("roiwatch/porch/config") is None
    assert p.Topics("home/cams").parse("home/cams/porch/config") == ("porch", "config", None)


@pytest.mark.parametrize("topic", ["roiwatch/porch/bogus", "roiwatch/porch/roi"])
def test_unknown_leaf_is_not_ours(topic: str) -> None:
    assert p.Topics().parse(topic) is None


# --------------------------------------------------------------------------------------------
# Small payloads


@pytest.mark.parametrize(
    ("wire", "armed"),
    [
        (b"ON", True),
        ("ON", True),
        (b"OFF", False),
        ("OFF", False),
        (b"on", True),
        (b" off\n", False),
        (b"", True),  # a cleared retained message means armed, as no message does
        ("", True),
        (b"  \n", True),
    ],
)
def test_parse_armed(wire: bytes | str, armed: bool) -> None:
    assert p.parse_armed(wire) is armed


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"garbage", "on_off"),
        (b"1", "on_off"),
        (b"true", "on_off"),
        (b"ONN", "on_off"),
        (b"\xff\xfe", "payload_encoding"),
        (b"ON" + b" " * 5000, "payload_too_large"),
    ],
)
def test_parse_armed_refuses(wire: bytes, code: str) -> None:
    refused(code, p.parse_armed, wire)


def test_parse_armed_names_what_it_got() -> None:
    refused("on_off", p.parse_armed, b"maybe", match="expected ON or OFF.*MAYBE")


def test_on_off() -> None:
    assert p.on_off(True) == "ON"
    assert p.on_off(False) == "OFF"
    assert p.parse_on_off(p.on_off(True)) is True
    assert p.parse_on_off(p.on_off(False)) is False
    refused("on_off", p.parse_on_off, b"")  # only armed gives an empty message a meaning


def test_status_round_trip() -> None:
    wire = p.build_status(
        p.Status(
            "running",
            revision=7,
            fps=4.996,
            restarts=2,
            error="config 8 refused",
            version="1.2.3",
            detector="ssdlite/onnxruntime",
        )
    )
    assert isinstance(wire, bytes)
    assert json.loads(wire) == {
        "state": "running",
        "revision": 7,
        "fps": 5.0,
        "restarts": 2,
        "error": "config 8 refused",
        "version": "1.2.3",
        "detector": "ssdlite/onnxruntime",
    }
    assert p.parse_status(wire) == p.Status(
        "running", 7, 5.0, 2, "config 8 refused", "1.2.3", "ssdlite/onnxruntime"
    )


@pytest.mark.parametrize("state", ["starting", "running", "stopped", "error", "offline"])
def test_status_states(state: str) -> None:
    assert p.parse_status(p.build_status(p.Status(state))).state == state


def test_status_defaults() -> None:
    status = p.parse_status(b'{"state": "offline", "extra": 1}')
    assert status == p.Status("offline")
    assert (status.revision, status.fps, status.restarts, status.error, status.version, status.detector) == (
        None,
        None,
        0,
        None,
        "",
        "",
    )


def test_status_error_is_truncated() -> None:
    status = p.parse_status(p.build_status(p.Status("error", error="x" * 5000)))
    assert status.error == "x" * 1024


@pytest.mark.parametrize(
    ("wire", "code", "match"),
    [
        (b"not json", "status_json", "not valid JSON"),
        (b'["running"]', "status_format", "JSON object"),
        (b"{}", "status_invalid", "state"),
        (b'{"state": "sleeping"}', "status_invalid", "state"),
        (b'{"state": "running", "revision": -1}', "status_invalid", "revision"),
        (b'{"state": "running", "revision": true}', "status_invalid", "revision"),
        (b'{"state": "running", "restarts": -1}', "status_invalid", "restarts"),
        (b'{"state": "running", "restarts": 1.5}', "status_invalid", "restarts"),
        (b'{"state": "running", "fps": "fast"}', "status_invalid", "fps"),
        (b'{"state": "running", "error": 5}', "status_invalid", "error"),
        (b'{"state": "running", "error": "' + b"x" * 1025 + b'"}', "status_invalid", "error"),
        (b'{"state": "running", "version": "' + b"v" * 65 + b'"}', "status_invalid", "version"),
        (b'{"state": "running", "detector": 1}', "status_invalid", "detector"),
        (b'{"state": "running", "detector": "' + b"d" * 65 + b'"}', "status_invalid", "detector"),
    ],
)
def test_bad_status(wire: bytes, code: str, match: str) -> None:
    refused(code, p.parse_status, wire, match=match)


OVERSIZE_JSON = b'{"state": "running", "camera_id": "porch", "pad": "' + b" " * 5000 + b'"}'
NOT_UTF8_JSON = b'{"state": "running", "camera_id": "porch", "kind": "\xff"}'


@pytest.mark.parametrize("parse", [p.parse_status, p.parse_announce])
@pytest.mark.parametrize("wire", [OVERSIZE_JSON, NOT_UTF8_JSON], ids=["oversize", "not-utf8"])
def test_small_json_payloads_refuse_oversize_and_bad_encoding(parse: Any, wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse(wire)


@pytest.mark.parametrize("parse", [p.parse_status, p.parse_announce])
@pytest.mark.parametrize(
    ("wire", "code"),
    [(OVERSIZE_JSON, "payload_too_large"), (NOT_UTF8_JSON, "payload_encoding")],
    ids=["oversize", "not-utf8"],
)
def test_small_json_payload_errors_keep_their_code(parse: Any, wire: bytes, code: str) -> None:
    refused(code, parse, wire)


def test_announce_round_trip() -> None:
    wire = p.build_announce(p.Announce("porch", "dumb", "esp32cam-0.3"))
    assert json.loads(wire) == {"camera_id": "porch", "kind": "dumb", "version": "esp32cam-0.3"}
    assert p.parse_announce(wire, "porch") == p.Announce("porch", "dumb", "esp32cam-0.3", host="")
    # a minimal firmware may leave out the version
    assert p.parse_announce(b'{"camera_id": "porch", "kind": "smart"}').version == ""


def test_announce_host_says_where_the_camera_is_analysed() -> None:
    wire = p.build_announce(p.Announce("gate", "smart", "0.1.0", host="Home Assistant app"))
    assert json.loads(wire) == {
        "camera_id": "gate",
        "kind": "smart",
        "version": "0.1.0",
        "host": "Home Assistant app",
    }
    assert p.parse_announce(wire, "gate").host == "Home Assistant app"
    # an agent on the camera itself leaves it out: its announce is what it was before the field
    assert "host" not in json.loads(p.build_announce(p.Announce("gate", "smart", "0.1.0")))
    refused(
        "announce_invalid", p.parse_announce, json.dumps({"camera_id": "gate", "kind": "smart", "host": 7})
    )
    refused(
        "announce_invalid",
        p.parse_announce,
        json.dumps({"camera_id": "gate", "kind": "smart", "host": "x" * (p.MAX_HOST_LEN + 1)}),
    )
    with pytest.raises(p.ProtocolError):
        p.Announce("gate", "smart", "0.1.0", host="x" * (p.MAX_HOST_LEN + 1))


@pytest.mark.parametrize(
    ("wire", "expected", "code", "match"),
    [
        (b'{"camera_id": "porch", "kind": "smart"}', "garden", "announce_camera_id", "topic"),
        (b'{"camera_id": "porch", "kind": "clever"}', None, "announce_invalid", "kind"),
        (b'{"camera_id": "Porch", "kind": "smart"}', None, "announce_invalid", "camera id"),
        (b'{"kind": "smart"}', None, "announce_invalid", "camera_id"),
        (
            b'{"camera_id": "porch", "kind": "smart", "version": 3}',
            None,
            "announce_invalid",
            "version",
        ),
        (b"{", None, "announce_json", "not valid JSON"),
        (b'"porch"', None, "announce_format", "JSON object"),
    ],
)
def test_bad_announce(wire: bytes, expected: str | None, code: str, match: str) -> None:
    refused(code, p.parse_announce, wire, expected, match=match)


def _closed_segments_meet(p1, p2, q1, q2) -> bool:
    """Do two closed segments share a point? Exact, by solving p1 + t*r = q1 + u*s."""
    p1, p2, q1, q2 = ([Fraction(c) for c in pt] for pt in (p1, p2, q1, q2))
    r = (p2[0] - p1[0], p2[1] - p1[1])
    s = (q2[0] - q1[0], q2[1] - q1[1])
    qp = (q1[0] - p1[0], q1[1] - p1[1])

    def cross(a, b):
        return a[0] * b[1] - a[1] * b[0]

    denom = cross(r, s)
    if denom != 0:
        t, u = cross(qp, s) / denom, cross(qp, r) / denom
        return 0 <= t <= 1 and 0 <= u <= 1
    if cross(qp, r) != 0:
        return False  # parallel, on different lines
    rr = r[0] * r[0] + r[1] * r[1]  # collinear: do their spans along r overlap?
    if rr == 0:  # p is a single point: on q when on its line and within its bounding box
        on_line = cross(s, (p1[0] - q1[0], p1[1] - q1[1])) == 0
        return on_line and all(min(q1[k], q2[k]) <= p1[k] <= max(q1[k], q2[k]) for k in (0, 1))
    t0 = (qp[0] * r[0] + qp[1] * r[1]) / rr
    t1 = t0 + (s[0] * r[0] + s[1] * r[1]) / rr
    return max(min(t0, t1), 0) <= min(max(t0, t1), 1)


def _drawable(points) -> bool:
    """What a user can draw: distinct corners, edges meeting only at their shared corners, an area."""
    n = len(points)
    if len({tuple(pt) for pt in points}) != n:
        return False
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            adjacent = j == i + 1 or (i == 0 and j == n - 1)
            if not adjacent and _closed_segments_meet(*edges[i], *edges[j]):
                return False
            if adjacent and n > 3:
                # Consecutive edges a-b, b-c folding back over each other share more than b.
                a, b = edges[i] if j == i + 1 else edges[j]
                c = edges[j][1] if j == i + 1 else edges[i][1]
                if _closed_segments_meet(a, a, b, c) or _closed_segments_meet(c, c, a, b):
                    return False
    area = sum(Fraction(x1) * Fraction(y2) - Fraction(x2) * Fraction(y1) for (x1, y1), (x2, y2) in edges)
    return area != 0


def test_polygons_on_a_grid_are_accepted_exactly_when_they_can_be_drawn() -> None:
    """3000 random polygons with corners on a 5x5 grid: crossings, touching corners, corners on
    edges, overlapping collinear edges and zero areas are all common there. Each must be
    accepted exactly when an exact, independent check says it is a simple polygon."""
    rng = random.Random(11)
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]  # exact in binary: no rounding on either side
    outcomes = {True: 0, False: 0}
    for _ in range(3000):
        points = [[rng.choice(grid), rng.choice(grid)] for _ in range(rng.randint(3, 6))]
        want = _drawable(points)
        try:
            p.validate_points(points)
            got = True
        except ProtocolError as err:
            assert err.code in ("points_self_intersect", "points_area"), err
            got = False
        assert got == want, points
        outcomes[got] += 1
    assert min(outcomes.values()) > 300, outcomes  # both answers well exercised


# --------------------------------------------------------------------------------------------
# Pictures


def test_real_jpeg_passes_with_its_size() -> None:
    data = jpeg(64, 48)
    assert p.check_picture(data) == (64, 48)
    assert p.jpeg_size(data) == (64, 48)


def test_progressive_jpeg_passes() -> None:
    data = jpeg(40, 30, IMWRITE_JPEG_PROGRESSIVE=1)
    assert p.check_picture(data) == (40, 30)


def test_largest_declared_size_passes() -> None:
    assert p.check_picture(with_declared_size(jpeg(), 4096, 4096)) == (4096, 4096)


@pytest.mark.parametrize(
    ("what", "segment"),
    [
        ("fill bytes before a marker", b"\xff\xff\xff"),
        ("an empty comment", b"\xff\xfe\x00\x02"),
        ("a 300-byte EXIF block, as cameras write", b"\xff\xe1" + (302).to_bytes(2, "big") + b"E" * 300),
        ("standalone markers (TEM, RST0, RST7, a second start)", b"\xff\x01\xff\xd0\xff\xd7\xff\xd8"),
    ],
)
def test_legal_jpeg_segments_before_the_frame_header_are_skipped(what: str, segment: bytes) -> None:
    """A camera's JPEG may carry these before its size: it is measured, not refused."""
    data = jpeg(64, 48)
    assert p.check_picture(data[:2] + segment + data[2:]) == (64, 48), what


def test_a_picture_without_the_jpeg_start_marker_is_refused() -> None:
    data = jpeg()
    refused("picture_format", p.check_picture, b"\xff\xd9" + data[2:], match="not a JPEG")


@pytest.mark.parametrize(
    ("what", "segment"),
    [
        ("picture data before any frame header", b"\xff\xda\x00\x02"),
        ("a segment shorter than its own length field", b"\xff\xe0\x00\x01"),
    ],
)
def test_malformed_jpeg_segments_are_refused_not_crashed_on(what: str, segment: bytes) -> None:
    data = jpeg()
    refused("picture_format", p.check_picture, data[:2] + segment + data[2:], match="not a valid JPEG")


def test_one_pixel_high_picture_passes() -> None:
    assert p.check_picture(with_declared_size(jpeg(), 64, 1)) == (64, 1)


def test_random_bytes_are_refused() -> None:
    data = bytes(random.Random(7).getrandbits(8) for _ in range(4096))
    assert not data.startswith(b"\xff\xd8")
    refused("picture_format", p.check_picture, data, match="not a JPEG")


@pytest.mark.parametrize("data", [b"", b"\xff", b"\xff\xd8", b"\xff\xd8\xff"])
def test_tiny_payloads_are_refused(data: bytes) -> None:
    refused("picture_format", p.check_picture, data)


def test_random_bytes_after_soi_are_refused() -> None:
    rng = random.Random(8)
    for _ in range(50):
        data = b"\xff\xd8" + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        with pytest.raises(ProtocolError) as info:
            p.check_picture(data)
        assert info.value.code in ("picture_format", "picture_too_many_pixels")


def test_truncated_jpeg_header_is_refused() -> None:
    data = jpeg()
    sof = sof_offset(data)
    for cut in (20, sof, sof + 6):  # in the APP segments, just before / inside the frame header
        refused("picture_format", p.check_picture, data[:cut], match="not a valid JPEG")


def test_declared_20000x20000_is_refused_before_decoding() -> None:
    data = with_declared_size(jpeg(), 20000, 20000)
    assert len(data) < 2000
    refused("picture_too_many_pixels", p.check_picture, data, match="20000x20000")


def test_zero_declared_size_is_refused() -> None:
    refused("picture_format", p.check_picture, with_declared_size(jpeg(), 0, 48), match="zero")


def test_9_mib_picture_is_refused() -> None:
    small = jpeg()
    data = small + b"\x00" * (9 * 1024 * 1024 - len(small))
    refused("picture_too_large", p.check_picture, data, match=str(9 * 1024 * 1024))
    # exactly 8 MiB is still fine
    assert p.check_picture(data[: 8 * 1024 * 1024]) == (64, 48)


# --------------------------------------------------------------------------------------------
# Sharding


# 200 camera ids as people name them: numbered, and words with a number.
CAMERA_IDS = [f"cam{i}" for i in range(100)] + [f"{w}-{i}" for w in ("porch", "gate") for i in range(50)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_every_camera_is_taken_by_exactly_one_of_n_analyzers_and_evenly(n: int) -> None:
    """Analyzers 0/N .. N-1/N each take the cameras whose shard is theirs (AnalyzerLoop.mine)."""
    takers = {cam: [k for k in range(n) if p.shard_of(cam, n) == k] for cam in CAMERA_IDS}
    orphans_or_doubles = {cam: ks for cam, ks in takers.items() if len(ks) != 1}
    assert orphans_or_doubles == {}
    load = [sum(ks == [k] for ks in takers.values()) for k in range(n)]
    fair = len(CAMERA_IDS) / n
    # crc32 is not a perfect hash: allow any split up to twice the fair share, never an idle analyzer.
    assert max(load) <= 2 * fair and min(load) >= fair / 2, load


def test_shard_of_is_the_same_in_every_process() -> None:
    """Two analyzers on different machines must agree: no per-process hash seed may leak in."""
    code = "import sys; from roiwatch_agent import protocol as p\n"
    code += "print([p.shard_of(c, 3) for c in sys.argv[1:]])"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code, *CAMERA_IDS[:40]],
            env={"PYTHONHASHSEED": seed},
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {str([p.shard_of(c, 3) for c in CAMERA_IDS[:40]]) + "\n"}


def test_shard_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        p.shard_of("porch", 0)


# --------------------------------------------------------------------------------------------
# Edges that decide what a user sees (found by scripts/mutate)


def test_a_new_detector_reports_no_restarts_and_fps_to_two_decimals() -> None:
    status = p.parse_status(p.build_status(p.Status("running", revision=3, fps=4.816)))
    assert (status.restarts, status.fps) == (0, 4.82)


@pytest.mark.parametrize(
    ("build", "code", "field"),
    [
        (lambda: p.Status("dozing"), "status_invalid", "state"),
        (lambda: p.Announce("porch", "clever", "1.0"), "announce_invalid", "kind"),
    ],
)
def test_a_sender_refuses_to_publish_what_the_other_side_would_refuse(build, code, field) -> None:
    refused(code, build, match=field)


def test_payloads_at_their_size_limit_still_pass() -> None:
    assert p.parse_on_off("ON" + " " * (p.MAX_SMALL_PAYLOAD - 2)) is True
    refused("payload_too_large", p.parse_on_off, "ON" + " " * (p.MAX_SMALL_PAYLOAD - 1))
    payload = built(rois=[roi()])
    padded = payload[:-1] + b" " * (p.MAX_CONFIG_BYTES - len(payload)) + b"}"
    assert len(padded) == p.MAX_CONFIG_BYTES
    assert p.parse_config(padded, "porch") == p.parse_config(payload)


def test_the_same_config_always_encodes_to_the_same_compact_bytes() -> None:
    """HA republishes a config only when its bytes change: key order must not matter."""
    wire = built(rois=[roi()])
    shuffled = dict(reversed(list(json.loads(wire).items())))
    assert p.build_config(p.parse_config(json.dumps(shuffled))) == wire
    assert b" " not in wire  # compact: small messages for small brokers


def test_percent_points_accept_the_whole_picture_and_nothing_outside() -> None:
    assert p.points_from_text("0,0 100,0 100,100 0,100") == ((0, 0), (1, 0), (1, 1), (0, 1))
    for outside in ("0,0 101,0 100,100", "0,0 100,0 100,101", "0,-1 100,0 100,100"):
        refused("points_range", p.points_from_text, outside)
    refused("points_range", p.validate_points, [[0, 0], [1, 0], [1, 1.5]])


def test_an_id_with_a_trailing_newline_is_refused() -> None:
    """Found by the property test: a regex ending in $ let "porch\n" through."""
    refused("camera_id", p.validate_camera_id, "porch\n")
    refused("roi_id", p.validate_roi_id, "walk\n")
    assert p.Topics().parse("roiwatch/porch\n/status") is None


def test_a_topic_naming_an_invalid_camera_is_not_ours() -> None:
    assert p.Topics().parse("roiwatch/Not A Camera/status") is None
    assert p.Topics().parse("roiwatch/Not A Camera/roi/walk") is None
    assert p.Topics().parse("roiwatch/porch/status") == ("porch", "status", None)
