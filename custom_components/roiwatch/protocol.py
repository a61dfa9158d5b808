"""RoiWatch wire protocol: topics, payloads and their validation.

This one file is the contract between the Home Assistant integration and the camera agent; both
import it (the agent through a symlink). It uses the standard library and voluptuous only, never
Home Assistant. docs/protocol.md describes the same rules in prose.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import voluptuous as vol

SCHEMA_VERSION = 1
DEFAULT_BASE_TOPIC = "roiwatch"

CAMERA_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ROI_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BASE_TOPIC_RE = re.compile(r"^[^#+\x00]{1,128}$")

MAX_ROIS = 16
MAX_CONFIG_BYTES = 64 * 1024
MAX_NAME_LEN = 64
MAX_HOST_LEN = 64  # the announce's "host"
MIN_POINTS = 3
MAX_POINTS = 32
OFF_DELAY_RANGE = (0, 3600)
SENSITIVITY_RANGE = (1, 100)
FPS_RANGE = (0.2, 30.0)
DEFAULT_FPS = 5.0
DEFAULT_SENSITIVITY = 50
DEFAULT_OFF_DELAY = 10
# Pictures: a JPEG larger than this, or declaring more pixels, is refused before decoding.
MAX_PICTURE_BYTES = 8 * 1024 * 1024
MAX_PICTURE_PIXELS = 4096 * 4096
MAX_SMALL_PAYLOAD = 4096  # armed, announce, status, ON/OFF, preview requests
# Live preview: HA asks, the detector answers with its current frame, at most this often and
# this wide; HA gives up waiting after PREVIEW_TIMEOUT seconds.
PREVIEW_MAX_WIDTH = 1280
PREVIEW_MIN_INTERVAL = 0.5
PREVIEW_TIMEOUT = 1.0
# Seconds a camera's agent may be away before HA is told (the delay of its MQTT 5 last wills):
# a restart (systemctl restart, an upgrade, a crash under Restart=, the app restarting its agents)
# is back well within it, even on a Raspberry Pi that needs ~10 s to import OpenCV and load the
# person model, so HA shows nothing; an agent gone for good is ``offline`` (unavailable in HA,
# never OFF) half a minute later, before anyone relies on a camera nobody watches.
RESTART_GRACE = 30

KIND_SMART = "smart"
KIND_DUMB = "dumb"
KINDS = (KIND_SMART, KIND_DUMB)
DETECT_PERSON = "person"
DETECT_MOTION = "motion"
DETECT_KINDS = (DETECT_PERSON, DETECT_MOTION)

ON = "ON"
OFF = "OFF"
ONLINE = "online"
OFFLINE = "offline"

STATE_STARTING = "starting"
STATE_RUNNING = "running"
STATE_STOPPED = "stopped"
STATE_ERROR = "error"
STATE_OFFLINE = "offline"
STATES = (STATE_STARTING, STATE_RUNNING, STATE_STOPPED, STATE_ERROR, STATE_OFFLINE)

# Topic leaves under <base>/<camera_id>/
LEAF_CONFIG = "config"
LEAF_ARMED = "armed"
LEAF_ANNOUNCE = "announce"
LEAF_AVAILABILITY = "availability"
LEAF_STATUS = "status"
LEAF_ROI = "roi"
LEAF_DETECTED = "detected"
LEAF_SNAPSHOT = "snapshot"
LEAF_FRAME = "frame"
LEAF_PREVIEW_REQUEST = "preview_request"
LEAF_PREVIEW = "preview"
_PLAIN_LEAVES = frozenset(
    {
        LEAF_PREVIEW_REQUEST,
        LEAF_PREVIEW,
        LEAF_CONFIG,
        LEAF_ARMED,
        LEAF_ANNOUNCE,
        LEAF_AVAILABILITY,
        LEAF_STATUS,
        LEAF_DETECTED,
        LEAF_SNAPSHOT,
        LEAF_FRAME,
    }
)


class ProtocolError(ValueError):
    """A payload or value that breaks the protocol.

    ``code`` is a stable machine-readable reason (used for translated form errors in HA);
    ``str(err)`` is a human-readable message naming the problem.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------
# Topics


