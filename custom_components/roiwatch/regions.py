"""What a region of interest is: a config subentry of its camera, its rules, its wire form, its entity.

The region flows, the region editor's websocket API, the config publisher, the registry and the
entities all take regions from here; no other module knows how a region is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_NAME

from .const import CONF_DETECT, CONF_OFF_DELAY, CONF_POINTS, CONF_SENSITIVITY, SUBENTRY_ROI
from .protocol import (
    DETECT_KINDS,
    DETECT_MOTION,
    MAX_NAME_LEN,
    MAX_POINTS,
    MAX_ROIS,
    MIN_POINTS,
    OFF_DELAY_RANGE,
    ROI_ID_RE,
    SENSITIVITY_RANGE,
    ProtocolError,
    validate_points,
)

# Each rule a region's points can break has its own translated form error.
POINTS_ERRORS: Final = frozenset(
    {"points_format", "points_count", "points_range", "points_area", "points_self_intersect"}
)

# What the region editor may send (the rules below hold the same numbers).
LIMITS: Final = {
    "max_regions": MAX_ROIS,
    "min_points": MIN_POINTS,
    "max_points": MAX_POINTS,
    "name_max": MAX_NAME_LEN,
    "sensitivity": list(SENSITIVITY_RANGE),
    "off_delay": list(OFF_DELAY_RANGE),
    "detect": list(DETECT_KINDS),
}

# The region's binary sensor: its key (see roi_key) and translation keys by what it detects.
KEY_PREFIX: Final = "roi_"
TRANSLATION_KEY_MOTION: Final = "roi_motion"
TRANSLATION_KEY_PERSON: Final = "roi_person"


def roi_subentries(entry: ConfigEntry) -> list[ConfigSubentry]:
    """The camera's regions, in the order they were added."""
    return [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_ROI]


def usable(subentry: ConfigSubentry) -> bool:
    """The region's id can go on the wire (ids come from HA; an old or hand-edited one may not)."""
    return ROI_ID_RE.match(subentry.subentry_id) is not None


def roi_config(subentry: ConfigSubentry) -> dict[str, Any]:
    """A region as the published config (and the region editor) describes it."""
    return {
        "id": subentry.subentry_id,
        "name": subentry.title,
        "detect": subentry.data[CONF_DETECT],
        "points": subentry.data[CONF_POINTS],
        "sensitivity": subentry.data[CONF_SENSITIVITY],
        "off_delay": subentry.data[CONF_OFF_DELAY],
    }


def roi_key(roi_id: str) -> str:
    """The entity key (see registry.unique_id) of a region's binary sensor."""
    return f"{KEY_PREFIX}{roi_id}"


def is_motion(subentry: ConfigSubentry) -> bool:
    """The region detects motion (else people)."""
    return bool(subentry.data[CONF_DETECT] == DETECT_MOTION)


def region_limit_reached(entry: ConfigEntry) -> bool:
    """The camera has as many regions as the protocol allows."""
    return len(roi_subentries(entry)) >= MAX_ROIS


def whole(value: float) -> int | float:
    """Selectors and JSON give floats; keep whole numbers as integers on the wire."""
    return int(value) if float(value).is_integer() else float(value)


def check_region(
    entry: ConfigEntry, values: Mapping[str, Any], editing: str | None, errors: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The rules of a region, shared by the region flows and the region editor's API.

    ``values`` holds name, detect, points (fractions 0..1, already parsed), sensitivity and
    off_delay; ``editing`` is the id of the region being changed (None: a new one). Fills
    ``errors`` with one key of ``config_subentries.roi.error`` per broken rule, by field, and
    returns the subentry's title and data.
    """
    name = values[CONF_NAME].strip()
    if not name:
        errors[CONF_NAME] = "name_required"
    elif len(name) > MAX_NAME_LEN:
        errors[CONF_NAME] = "name_too_long"
    elif any(
        s.title.strip().casefold() == name.casefold() and s.subentry_id != editing
        for s in roi_subentries(entry)
    ):
        # Checked here: a duplicate subentry unique_id raises in 2025.4 instead of aborting.
        errors[CONF_NAME] = "name_duplicate"
    if values[CONF_DETECT] not in DETECT_KINDS:
        errors[CONF_DETECT] = "detect_invalid"
    points: list[list[float]] = []
    if CONF_POINTS not in errors:
        try:
            points = validate_points(values[CONF_POINTS])
        except ProtocolError as err:
            errors[CONF_POINTS] = points_error(err)
    sensitivity = values[CONF_SENSITIVITY]
    if not (float(sensitivity).is_integer() and SENSITIVITY_RANGE[0] <= sensitivity <= SENSITIVITY_RANGE[1]):
        errors[CONF_SENSITIVITY] = "sensitivity_range"
    off_delay = values[CONF_OFF_DELAY]
    if not OFF_DELAY_RANGE[0] <= off_delay <= OFF_DELAY_RANGE[1]:
        errors[CONF_OFF_DELAY] = "off_delay_range"
    data = {
        CONF_DETECT: values[CONF_DETECT],
        CONF_POINTS: points,
        CONF_SENSITIVITY: int(sensitivity),
        CONF_OFF_DELAY: whole(off_delay),
    }
    return name, data


def points_error(err: ProtocolError) -> str:
    """The form error of points the protocol refused."""
    return err.code if err.code in POINTS_ERRORS else "points_format"
