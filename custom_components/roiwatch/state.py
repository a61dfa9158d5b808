"""A camera's state as Home Assistant knows it, and how each of its topics feeds it.

The table :func:`topic_fields` (topic -> parser -> field) is all the coordinator needs to turn a
message into a new :class:`CameraState`; nothing here touches Home Assistant's runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final

from homeassistant.components import mqtt
from homeassistant.util import dt as dt_util

from .protocol import (
    OFFLINE,
    ONLINE,
    Announce,
    ProtocolError,
    Status,
    Topics,
    check_picture,
    parse_announce,
    parse_armed,
    parse_on_off,
    parse_status,
)


@dataclass(frozen=True)
class Snapshot:
    """The last detection picture and when it arrived."""

    picture: bytes
    at: datetime


@dataclass(frozen=True)
class CameraState:
    """What HA knows of a camera: the last good value of each topic (None: unknown or cleared).

    ``revision`` is the config revision HA last published (built) for the camera;
    ``running_revision`` the one its detector reports running.
    """

    availability: str | None = None
    status: Status | None = None
    announce: Announce | None = None
    armed: bool = True
    detected: bool | None = None
    rois: Mapping[str, bool | None] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    revision: int | None = None

    @property
    def running_revision(self) -> int | None:
        """The config revision the agent reports running."""
        return None if self.status is None else self.status.revision

    @property
    def applied(self) -> bool:
        """The agent runs the latest published revision."""
        return self.revision is not None and self.running_revision == self.revision


def _parse_availability(payload: bytes) -> str:
    text = payload.decode(errors="replace").strip()
    if text in (ONLINE, OFFLINE):
        return text
    raise ProtocolError("availability", f"expected {ONLINE} or {OFFLINE}, got {text[:32]!r}")


def _parse_snapshot(payload: bytes) -> Snapshot:
    check_picture(payload)
    return Snapshot(payload, dt_util.utcnow())


KEEP: Final = object()
"""An empty (cleared) payload keeps the last value."""
PARSE: Final = object()
"""An empty payload goes to the parser like any other."""


@dataclass(frozen=True)
class TopicField:
    """How one topic of a camera becomes one field of its :class:`CameraState`."""

    topic: Callable[..., str]
    """The topic, from Topics, the camera id (and the region id)."""
    parse: Callable[[bytes], Any]
    """Raises ProtocolError on a malformed payload (the last good value stays)."""
    field: str
    empty: Any = None
    """The value an empty retained message (a cleared topic) gives, or KEEP, or PARSE."""
    qos: int = 1


def topic_fields(camera_id: str) -> tuple[TopicField, ...]:
    """The camera's state topics (its regions' topics: :data:`ROI_FIELD`)."""
    return (
        TopicField(Topics.availability, _parse_availability, "availability"),
        TopicField(Topics.status, parse_status, "status"),
        # An announce withdrawn by the agent: nothing to show for it, keep the last one.
        TopicField(Topics.announce, partial(parse_announce, expected_camera_id=camera_id), "announce", KEEP),
        TopicField(Topics.armed, parse_armed, "armed", PARSE),
        TopicField(Topics.detected, parse_on_off, "detected"),
        # A cleared snapshot: keep showing the last picture.
        TopicField(Topics.snapshot, _parse_snapshot, "snapshot", KEEP, qos=0),
    )


ROI_FIELD: Final = TopicField(Topics.roi, parse_on_off, "rois")


def raw(msg: mqtt.ReceiveMessage) -> bytes:
    """The payload as bytes (subscriptions use no encoding; the protocol module decodes)."""
    payload = msg.payload
    return payload.encode() if isinstance(payload, str) else bytes(payload)