class Topics:
    """Builds and parses the topics of one base topic."""

    def __init__(self, base: str = DEFAULT_BASE_TOPIC) -> None:
        base = base.strip("/")
        if not BASE_TOPIC_RE.match(base):
            raise ProtocolError("base_topic", f"invalid base topic {base!r}")
        self.base = base

    def _t(self, camera_id: str, leaf: str) -> str:
        return f"{self.base}/{validate_camera_id(camera_id)}/{leaf}"

    def config(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_CONFIG)

    def armed(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_ARMED)

    def announce(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_ANNOUNCE)

    def availability(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_AVAILABILITY)

    def status(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_STATUS)

    def roi(self, camera_id: str, roi_id: str) -> str:
        return f"{self.base}/{validate_camera_id(camera_id)}/{LEAF_ROI}/{validate_roi_id(roi_id)}"

    def detected(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_DETECTED)

    def snapshot(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_SNAPSHOT)

    def frame(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_FRAME)

    def preview_request(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_PREVIEW_REQUEST)

    def preview(self, camera_id: str) -> str:
        return self._t(camera_id, LEAF_PREVIEW)

    def all_cameras(self, leaf: str) -> str:
        """Subscription filter for one leaf of every camera, e.g. ``roiwatch/+/config``."""
        return f"{self.base}/+/{leaf}"

    def parse(self, topic: str) -> tuple[str, str, str | None] | None:
        """Split a topic into (camera_id, leaf, roi_id); None if it is not one of ours."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) == 2 and parts[1] in _PLAIN_LEAVES and CAMERA_ID_RE.match(parts[0]):
            return parts[0], parts[1], None
        if (
            len(parts) == 3
            and parts[1] == LEAF_ROI
            and CAMERA_ID_RE.match(parts[0])
            and ROI_ID_RE.match(parts[2])
        ):
            return parts[0], LEAF_ROI, parts[2]
        return None


# --------------------------------------------------------------------------------------------
# Identifiers


def validate_camera_id(value: Any) -> str:
    if not isinstance(value, str) or not CAMERA_ID_RE.match(value):
        raise ProtocolError(
            "camera_id",
            f"invalid camera id {value!r}: use 1-64 of a-z 0-9 _ -, starting with a letter or digit",
        )
    return value


def validate_roi_id(value: Any) -> str:
    if not isinstance(value, str) or not ROI_ID_RE.match(value):
        raise ProtocolError("roi_id", f"invalid ROI id {value!r}: use 1-64 of A-Z a-z 0-9 _ -")
    return value


def shard_of(camera_id: str, shards: int) -> int:
    """Deterministic shard (0..shards-1) of a camera; the same on every machine and run."""
    if shards < 1:
        raise ValueError("the number of shards must be at least 1")
    return zlib.crc32(camera_id.encode()) % shards


# --------------------------------------------------------------------------------------------
# Polygons


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Absolute area by the shoelace formula."""
    total = 0.0
    for i, (x1, y1) in enumerate(points):
        x2, y2 = points[(i + 1) % len(points)]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def _orient(a: Sequence[float], b: Sequence[float], c: Sequence[float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Sequence[float], b: Sequence[float], p: Sequence[float]) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_intersect(
    p1: Sequence[float], p2: Sequence[float], q1: Sequence[float], q2: Sequence[float]
) -> bool:
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def is_simple_polygon(points: Sequence[Sequence[float]]) -> bool:
    """True if no two non-adjacent edges touch and no vertex repeats."""
    n = len(points)
    if len({(p[0], p[1]) for p in points}) != n:
        return False
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # adjacent edges share a vertex by construction
            if _segments_intersect(*edges[i], *edges[j]):
                return False
    return True


def validate_points(value: Any) -> list[list[float]]:
    """Validate ROI points (fractions 0..1): 3..32 points, simple polygon, non-zero area."""
    if not isinstance(value, list | tuple):
        raise ProtocolError("points_format", "points must be a list of [x, y] pairs")
    points: list[list[float]] = []
    for p in value:
        if (
            not isinstance(p, list | tuple)
            or len(p) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
            or not all(math.isfinite(c) for c in p)
        ):
            raise ProtocolError("points_format", f"point {p!r} is not an [x, y] pair of numbers")
        points.append([float(p[0]), float(p[1])])
    if not MIN_POINTS <= len(points) <= MAX_POINTS:
        raise ProtocolError(
            "points_count", f"a ROI needs {MIN_POINTS} to {MAX_POINTS} points, got {len(points)}"
        )
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ProtocolError("points_range", f"point [{x}, {y}] is outside the picture (0..1)")
    if not is_simple_polygon(points):
        raise ProtocolError("points_self_intersect", "the ROI polygon crosses itself")
    if polygon_area(points) < 1e-6:
        raise ProtocolError("points_area", "the ROI polygon has no area")
    return points


def points_from_text(text: str) -> list[list[float]]:
    """Parse ``"10,40 90,40 90,100"`` (percent of the picture) into validated fractions."""
    pairs = text.replace(";", " ").split()
    points: list[list[float]] = []
    for pair in pairs:
        xy = pair.split(",")
        try:
            if len(xy) != 2:
                raise ValueError
            x, y = float(xy[0]), float(xy[1])
        except ValueError:
            raise ProtocolError(
                "points_format", f"{pair!r} is not an x,y pair (write e.g. 10,40 90,40 90,100)"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ProtocolError("points_format", f"{pair!r} is not an x,y pair of numbers")
        if not (0.0 <= x <= 100.0 and 0.0 <= y <= 100.0):
            raise ProtocolError("points_range", f"point {pair} is outside 0..100 percent")
        points.append([round(x / 100.0, 6), round(y / 100.0, 6)])
    return validate_points(points)


def points_to_text(points: Iterable[Sequence[float]]) -> str:
    """Inverse of :func:`points_from_text`."""
    return " ".join(f"{_fmt_pct(x)},{_fmt_pct(y)}" for x, y in points)


def _fmt_pct(v: float) -> str:
    return f"{v * 100:.4f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------
# Camera config


def _as_voluptuous(fn: Any) -> Any:
    def wrapped(value: Any) -> Any:
        try:
            return fn(value)
        except ProtocolError as err:
            raise vol.Invalid(str(err)) from err

    return wrapped


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("name must be a non-empty string")
    if len(value) > MAX_NAME_LEN:
        raise vol.Invalid(f"name longer than {MAX_NAME_LEN} characters")
    return value


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise vol.Invalid("expected a number")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise vol.Invalid("expected an integer")
    return value


_NUMBER = _number

ROI_SCHEMA = vol.Schema(
    {
        vol.Required("id"): _as_voluptuous(validate_roi_id),
        vol.Required("name"): _name,
        vol.Required("detect"): vol.In(DETECT_KINDS),
        vol.Required("points"): _as_voluptuous(validate_points),
        vol.Optional("sensitivity", default=DEFAULT_SENSITIVITY): vol.All(
            _integer, vol.Range(*SENSITIVITY_RANGE)
        ),
        vol.Optional("off_delay", default=DEFAULT_OFF_DELAY): vol.All(_NUMBER, vol.Range(*OFF_DELAY_RANGE)),
    },
    extra=vol.REMOVE_EXTRA,
)

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Required("schema"): SCHEMA_VERSION,
        vol.Required("camera_id"): _as_voluptuous(validate_camera_id),
        vol.Required("kind"): vol.In(KINDS),
        vol.Required("revision"): vol.All(_integer, vol.Range(min=0)),
        vol.Optional("fps", default=DEFAULT_FPS): vol.All(_NUMBER, vol.Coerce(float), vol.Range(*FPS_RANGE)),
        vol.Required("rois"): vol.All([ROI_SCHEMA], vol.Length(max=MAX_ROIS)),
    },
    extra=vol.REMOVE_EXTRA,
)


