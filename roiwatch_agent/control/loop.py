"""The agent's control connection: MQTT in, camera controllers on the main thread.

The smart role controls its own camera; the analyzer role controls the dumb cameras of its
shard. Both run detection in one process per camera (see supervisor.py).

A restart goes unnoticed: a stop (SIGTERM) leaves every region state as it is and disconnects
keeping the last wills, which the broker publishes only if no agent is back within the restart
grace; a start carries the region states the last run left (state dir, retained on the broker)
over to its first detection process, which confirms them or lets them go OFF after their
off_delay, and publishes no OFF before it has looked.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .. import protocol
from ..broker import connect_async, connection_accepted, disconnect_gracefully, make_client
from .camera import CameraController, DetectionSettings
from .config_store import ConfigStore

_LOGGER = logging.getLogger(__name__)
_CONNECTED = "$connected"  # inbox markers, never topic leaves
_SUBSCRIBED = "$subscribed"
# At start, the region states retained on the broker follow the SUBACK within milliseconds:
# detection waits this long after it for them, or CARRY_WAIT in all (a broker away: the state
# dir's states only).
RETAINED_SETTLE = 0.3
CARRY_WAIT = 3.0


class ControlLoop:
    """Base: one MQTT connection, a queue of (camera, leaf, payload), controllers by camera."""

    client_prefix = "roiwatch"

    def __init__(self, settings: DetectionSettings, store: ConfigStore) -> None:
        self.settings = settings
        self.store = store
        self.topics = protocol.Topics(settings.base_topic)
        self.controllers: dict[str, CameraController] = {}
        self.releasing: list[CameraController] = []  # cameras let go of, until their process is gone
        self.inbox: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        will = self.will()
        self.will_delay = settings.grace if will else 0
        self.client = make_client(settings.broker, self.client_id(), will=will, will_delay=self.will_delay)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        # Until the region states retained on the broker are in: (camera, region) left ON.
        self.retained_on: dict[str, set[str]] | None = {}
        self._carry_deadline = time.monotonic() + CARRY_WAIT
        self._settle_at: float | None = None
        self._regions_mid: int | None = None
        self._resync_due = False

    # ---- hooks for the roles ------------------------------------------------------------

    def client_id(self) -> str:
        raise NotImplementedError

    def will(self) -> tuple[str, bytes] | None:
        return None

    def subscriptions(self) -> list[str]:
        raise NotImplementedError

    def region_subscriptions(self) -> list[str]:
        """The region topics whose retained states a starting agent carries over."""
        raise NotImplementedError

    def on_connected(self) -> None:
        """Publish what this role announces (called on every connect)."""

    def dispatch(self, camera_id: str, leaf: str, payload: bytes) -> None:
        raise NotImplementedError

    # ---- MQTT thread --------------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if not connection_accepted(client, self.settings.broker, reason):
            return
        _LOGGER.info("Connected to %s", self.settings.broker.redacted_url)
        for topic in self.subscriptions():
            client.subscribe(topic, qos=1)
        if self.retained_on is not None:  # last: the config that makes a region ours comes first
            _, self._regions_mid = client.subscribe([(t, 1) for t in self.region_subscriptions()])
        self.on_connected()
        self.inbox.put(("", _CONNECTED, b""))  # resynchronise controllers on the main thread

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: mqtt.DisconnectFlags, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if reason.is_failure:
            _LOGGER.warning("Lost the broker (%s); reconnecting", reason)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, mid: int, _r: list[ReasonCode], _p: Properties | None
    ) -> None:
        if mid == self._regions_mid:
            self.inbox.put(("", _SUBSCRIBED, b""))

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        parsed = self.topics.parse(msg.topic)
        if parsed is None:
            return
        camera_id, leaf, roi_id = parsed
        if leaf == protocol.LEAF_ROI:
            leaf = f"{protocol.LEAF_ROI}/{roi_id}"
        self.inbox.put((camera_id, leaf, msg.payload))

    def publish(self, topic: str, payload: bytes | str, qos: int, retain: bool) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    # ---- main thread --------------------------------------------------------------------

    def controller(self, camera_id: str) -> CameraController:
        ctl = self.controllers.get(camera_id)
        if ctl is None:
            ctl = CameraController(camera_id, self.settings, self.store, self.publish)
            self.controllers[camera_id] = ctl
            ctl.start()
            if self.retained_on is None:  # a camera that came after the start: nothing to carry
                ctl.carry(set())
        return ctl

    def _on_region(self, camera_id: str, roi_id: str, payload: bytes) -> None:
        """A region state retained on the broker, heard at start (later ones are our own echo)."""
        if self.retained_on is None:
            return
        try:
            on = bool(payload) and protocol.parse_on_off(payload)
        except protocol.ProtocolError:
            return
        regions = self.retained_on.setdefault(camera_id, set())
        if on:
            regions.add(roi_id)
        else:
            regions.discard(roi_id)

    def _carry(self) -> None:
        """Once the retained region states are in (or CARRY_WAIT passed): detection may go."""
        if self.retained_on is None:
            return
        now = time.monotonic()
        if now < self._carry_deadline and (self._settle_at is None or now < self._settle_at):
            return
        retained, self.retained_on = self.retained_on, None
        for camera_id, ctl in self.controllers.items():
            ctl.carry(retained.get(camera_id, set()))
            if self._resync_due:
                ctl.resync()
        # Our own region states would come back to us from now on: no need.
        self.client.unsubscribe(self.region_subscriptions())

    def _waiting_messages(self) -> list[tuple[str, str, bytes]]:
        """Every message waiting (after up to 0.1 s for the first; 0.02 s while a stop is under way).

        Controllers act on them together in tick(): a burst (retained config and armed at
        connect, quick edits in HA) costs one restart, not one each.
        """
        batch: list[tuple[str, str, bytes]] = []
        busy = any(ctl.busy for ctl in [*self.controllers.values(), *self.releasing])
        try:
            batch.append(self.inbox.get(timeout=0.02 if busy else 0.1))
            while True:
                batch.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return batch

    def run(self, stop: threading.Event) -> None:
        connect_async(self.client, self.settings.broker, self.will_delay)
        try:
            while not stop.is_set():
                for camera_id, leaf, payload in self._waiting_messages():
                    if leaf == _CONNECTED and self.retained_on is not None:
                        self._resync_due = True  # once the retained config and states are in
                    elif leaf == _CONNECTED:
                        for ctl in self.controllers.values():
                            ctl.resync()
                    elif leaf == _SUBSCRIBED:
                        self._settle_at = time.monotonic() + RETAINED_SETTLE
                    elif leaf.startswith(f"{protocol.LEAF_ROI}/"):
                        self._on_region(camera_id, leaf.partition("/")[2], payload)
                    else:
                        self.dispatch(camera_id, leaf, payload)
                self._carry()
                if stop.is_set():
                    break  # a signal to the process group also stops the children: no restarts
                for ctl in [*self.controllers.values(), *self.releasing]:
                    # At start, a camera without a (cached) config waits for the retained one
                    # rather than saying "stopped" first.
                    if self.retained_on is None or ctl.config is not None:
                        ctl.tick()
                self.releasing = [ctl for ctl in self.releasing if not ctl.idle]
        finally:
            self.close()

    def close(self) -> None:
        """The agent stops: detection ends leaving every region as it is (cameras being let go of
        finish their real stop); the last will is kept, for the broker to publish after the grace."""
        for ctl in self.controllers.values():  # all stops at once, then wait for them together
            ctl.leave()
        every = [*self.controllers.values(), *self.releasing]
        for ctl in every:
            ctl.close()
        disconnect_gracefully(self.client, keep_will=True)


class SmartLoop(ControlLoop):
    """A camera that detects by itself."""

    def __init__(
        self, camera_id: str, settings: DetectionSettings, store: ConfigStore, host_label: str = ""
    ) -> None:
        self.camera_id = camera_id
        self.host_label = host_label
        super().__init__(settings, store)
        self.controller(camera_id)

    def client_id(self) -> str:
        return f"roiwatch-smart-{self.camera_id}"

    def will(self) -> tuple[str, bytes]:
        return self.topics.availability(self.camera_id), protocol.OFFLINE.encode()

    def subscriptions(self) -> list[str]:
        return [self.topics.config(self.camera_id), self.topics.armed(self.camera_id)]

    def region_subscriptions(self) -> list[str]:
        return [f"{self.topics.base}/{self.camera_id}/{protocol.LEAF_ROI}/+"]

    def on_connected(self) -> None:
        cam = self.camera_id
        self.publish(
            self.topics.announce(cam),
            protocol.build_announce(
                protocol.Announce(cam, protocol.KIND_SMART, self.settings.version, self.host_label)
            ),
            1,
            True,
        )
        self.publish(self.topics.availability(cam), protocol.ONLINE, 1, True)

    def dispatch(self, camera_id: str, leaf: str, payload: bytes) -> None:
        if camera_id != self.camera_id:
            return
        if leaf == protocol.LEAF_CONFIG:
            self.controllers[camera_id].on_config(payload)
        elif leaf == protocol.LEAF_ARMED:
            self.controllers[camera_id].on_armed(payload)


class AnalyzerLoop(ControlLoop):
    """Detection for dumb cameras: all that have a config, or those named; one shard of them."""

    def __init__(
        self,
        settings: DetectionSettings,
        store: ConfigStore,
        cameras: list[str],
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.named = set(cameras)
        self.shard = shard
        super().__init__(settings, store)
        self._armed: dict[str, bytes] = {}
        self._offline: set[str] = set()  # cameras whose availability says offline
        for camera_id in store.cached_ids():
            if self.mine(camera_id):
                self.controller(camera_id)

    def client_id(self) -> str:
        return f"roiwatch-analyzer-{self.shard[0]}of{self.shard[1]}-{socket.gethostname()}-{os.getpid()}"

    def mine(self, camera_id: str) -> bool:
        if self.named:
            return camera_id in self.named
        return protocol.shard_of(camera_id, self.shard[1]) == self.shard[0]

    def subscriptions(self) -> list[str]:
        leaves = (protocol.LEAF_CONFIG, protocol.LEAF_ARMED, protocol.LEAF_AVAILABILITY)
        if self.named:
            return [f"{self.topics.base}/{cam}/{leaf}" for cam in sorted(self.named) for leaf in leaves]
        return [self.topics.all_cameras(leaf) for leaf in leaves]

    def region_subscriptions(self) -> list[str]:
        cameras = sorted(self.named) or ["+"]
        return [f"{self.topics.base}/{cam}/{protocol.LEAF_ROI}/+" for cam in cameras]

    def dispatch(self, camera_id: str, leaf: str, payload: bytes) -> None:
        if not self.mine(camera_id):
            return
        if leaf == protocol.LEAF_ARMED:
            self._armed[camera_id] = payload
            if camera_id in self.controllers and camera_id not in self._offline:
                self.controllers[camera_id].on_armed(payload)
            return
        if leaf == protocol.LEAF_AVAILABILITY:
            self._on_availability(camera_id, payload)
            return
        if leaf != protocol.LEAF_CONFIG:
            return
        if payload and camera_id not in self.named and not self._is_dumb(payload):
            ctl = self.controllers.pop(camera_id, None)
            if ctl is not None:
                _LOGGER.info("Camera %s is not a dumb camera any more; releasing it", camera_id)
                ctl.release()
                self.releasing.append(ctl)
            return
        if not payload and camera_id not in self.controllers:
            return
        ctl = self.controller(camera_id)
        if camera_id in self._offline:
            ctl.on_armed(protocol.OFF.encode())
        elif camera_id in self._armed:
            ctl.on_armed(self._armed[camera_id])
        ctl.on_config(payload)

    def _on_availability(self, camera_id: str, payload: bytes) -> None:
        """An offline dumb camera (its last will, or HA's source entity gone) sends no frames:
        detection stops as on a disarm, clearing its regions, so none stays ON from before the
        outage; back online, it runs again as armed."""
        offline = payload.strip() == protocol.OFFLINE.encode()
        if offline == (camera_id in self._offline):
            return
        if offline:
            self._offline.add(camera_id)
        else:
            self._offline.discard(camera_id)
        ctl = self.controllers.get(camera_id)
        if ctl is None:
            return
        _LOGGER.info("Camera %s is %s", camera_id, protocol.OFFLINE if offline else protocol.ONLINE)
        ctl.on_armed(protocol.OFF.encode() if offline else self._armed.get(camera_id, b""))

    @staticmethod
    def _is_dumb(payload: bytes) -> bool:
        """A config whose kind we cannot read is passed on, so its error gets reported."""
        try:
            return protocol.parse_config(payload).dumb
        except protocol.ProtocolError:
            return True
