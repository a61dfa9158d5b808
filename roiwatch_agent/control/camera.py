"""The control side of one camera: config and armed messages in, detection process in or out.

Runs on the agent's main thread only (MQTT callbacks hand messages over through a queue), and
never waits there on a process: the supervisor moves stops and starts on in tick().
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .. import protocol
from ..detection.process import DetectionSettings, DetectorSpec
from .config_store import ConfigStore
from .supervisor import Supervisor

_LOGGER = logging.getLogger(__name__)

WILL_MARGIN = 5.0  # seconds: a busy broker may publish a delayed will a little late

Publish = Callable[[str, bytes | str, int, bool], None]

__all__ = ["CameraController", "DetectionSettings"]


class CameraController:
    """Keeps one camera's detection in line with its last good config and armed state."""

    def __init__(
        self,
        camera_id: str,
        settings: DetectionSettings,
        store: ConfigStore,
        publish: Publish,
    ) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.store = store
        self.publish = publish
        self.topics = protocol.Topics(settings.base_topic)
        self.supervisor = Supervisor(camera_id, self._publish_off)
        self.config: protocol.CameraConfig | None = store.load(camera_id)
        self.armed = store.load_armed(camera_id)
        self.error: str | None = None
        self._changed = False  # inputs changed what detection should be; tick() applies it once
        self._stopped_due = False  # say "stopped" once the process is gone (it may still publish)
        self._kept_on = store.load_regions_on(camera_id)  # the ON regions as kept in the state dir
        if self.config is not None:
            _LOGGER.info("Camera %s: using cached config revision %s", camera_id, self.config.revision)

    # ---- inputs -------------------------------------------------------------------------

    def on_config(self, payload: bytes) -> None:
        if not payload:
            _LOGGER.warning("Camera %s: config was removed; stopping detection", self.camera_id)
            self.config = None
            self.error = None
            self.store.delete(self.camera_id)
            self._changed = True
            return
        try:
            config = protocol.parse_config(payload, expected_camera_id=self.camera_id)
        except protocol.ProtocolError as err:
            self._refuse(str(err))
            return
        if self.config is not None and config == self.config:
            return  # a retained repeat (e.g. after a reconnect): nothing to restart
        if self.config is not None and config.revision < self.config.revision:
            _LOGGER.warning(
                "Camera %s: config revision %s is older than the running %s; applying it anyway",
                self.camera_id,
                config.revision,
                self.config.revision,
            )
        _LOGGER.info(
            "Camera %s: config revision %s with %d ROI(s)",
            self.camera_id,
            config.revision,
            len(config.rois),
        )
        self.config = config
        self.error = None
        self.store.save(config)
        self._changed = True

    def on_armed(self, payload: bytes) -> None:
        try:
            armed = protocol.parse_armed(payload)
        except protocol.ProtocolError as err:
            self._refuse(f"armed: {err}")
            return
        if armed == self.armed:
            return
        _LOGGER.info("Camera %s: detection %s", self.camera_id, "armed" if armed else "disarmed")
        self.armed = armed
        self.store.save_armed(self.camera_id, armed)
        self._changed = True

    def _refuse(self, error: str) -> None:
        running = self.config.revision if self.config else None
        _LOGGER.error("Camera %s: refused: %s (keeping config revision %s)", self.camera_id, error, running)
        self.error = error
        if self.supervisor.running:
            self.supervisor.send_error(error)
        else:
            self._publish_stopped()

    # ---- outputs ------------------------------------------------------------------------

    def _apply(self) -> None:
        if self.config is not None and self.armed:
            self.supervisor.want(DetectorSpec(self.settings, self.config, error=self.error))
        else:
            self.supervisor.want(None)
            self._stopped_due = True

    def _publish_stopped(self) -> None:
        status = protocol.build_status(
            protocol.Status(
                protocol.STATE_STOPPED,
                revision=self.config.revision if self.config else None,
                restarts=self.supervisor.restarts,
                error=self.error,
                version=self.settings.version,
            )
        )
        self.publish(self.topics.status(self.camera_id), status, 1, True)

    def _publish_off(self, roi_ids: list[str]) -> None:
        """A real stop whose process was killed before it cleared its regions: clear them here."""
        for roi_id in roi_ids:
            self.publish(self.topics.roi(self.camera_id, roi_id), protocol.OFF, 1, True)
        self.publish(self.topics.detected(self.camera_id), protocol.OFF, 1, True)

    def resync(self) -> None:
        """After a (re)connect: a detector republishes by itself; with none wanted, say we stopped.

        Not while a change waits for tick() (at start, the cached config): it decides then.
        """
        if not self.supervisor.wanted and not self._changed:
            self._publish_stopped()

    def start(self) -> None:
        """Start from the cached state (before the broker has said anything), at the next tick."""
        self._changed = True

    def carry(self, retained_on: set[str]) -> None:
        """The regions left ON by the last run (state dir, or retained on the broker) are held ON."""
        carried = sorted(set(self._kept_on) | retained_on)
        if carried:
            _LOGGER.info("Camera %s: carrying over region(s) %s as ON", self.camera_id, ", ".join(carried))
        self.supervisor.carry(carried)

    def _keep_regions(self) -> None:
        """Keep the ON regions in the state dir whenever they change, for the next run."""
        on = sorted(roi_id for roi_id, state in self.supervisor.held.items() if state.on)
        if on != self._kept_on:
            self._kept_on = on
            self.store.save_regions_on(self.camera_id, on)

    def tick(self) -> None:
        if self._changed:
            self._changed = False
            self._apply()
        self.supervisor.tick()
        if not self.supervisor.carrying:
            self._keep_regions()
        if self._stopped_due and self.supervisor.idle:
            self._stopped_due = False
            self._publish_stopped()
        died = self.supervisor.unclean_exit_at
        # A killed process's last will ("offline") has just reached HA (brokers time it to the
        # second): detection stopped on purpose, so say so again.
        quiet = self.supervisor.idle and not self.supervisor.wanted
        if died is not None and quiet and time.monotonic() >= died + self.settings.grace + WILL_MARGIN:
            self.supervisor.unclean_exit_at = None
            self._publish_stopped()

    @property
    def busy(self) -> bool:
        """tick() has something to move on soon."""
        return self._changed or self._stopped_due or self.supervisor.busy

    def release(self) -> None:
        """Stop for good without waiting: tick() until ``idle``."""
        self.supervisor.want(None)
        self._stopped_due = True

    @property
    def idle(self) -> bool:
        return not self._stopped_due and self.supervisor.idle

    def leave(self) -> None:
        """The agent stops: detection ends without touching the regions (see Supervisor.leave)."""
        self.supervisor.leave()
        self._stopped_due = False

    def close(self) -> None:
        """Wait (briefly) for the process to end, at agent shutdown; a real stop says so."""
        self.supervisor.close()
        if self._stopped_due:
            self._stopped_due = False
            self._publish_stopped()