def validate_config(config: Any, expected_camera_id: str | None = None) -> dict[str, Any]:
    """Validate a decoded camera config; returns it normalised (defaults filled in)."""
    if not isinstance(config, dict):
        raise ProtocolError("config_format", "config must be a JSON object")
    schema = config.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:  # JSON true is not schema 1
        raise ProtocolError(
            "config_schema",
            f"unknown config schema {config.get('schema')!r} (this version reads {SCHEMA_VERSION})",
        )
    try:
        cfg: dict[str, Any] = CONFIG_SCHEMA(config)
    except vol.MultipleInvalid as err:
        raise ProtocolError("config_invalid", f"invalid config: {_humanize(err)}") from err
    if expected_camera_id is not None and cfg["camera_id"] != expected_camera_id:
        raise ProtocolError(
            "config_camera_id",
            f"config is for camera {cfg['camera_id']!r}, not {expected_camera_id!r}",
        )
    ids = [r["id"] for r in cfg["rois"]]
    if len(set(ids)) != len(ids):
        raise ProtocolError("config_duplicate_roi", "two ROIs share one id")
    return cfg


def _humanize(err: vol.MultipleInvalid) -> str:
    parts = []
    for e in err.errors:
        path = ".".join(str(p) for p in e.path)
        parts.append(f"{path}: {e.msg}" if path else e.msg)
    return "; ".join(parts)


