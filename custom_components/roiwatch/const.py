"""Constants of the RoiWatch integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from .protocol import DEFAULT_BASE_TOPIC, KIND_DUMB, KIND_SMART

DOMAIN: Final = "roiwatch"

# The base topic is fixed: agents are started with the same default, and a per-camera base would
# make discovery (a single manifest `mqtt` filter) unable to find them anyway.
BASE_TOPIC: Final = DEFAULT_BASE_TOPIC

CONF_CAMERA_ID: Final = "camera_id"
CONF_KIND: Final = "kind"
CONF_FPS: Final = "fps"
CONF_SOURCE: Final = "source_entity_id"
"""A camera of Home Assistant: the camera entity whose pictures the integration sends."""

# The entry kinds: the protocol's smart and dumb, and a camera of Home Assistant, for which the
# integration itself is the dumb camera (it announces and publishes it as ``dumb``).
KIND_HA: Final = "ha"
ENTRY_KINDS: Final = (KIND_SMART, KIND_DUMB, KIND_HA)
# Snapshots from HA's camera API: a few per second is what most of them can give.
DEFAULT_HA_FPS: Final = 2.0

SUBENTRY_ROI: Final = "roi"
CONF_DETECT: Final = "detect"
CONF_POINTS: Final = "points"
CONF_SENSITIVITY: Final = "sensitivity"
CONF_OFF_DELAY: Final = "off_delay"

# Entity keys: each makes a unique id with registry.unique_id (regions: regions.roi_key).
KEY_DETECTED: Final = "detected"
KEY_CONFIG_APPLIED: Final = "config_applied"
KEY_DETECTION: Final = "detection"
KEY_LAST_DETECTION: Final = "last_detection"
KEY_PREVIEW: Final = "preview"
KEY_DETECTION_STATE: Final = "detection_state"
KEY_FPS: Final = "fps"
KEY_RESTARTS: Final = "restarts"
KEY_RUNNING_REVISION: Final = "running_revision"
KEY_SOURCE: Final = "source"

MANUFACTURER: Final = "RoiWatch"
MODELS: Final = {
    KIND_SMART: "Smart camera",
    KIND_DUMB: "Dumb camera",
    KIND_HA: "Home Assistant camera",
}
HOST_HA: Final = "Home Assistant"
"""The announce's ``host`` of a camera of Home Assistant: where its pictures come from."""


def wire_kind(kind: str) -> str:
    """The protocol kind of an entry kind: a camera of Home Assistant is a dumb camera."""
    return KIND_DUMB if kind == KIND_HA else kind


# How long an agent may take to run a newly published revision before a repair issue is raised.
APPLY_TIMEOUT: Final = timedelta(minutes=1)

STORAGE_VERSION: Final = 1
