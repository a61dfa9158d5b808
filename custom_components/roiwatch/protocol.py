"""RoiWatch wire protocol: topics, payloads and their validation.

This one file is the contract between the Home Assistant integration and the camera agent; both
import it (the agent through a symlink). It uses the standard library only, never Home Assistant.
docs/protocol.md describes the same rules in prose.

Every payload is parsed once, where it arrives, into a frozen dataclass that is valid by
construction (:class:`CameraConfig`, :class:`RoiConfig`, :class:`Announce`, :class:`Status`);
everything past that point reads typed attributes. Each field's rule lives here once.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, TypeVar

_T = TypeVar("_T")

SCHEMA_VERSION = 1
DEFAULT_BASE_TOPIC = "roiwatch"

# \Z, not $: "$" also matches before a trailing newline, which would let "porch\n" through.
CAMERA_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
ROI_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
BASE_TOPIC_RE = re.compile(r"^[^#+\x00]{1,128}\Z")

MAX_ROIS = 16
MAX_CONFIG_BYTES = 64 * 1024
MAX_NAME_LEN = 64
MAX_HOST_LEN = 64  # the announce's "host"
MIN_POINTS = 3
MAX_POINTS = 32
MAX_VERSION_LEN = 64  # the announce's and status' "version" and "detector"
MAX_ERROR_LEN = 1024  # the status' "error"
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
    ``str(err)`` is a human-readable message naming the problem and ``field`` the field.
    """

    def __init__(self, code: str, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        """The field it is about, as a path into the payload (``rois.0.off_delay``); "" if none."""


# --------------------------------------------------------------------------------------------
# Topics


class Topics:
    """Builds and parses the topics of one base topic."""

    def __init__(self, base: str = DEFAULT_BASE_TOPIC) -> None:
        base = base.strip("/")
        if not BASE_TOPIC_RE.fullmatch(base):
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
        if len(parts) == 2 and parts[1] in _PLAIN_LEAVES and CAMERA_ID_RE.fullmatch(parts[0]):
            return parts[0], parts[1], None
        if (
            len(parts) == 3
            and parts[1] == LEAF_ROI
            and CAMERA_ID_RE.fullmatch(parts[0])
            and ROI_ID_RE.fullmatch(parts[2])
        ):
            return parts[0], LEAF_ROI, parts[2]
        return None


# --------------------------------------------------------------------------------------------
# Identifiers


def validate_camera_id(value: Any) -> str:
    if not isinstance(value, str) or not CAMERA_ID_RE.fullmatch(value):
        raise ProtocolError(
            "camera_id",
            f"invalid camera id {value!r}: use 1-64 of a-z 0-9 _ -, starting with a letter or digit",
            field="camera_id",
        )
    return value


def validate_roi_id(value: Any) -> str:
    if not isinstance(value, str) or not ROI_ID_RE.fullmatch(value):
        raise ProtocolError("roi_id", f"invalid ROI id {value!r}: use 1-64 of A-Z a-z 0-9 _ -", field="id")
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


Point = tuple[float, float]
Points = tuple[Point, ...]


def _points_error(code: str, message: str) -> ProtocolError:
    return ProtocolError(code, message, field="points")


def validate_points(value: Any) -> Points:
    """Validate ROI points (fractions 0..1): 3..32 points, simple polygon, non-zero area."""
    if not isinstance(value, list | tuple):
        raise _points_error("points_format", "points must be a list of [x, y] pairs")
    points: list[Point] = []
    for p in value:
        if (
            not isinstance(p, list | tuple)
            or len(p) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
            or not all(math.isfinite(c) for c in p)
        ):
            raise _points_error("points_format", f"point {p!r} is not an [x, y] pair of numbers")
        points.append((float(p[0]), float(p[1])))
    if not MIN_POINTS <= len(points) <= MAX_POINTS:
        raise _points_error(
            "points_count", f"a ROI needs {MIN_POINTS} to {MAX_POINTS} points, got {len(points)}"
        )
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise _points_error("points_range", f"point [{x}, {y}] is outside the picture (0..1)")
    if not is_simple_polygon(points):
        raise _points_error("points_self_intersect", "the ROI polygon crosses itself")
    if polygon_area(points) < 1e-6:
        raise _points_error("points_area", "the ROI polygon has no area")
    return tuple(points)


def points_from_text(text: str) -> Points:
    """Parse ``"10,40 90,40 90,100"`` (percent of the picture) into validated fractions."""
    pairs = text.replace(";", " ").split()
    points: list[Point] = []
    for pair in pairs:
        xy = pair.split(",")
        try:
            if len(xy) != 2:
                raise ValueError
            x, y = float(xy[0]), float(xy[1])
        except ValueError:
            raise _points_error(
                "points_format", f"{pair!r} is not an x,y pair (write e.g. 10,40 90,40 90,100)"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise _points_error("points_format", f"{pair!r} is not an x,y pair of numbers")
        if not (0.0 <= x <= 100.0 and 0.0 <= y <= 100.0):
            raise _points_error("points_range", f"point {pair} is outside 0..100 percent")
        points.append((round(x / 100.0, 6), round(y / 100.0, 6)))
    return validate_points(points)


def points_to_text(points: Iterable[Sequence[float]]) -> str:
    """Inverse of :func:`points_from_text`."""
    return " ".join(f"{_fmt_pct(x)},{_fmt_pct(y)}" for x, y in points)


def _fmt_pct(v: float) -> str:
    return f"{v * 100:.4f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------
# Field rules: every number a user sets, its type, range and step, in this one place. The
# integration's forms, the region editor (through its websocket API) and both sides' parsing
# take them from here.


@dataclass(frozen=True, slots=True)
class FieldRule:
    """A number field's rule: ``step`` 1 means whole numbers, None any number in range."""

    field: str
    min: int | float
    max: int | float
    step: int | None
    default: int | float

    def check(self, value: Any) -> int | float:
        """The value as its field holds it (int for whole-number fields, else float); or refused."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise self._refused("expected a number")
        if self.step is not None and value % self.step:
            raise self._refused(
                "expected a whole number" if self.step == 1 else f"expected a multiple of {self.step}"
            )
        if value < self.min:
            raise self._refused(f"value must be at least {self.min}")
        if value > self.max:
            raise self._refused(f"value must be at most {self.max}")
        return int(value) if self.step == 1 else float(value)

    def _refused(self, message: str) -> ProtocolError:
        return ProtocolError(f"{self.field}_range", message, field=self.field)

    def limits(self) -> dict[str, int | float | None]:
        """What a form needs to accept exactly what :meth:`check` accepts."""
        return {"min": self.min, "max": self.max, "step": self.step}


SENSITIVITY = FieldRule("sensitivity", 1, 100, 1, 50)
OFF_DELAY = FieldRule("off_delay", 0, 3600, None, 10)  # seconds; a fraction is fine
FPS = FieldRule("fps", 0.2, 30.0, None, 5.0)


def panel_limits() -> dict[str, Any]:
    """Everything the region editor checks before it sends a region: the rules of this module."""
    return {
        "max_regions": MAX_ROIS,
        "min_points": MIN_POINTS,
        "max_points": MAX_POINTS,
        "name_max": MAX_NAME_LEN,
        "detect": list(DETECT_KINDS),
        SENSITIVITY.field: SENSITIVITY.limits(),
        OFF_DELAY.field: OFF_DELAY.limits(),
    }


def validate_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError("name_required", "name must be a non-empty string", field="name")
    if len(value) > MAX_NAME_LEN:
        raise ProtocolError("name_too_long", f"name longer than {MAX_NAME_LEN} characters", field="name")
    return value


def validate_detect(value: Any) -> str:
    if value not in DETECT_KINDS:
        raise ProtocolError(
            "detect_invalid", f"detect must be one of {', '.join(DETECT_KINDS)}", field="detect"
        )
    return str(value)


def _setter(obj: object) -> Callable[[str, Any], None]:
    # Frozen dataclasses normalise their fields once, in __post_init__.
    return lambda name, value: object.__setattr__(obj, name, value)


# --------------------------------------------------------------------------------------------
# Camera config


@dataclass(frozen=True, slots=True)
class RoiConfig:
    """One region of interest, valid by construction (else :class:`ProtocolError` naming the field)."""

    id: str
    name: str
    detect: str
    points: Points
    sensitivity: int = int(SENSITIVITY.default)
    off_delay: float = OFF_DELAY.default

    def __post_init__(self) -> None:
        put = _setter(self)
        validate_roi_id(self.id)
        validate_name(self.name)
        validate_detect(self.detect)
        put("points", validate_points(self.points))
        put("sensitivity", SENSITIVITY.check(self.sensitivity))
        put("off_delay", OFF_DELAY.check(self.off_delay))

    @property
    def person(self) -> bool:
        """The region detects people (else motion)."""
        return self.detect == DETECT_PERSON

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "detect": self.detect,
            "points": [list(p) for p in self.points],
            "sensitivity": self.sensitivity,
            "off_delay": _json_number(self.off_delay),
        }

    @classmethod
    def from_wire(cls, data: Any) -> RoiConfig:
        if not isinstance(data, dict):
            raise ProtocolError("roi_format", "expected an object", field="")
        return cls(
            id=_required(data, "id"),
            name=_required(data, "name"),
            detect=_required(data, "detect"),
            points=_required(data, "points"),
            sensitivity=data.get("sensitivity", SENSITIVITY.default),
            off_delay=data.get("off_delay", OFF_DELAY.default),
        )


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """A camera's whole config: what HA publishes and the agent runs, valid by construction."""

    camera_id: str
    kind: str
    revision: int
    rois: tuple[RoiConfig, ...] = ()
    fps: float = FPS.default

    def __post_init__(self) -> None:
        validate_camera_id(self.camera_id)
        if self.kind not in KINDS:
            raise ProtocolError("kind", f"must be one of {', '.join(KINDS)}", field="kind")
        if isinstance(self.revision, bool) or not isinstance(self.revision, int) or self.revision < 0:
            raise ProtocolError("revision", "revision must be a whole number >= 0", field="revision")
        rois = self.rois
        if not isinstance(rois, list | tuple) or not all(isinstance(r, RoiConfig) for r in rois):
            raise ProtocolError("rois", "rois must be a list of regions", field="rois")
        if len(rois) > MAX_ROIS:
            raise ProtocolError("rois", f"at most {MAX_ROIS} ROIs, got {len(rois)}", field="rois")
        if len({r.id for r in rois}) != len(rois):
            raise ProtocolError("config_duplicate_roi", "two ROIs share one id", field="rois")
        put = _setter(self)
        put("rois", tuple(rois))
        put("fps", FPS.check(self.fps))

    @property
    def dumb(self) -> bool:
        """Its pictures come over MQTT (a dumb camera, or one of Home Assistant's)."""
        return self.kind == KIND_DUMB

    def content(self) -> CameraConfig:
        """The config without its revision: compare these to see whether anything changed."""
        return replace(self, revision=0)

    def to_wire(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "camera_id": self.camera_id,
            "kind": self.kind,
            "revision": self.revision,
            "fps": _json_number(self.fps),
            "rois": [r.to_wire() for r in self.rois],
        }

    @classmethod
    def from_wire(cls, data: Any) -> CameraConfig:
        """A decoded config; a broken field is refused as ``config_invalid`` naming its path."""
        raw_rois = _field("", lambda: _required(data, "rois"))
        if not isinstance(raw_rois, list):
            raise _invalid("rois", "expected a list")
        rois = [_field(f"rois.{i}", partial(RoiConfig.from_wire, item)) for i, item in enumerate(raw_rois)]
        return _field(
            "",
            lambda: cls(
                camera_id=_required(data, "camera_id"),
                kind=_required(data, "kind"),
                revision=_required(data, "revision"),
                rois=tuple(rois),
                fps=data.get("fps", FPS.default),
            ),
        )


def _required(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        raise ProtocolError("required", "required key not provided", field=key)
    return data[key]


def _json_number(value: float) -> int | float:
    """Whole numbers go on the wire as integers (``10``, not ``10.0``), as they always have."""
    return int(value) if value.is_integer() else value


def _invalid(path: str, message: str) -> ProtocolError:
    return ProtocolError("config_invalid", f"invalid config: {path}: {message}", field=path)


def _field(path: str, build: Callable[[], _T]) -> _T:
    """Run ``build``; a refusal becomes ``config_invalid`` with the field's path in the config."""
    try:
        return build()
    except ProtocolError as err:
        if err.code == "config_duplicate_roi":
            raise
        full = ".".join(part for part in (path, err.field) if part)
        raise _invalid(full, str(err)) from err


def parse_config(payload: bytes | str, expected_camera_id: str | None = None) -> CameraConfig:
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
    if not isinstance(data, dict):
        raise ProtocolError("config_format", "config must be a JSON object")
    schema = data.get("schema")
    if type(schema) is not int or schema != SCHEMA_VERSION:  # JSON true is not schema 1
        raise ProtocolError(
            "config_schema",
            f"unknown config schema {schema!r} (this version reads {SCHEMA_VERSION})",
        )
    config = CameraConfig.from_wire(data)
    if expected_camera_id is not None and config.camera_id != expected_camera_id:
        raise ProtocolError(
            "config_camera_id",
            f"config is for camera {config.camera_id!r}, not {expected_camera_id!r}",
        )
    return config


def build_config(config: CameraConfig) -> bytes:
    """The canonical payload of a config: compact, keys sorted, so equal configs give equal bytes.

    The largest valid config is well under MAX_CONFIG_BYTES (a test holds to it), so what HA
    builds always fits.
    """
    return json.dumps(config.to_wire(), separators=(",", ":"), sort_keys=True).encode()


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


def _refuse(what: str, field: str, message: str) -> ProtocolError:
    return ProtocolError(f"{what}_invalid", f"invalid {what}: {field}: {message}", field=field)


def _text_field(what: str, field: str, value: Any, max_len: float) -> None:
    if not isinstance(value, str):
        raise _refuse(what, field, "expected a string")
    if len(value) > max_len:
        raise _refuse(what, field, f"longer than {max_len} characters")


def _count(what: str, field: str, value: Any, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _refuse(what, field, "expected a whole number >= 0")


@dataclass(frozen=True, slots=True)
class Announce:
    """Who a camera is: retained by its agent (or by HA for a camera of HA's) on ``announce``."""

    camera_id: str
    kind: str
    version: str = ""
    # Where the camera is analysed, for people: "Home Assistant app" for a stream camera the app
    # runs; empty (left out on the wire) for an agent on the camera itself.
    host: str = ""

    def __post_init__(self) -> None:
        try:
            validate_camera_id(self.camera_id)
        except ProtocolError as err:
            raise _refuse("announce", "camera_id", str(err)) from None
        if self.kind not in KINDS:
            raise _refuse("announce", "kind", f"must be one of {', '.join(KINDS)}")
        _text_field("announce", "version", self.version, MAX_VERSION_LEN)
        _text_field("announce", "host", self.host, MAX_HOST_LEN)


def build_announce(announce: Announce) -> bytes:
    data = {"camera_id": announce.camera_id, "kind": announce.kind, "version": announce.version}
    if announce.host:  # left out when empty: the same payload as before the field existed
        data["host"] = announce.host
    return json.dumps(data, separators=(",", ":")).encode()


def parse_announce(payload: bytes | str, expected_camera_id: str | None = None) -> Announce:
    data = _json_object(payload, "announce")
    for key in ("camera_id", "kind"):
        if key not in data:
            raise _refuse("announce", key, "required key not provided")
    announce = Announce(
        camera_id=data["camera_id"],
        kind=data["kind"],
        version=data.get("version", ""),
        host=data.get("host", ""),
    )
    if expected_camera_id is not None and announce.camera_id != expected_camera_id:
        raise ProtocolError("announce_camera_id", "announce camera_id does not match its topic")
    return announce


@dataclass(frozen=True, slots=True)
class Status:
    """How a camera's detection is doing: retained by its detection process on ``status``."""

    state: str
    revision: int | None = None  # the config revision it runs
    fps: float | None = None  # frames analysed per second, to two decimals
    restarts: int = 0
    error: str | None = None  # at most MAX_ERROR_LEN characters (longer ones are cut)
    version: str = ""
    detector: str = ""  # the person model and its runtime, e.g. "ssdlite/onnxruntime"

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise _refuse("status", "state", f"must be one of {', '.join(STATES)}")
        _count("status", "revision", self.revision, optional=True)
        _count("status", "restarts", self.restarts)
        fps = self.fps
        if fps is not None:
            if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps):
                raise _refuse("status", "fps", "expected a number")
            object.__setattr__(self, "fps", round(float(fps), 2))
        if self.error is not None:
            _text_field("status", "error", self.error, math.inf)
            object.__setattr__(self, "error", self.error[:MAX_ERROR_LEN])
        _text_field("status", "version", self.version, MAX_VERSION_LEN)
        _text_field("status", "detector", self.detector, MAX_VERSION_LEN)


def build_status(status: Status) -> bytes:
    return json.dumps(asdict(status), separators=(",", ":")).encode()


def parse_status(payload: bytes | str) -> Status:
    data = _json_object(payload, "status")
    if "state" not in data:
        raise _refuse("status", "state", "required key not provided")
    error = data.get("error")
    if isinstance(error, str) and len(error) > MAX_ERROR_LEN:  # a sender cuts it; this one did not
        raise _refuse("status", "error", f"longer than {MAX_ERROR_LEN} characters")
    return Status(
        state=data["state"],
        revision=data.get("revision"),
        fps=data.get("fps"),
        restarts=data.get("restarts", 0),
        error=error,
        version=data.get("version", ""),
        detector=data.get("detector", ""),
    )


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