def parse_config(payload: bytes | str, expected_camera_id: str | None = None) -> dict[str, Any]:
    """Decode and validate a config payload from the wire."""
    if len(payload) > MAX_CONFIG_BYTES:
        raise ProtocolError(
            "config_too_large",
            f"config payload of {len(payload)} bytes exceeds {MAX_CONFIG_BYTES} bytes",
        )
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise ProtocolError("config_json", f"config is not valid JSON: {err}") from None
    return validate_config(data, expected_camera_id)


def build_config(
    camera_id: str,
    kind: str,
    revision: int,
    rois: Iterable[dict[str, Any]],
    fps: float = DEFAULT_FPS,
) -> dict[str, Any]:
    """Build a validated config dict (use :func:`encode_config` to get the payload)."""
    config = {
        "schema": SCHEMA_VERSION,
        "camera_id": camera_id,
        "kind": kind,
        "revision": revision,
        "fps": fps,
        "rois": [dict(r) for r in rois],
    }
    return validate_config(config)


def encode_config(config: dict[str, Any]) -> bytes:
    payload = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    if len(payload) > MAX_CONFIG_BYTES:
        raise ProtocolError("config_too_large", f"config of {len(payload)} bytes exceeds {MAX_CONFIG_BYTES}")
    return payload


def config_content(config: dict[str, Any]) -> dict[str, Any]:
    """The config without its revision: compare these to see whether anything changed."""
    return {k: v for k, v in config.items() if k != "revision"}


# --------------------------------------------------------------------------------------------
# Small payloads


def _text(payload: bytes | str) -> str:
    if len(payload) > MAX_SMALL_PAYLOAD:
        raise ProtocolError("payload_too_large", f"payload of {len(payload)} bytes is too large")
    if isinstance(payload, bytes):
        try:
            return payload.decode()
        except UnicodeDecodeError:
            raise ProtocolError("payload_encoding", "payload is not UTF-8") from None
    return payload


def parse_on_off(payload: bytes | str) -> bool:
    """``ON`` -> True, ``OFF`` -> False (case-insensitive, surrounding space ignored)."""
    text = _text(payload).strip().upper()
    if text == ON:
        return True
    if text == OFF:
        return False
    raise ProtocolError("on_off", f"expected ON or OFF, got {text[:32]!r}")


def parse_armed(payload: bytes | str) -> bool:
    """The armed topic; an empty (cleared) retained message means armed, as no message does."""
    if not _text(payload).strip():
        return True
    return parse_on_off(payload)


def on_off(value: bool) -> str:
    return ON if value else OFF


def _json_object(payload: bytes | str, what: str) -> dict[str, Any]:
    text = _text(payload)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ProtocolError(f"{what}_json", f"{what} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}_format", f"{what} must be a JSON object")
    return data


