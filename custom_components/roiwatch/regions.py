"""What a region of interest is: a config subentry of its camera, its rules, its wire form, its entity.

The region flows, the region editor's websocket API, the config publisher, the registry and the
entities all take regions from here; no other module knows how a region is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_NAME

from .const import CONF_DETECT, CONF_OFF_DELAY, CONF_POINTS, CONF_SENSITIVITY, SUBENTRY_ROI
from .protocol import (
    DETECT_MOTION,
    MAX_ROIS,
    OFF_DELAY,
    ROI_ID_RE,
    SENSITIVITY,
    ProtocolError,
    RoiConfig,
    validate_detect,
    validate_name,
    validate_points,
)

_T = TypeVar("_T")

# The form errors of each field (keys of config_subentries.roi.error in strings.json): the codes
# the protocol refuses the field with, and name_duplicate, the one rule of HA's own.
FIELD_ERRORS: Final = {
    CONF_NAME: frozenset({"name_required", "name_too_long", "name_duplicate"}),
    CONF_DETECT: frozenset({"detect_invalid"}),
    CONF_POINTS: frozenset(
        {"points_format", "points_count", "points_range", "points_area", "points_self_intersect"}
    ),
    CONF_SENSITIVITY: frozenset({"sensitivity_range"}),
    CONF_OFF_DELAY: frozenset({"off_delay_range"}),
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


def roi_config(subentry: ConfigSubentry) -> RoiConfig:
    """A region as the published config describes it.

    Stored data is a trust boundary (an old version or a hand edit may have written it): a
    region that breaks a rule raises :class:`ProtocolError` naming the field.
    """
    data = subentry.data
    return RoiConfig(
        id=subentry.subentry_id,
        name=subentry.title,
        detect=data[CONF_DETECT],
        points=data[CONF_POINTS],
        sensitivity=data[CONF_SENSITIVITY],
        off_delay=data[CONF_OFF_DELAY],
    )


def roi_key(roi_id: str) -> str:
    """The entity key (see registry.unique_id) of a region's binary sensor."""
    return f"{KEY_PREFIX}{roi_id}"


def is_motion(subentry: ConfigSubentry) -> bool:
    """The region detects motion (else people)."""
    return bool(subentry.data[CONF_DETECT] == DETECT_MOTION)


def region_limit_reached(entry: ConfigEntry) -> bool:
    """The camera has as many regions as the protocol allows."""
    return len(roi_subentries(entry)) >= MAX_ROIS


def checked(errors: dict[str, str], field: str, rule: Callable[[Any], _T], value: Any) -> _T | None:
    """``rule(value)``; None if the protocol refuses it, its code the field's form error."""
    try:
        return rule(value)
    except ProtocolError as err:
        errors[field] = err.code
        return None


def check_region(
    entry: ConfigEntry, values: Mapping[str, Any], editing: str | None, errors: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The rules of a region, shared by the region flows and the region editor's API.

    ``values`` holds name, detect, points (fractions 0..1, already parsed), sensitivity and
    off_delay; ``editing`` is the id of the region being changed (None: a new one). Each field
    is checked with the protocol's rule for it; ``errors`` gets one key of
    ``config_subentries.roi.error`` per broken rule, by field (a field already in it, as points
    the form could not read, is left alone). Returns the subentry's title and data.
    """
    name = values[CONF_NAME].strip()
    if checked(errors, CONF_NAME, validate_name, name) is not None and any(
        s.title.strip().casefold() == name.casefold() and s.subentry_id != editing
        for s in roi_subentries(entry)
    ):
        # Checked here: a duplicate subentry unique_id raises in 2025.4 instead of aborting.
        errors[CONF_NAME] = "name_duplicate"
    detect = checked(errors, CONF_DETECT, validate_detect, values[CONF_DETECT])
    points = None
    if CONF_POINTS not in errors:
        points = checked(errors, CONF_POINTS, validate_points, values[CONF_POINTS])
    data = {
        CONF_DETECT: detect,
        # Stored as JSON stores it, so an unchanged region compares equal to the stored one.
        CONF_POINTS: [list(p) for p in points or ()],
        CONF_SENSITIVITY: checked(errors, CONF_SENSITIVITY, SENSITIVITY.check, values[CONF_SENSITIVITY]),
        CONF_OFF_DELAY: checked(errors, CONF_OFF_DELAY, OFF_DELAY.check, values[CONF_OFF_DELAY]),
    }
    return name, data