def _checked(schema: vol.Schema, data: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        result: dict[str, Any] = schema(data)
    except vol.MultipleInvalid as err:
        raise ProtocolError(f"{what}_invalid", f"invalid {what}: {_humanize(err)}") from err
    return result


ANNOUNCE_SCHEMA = vol.Schema(
    {
        vol.Required("camera_id"): _as_voluptuous(validate_camera_id),
        vol.Required("kind"): vol.In(KINDS),
        vol.Optional("version", default=""): vol.All(str, vol.Length(max=64)),
        # Where the camera is analysed, for people: "Home Assistant app" for a stream camera
        # the app runs; empty (left out) for an agent on the camera itself.
        vol.Optional("host", default=""): vol.All(str, vol.Length(max=MAX_HOST_LEN)),
    },
    extra=vol.REMOVE_EXTRA,
)


def build_announce(camera_id: str, kind: str, version: str, host: str = "") -> bytes:
    data = {"camera_id": camera_id, "kind": kind, "version": version}
    if host:
        data["host"] = host
    data = _checked(ANNOUNCE_SCHEMA, data, "announce")
    if not host:
        del data["host"]  # the same payload as before the field existed
    return json.dumps(data, separators=(",", ":")).encode()


def parse_announce(payload: bytes | str, expected_camera_id: str | None = None) -> dict[str, Any]:
    data = _json_object(payload, "announce")
    try:
        result: dict[str, Any] = ANNOUNCE_SCHEMA(data)
    except vol.MultipleInvalid as err:
        raise ProtocolError("announce_invalid", f"invalid announce: {_humanize(err)}") from err
    if expected_camera_id is not None and result["camera_id"] != expected_camera_id:
        raise ProtocolError("announce_camera_id", "announce camera_id does not match its topic")
    return result


STATUS_SCHEMA = vol.Schema(
    {
        vol.Required("state"): vol.In(STATES),
        vol.Optional("revision", default=None): vol.Any(None, vol.All(_integer, vol.Range(min=0))),
        vol.Optional("fps", default=None): vol.Any(None, _NUMBER),
        vol.Optional("restarts", default=0): vol.All(_integer, vol.Range(min=0)),
        vol.Optional("error", default=None): vol.Any(None, vol.All(str, vol.Length(max=1024))),
        vol.Optional("version", default=""): vol.All(str, vol.Length(max=64)),
        # The person model and its runtime, e.g. "ssdlite/onnxruntime"; "" when none is loaded.
        vol.Optional("detector", default=""): vol.All(str, vol.Length(max=64)),
    },
    extra=vol.REMOVE_EXTRA,
)


def build_status(
    state: str,
    *,
    revision: int | None = None,
    fps: float | None = None,
    restarts: int = 0,
    error: str | None = None,
    version: str = "",
    detector: str = "",
) -> bytes:
    if error is not None:
        error = error[:1024]
    data = _checked(
        STATUS_SCHEMA,
        {
            "state": state,
            "revision": revision,
            "fps": None if fps is None else round(float(fps), 2),
            "restarts": restarts,
            "error": error,
            "version": version,
            "detector": detector,
        },
        "status",
    )
    return json.dumps(data, separators=(",", ":")).encode()


def parse_status(payload: bytes | str) -> dict[str, Any]:
    data = _json_object(payload, "status")
    try:
        result: dict[str, Any] = STATUS_SCHEMA(data)
    except vol.MultipleInvalid as err:
        raise ProtocolError("status_invalid", f"invalid status: {_humanize(err)}") from err
    return result


# --------------------------------------------------------------------------------------------
# Pictures

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from a JPEG's frame header without decoding it."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise ProtocolError("picture_format", "picture is not a JPEG (no SOI marker)")
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ProtocolError("picture_format", "picture is not a valid JPEG (bad marker)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
        if seg_len < 2:
            raise ProtocolError("picture_format", "picture is not a valid JPEG (bad segment)")
        if marker in _SOF_MARKERS:
            if i + 9 > n:
                break
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        i += 2 + seg_len
    raise ProtocolError("picture_format", "picture is not a valid JPEG (no frame header)")


def check_picture(data: bytes) -> tuple[int, int]:
    """Refuse a picture that is too large in bytes or pixels; returns (width, height)."""
    if len(data) > MAX_PICTURE_BYTES:
        raise ProtocolError(
            "picture_too_large",
            f"picture of {len(data)} bytes exceeds the {MAX_PICTURE_BYTES} byte limit",
        )
    width, height = jpeg_size(data)
    if width == 0 or height == 0:
        raise ProtocolError("picture_format", "JPEG declares a zero width or height")
    if width * height > MAX_PICTURE_PIXELS:
        raise ProtocolError(
            "picture_too_many_pixels",
            f"picture of {width}x{height} exceeds the {MAX_PICTURE_PIXELS} pixel limit",
        )
    return width, height


# --------------------------------------------------------------------------------------------
# Live preview


def check_preview_request(payload: bytes | str) -> None:
    """A preview request carries nothing the detector needs; only its size is checked."""
    if len(payload) > MAX_SMALL_PAYLOAD:
        raise ProtocolError("payload_too_large", f"preview request of {len(payload)} bytes")


def preview_size(width: int, height: int) -> tuple[int, int]:
    """The size a preview of a ``width`` x ``height`` frame is sent at (at most 1280 px wide)."""
    if width < 1 or height < 1:
        raise ValueError(f"no picture of {width}x{height}")
    if width <= PREVIEW_MAX_WIDTH:
        return width, height
    return PREVIEW_MAX_WIDTH, max(1, round(height * PREVIEW_MAX_WIDTH / width))
