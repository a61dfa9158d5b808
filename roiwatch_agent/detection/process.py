"""The detection process: one OS process per camera, with its own MQTT connection.

Its last will is ``status: offline``, delayed by the restart grace: Home Assistant learns when it
is gone for good, not when it is restarted. It never reconfigures itself: a new config means a
new process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import EllipsisType
from typing import NoReturn

import paho.mqtt.client as mqtt
from cv2.typing import MatLike
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .. import protocol
from ..broker import BrokerSettings, connect_async, connection_accepted, disconnect, make_client
from ..capture.handover import CaptureHandle, FrameReader
from ..capture.sources import MqttPictureSource, SourceError
from .pipeline import MIN_CROP, HeldState, PersonDetector, Pipeline
from .preview import PreviewResponder

_LOGGER = logging.getLogger(__name__)

STATUS_EVERY = 5.0  # seconds between status refreshes (fps)
SOURCE_RETRY = 5.0
CONNECT_WAIT = 1.0  # seconds detection waits for the broker before its first frame
HELD_EVERY = 0.5  # seconds between region states sent to the supervisor while a region is ON
# How a detection process stops (the supervisor's ("stop", mode)):
STOP_CLEAR = "clear"  # a real stop (disarmed, config removed): every region OFF
STOP_REPLACE = "replace"  # a successor takes over: leave the states as they are
# The agent stops or is gone (SIGTERM, the supervisor's pipe closed): leave the states as they
# are and disconnect keeping the last will, which the broker publishes once the grace is over,
# unless a restarted agent's detection process connects under the same client id before.
STOP_LEAVE = "leave"


def detector_client_id(base_topic: str, camera_id: str) -> str:
    """One MQTT client id per camera, the same for every detection process of it, in every run.

    A successor that connects under it within the restart grace keeps the broker from
    publishing a predecessor's last will (see broker.make_client).
    """
    return f"roiwatch-det-{base_topic.replace('/', '_')}-{camera_id}"


@dataclass(frozen=True)
class DetectionSettings:
    """What every detection process of this agent shares."""

    broker: BrokerSettings
    base_topic: str
    source: str | None  # None: pictures from the camera's MQTT frame topic (analyzer)
    loop: bool
    speed: float
    model_path: str | None
    version: str
    log_level: int
    capture: CaptureHandle | None = None  # smart: the capture process started once per agent run
    grace: int = protocol.RESTART_GRACE  # seconds: the delay of every last will (--restart-grace)


@dataclass(frozen=True)
class DetectorSpec:
    """Everything a detection process needs; pickled only between our own processes."""

    settings: DetectionSettings
    config: protocol.CameraConfig
    restarts: int = 0
    error: str | None = None

    @property
    def camera_id(self) -> str:
        return self.config.camera_id

    @property
    def revision(self) -> int:
        return self.config.revision


class _Reporter:
    """What this process has told HA, republished whole on every (re)connect."""

    def __init__(self, spec: DetectorSpec, client: mqtt.Client) -> None:
        self.spec = spec
        self.client = client
        self.topics = protocol.Topics(spec.settings.base_topic)
        self.lock = threading.Lock()
        self.roi_on = {roi.id: False for roi in spec.config.rois}
        self._removed: list[str] = []
        self.state = protocol.STATE_STARTING
        self.error = spec.error
        self.fps: float | None = None
        self.detector = ""  # the person model and its runtime, once loaded (person_model.describe)
        self._sent: deque[mqtt.MQTTMessageInfo] = deque(maxlen=64)

    def hold(self, held: dict[str, HeldState]) -> None:
        """Start from the states the previous process had (before connecting).

        The regions it had that this config removed get their retained topics cleared.
        """
        for roi_id in self.roi_on:
            self.roi_on[roi_id] = roi_id in held and held[roi_id].on
        self._removed = [roi_id for roi_id in held if roi_id not in self.roi_on]

    def _pub(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        self._sent.append(self.client.publish(topic, payload, qos=qos, retain=True))

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until what was published reached the broker (skipped while disconnected)."""
        deadline = time.monotonic() + timeout
        for info in list(self._sent):
            left = deadline - time.monotonic()
            if left <= 0 or not self.client.is_connected():
                break
            if info.rc == mqtt.MQTT_ERR_SUCCESS and not info.is_published():
                try:
                    info.wait_for_publish(left)
                except (RuntimeError, ValueError):
                    break

    def _status(self) -> bytes:
        return protocol.build_status(
            protocol.Status(
                self.state,
                revision=self.spec.revision,
                fps=self.fps,
                restarts=self.spec.restarts,
                error=self.error,
                version=self.spec.settings.version,
                detector=self.detector,
            )
        )

    def publish_all(self) -> None:
        with self.lock:
            cam = self.spec.camera_id
            self._pub(self.topics.status(cam), self._status())
            for roi_id, on in self.roi_on.items():
                self._pub(self.topics.roi(cam, roi_id), protocol.on_off(on))
            for roi_id in self._removed:
                self._pub(self.topics.roi(cam, roi_id), b"")
            self._removed = []
            self._pub(self.topics.detected(cam), protocol.on_off(any(self.roi_on.values())))

    def set_status(
        self,
        state: str | None = None,
        *,
        error: str | EllipsisType | None = ...,
        fps: float | EllipsisType | None = ...,
    ) -> None:
        with self.lock:
            if state is not None:
                self.state = state
            if error is not ...:
                self.error = error
            if fps is not ...:
                self.fps = fps
            self._pub(self.topics.status(self.spec.camera_id), self._status())

    def set_rois(self, changes: list[tuple[str, bool]]) -> None:
        with self.lock:
            cam = self.spec.camera_id
            before = any(self.roi_on.values())
            for roi_id, on in changes:
                self.roi_on[roi_id] = on
                self._pub(self.topics.roi(cam, roi_id), protocol.on_off(on))
            after = any(self.roi_on.values())
            if after != before:
                self._pub(self.topics.detected(cam), protocol.on_off(after))

    def snapshot(self, jpeg: bytes) -> None:
        self._pub(self.topics.snapshot(self.spec.camera_id), jpeg, qos=0)


def run(spec: DetectorSpec, control: Connection) -> None:
    """Process entry point (see :class:`DetectionProcess` for what ``control`` carries)."""
    DetectionProcess(spec, control).run()


class DetectionProcess:
    """One camera's detection, from its spec to a stop, a replacement or a crash.

    It starts on standby: it loads the person model while the process it replaces still
    detects, says ``("ready",)``, and connects only on ``("go", held)``, which brings the region
    states that process left (so two processes of a camera never publish at once, and the
    detection gap does not include loading the model).

    ``control`` is a duplex pipe to the supervisor. In: ``("go", held)``, ``("stop", mode)``
    (STOP_CLEAR: a real stop, publish every region OFF; STOP_REPLACE: leave the states as they
    are for the next process; STOP_LEAVE: the agent stops, see STOP_LEAVE) and ``("error", msg)``.
    A SIGTERM or the loss of the pipe is STOP_LEAVE. Out: ``("ready",)``, ``("held",
    states)`` before each region change is published and every HELD_EVERY while a region is ON
    (so the supervisor can hand the states on even after a SIGKILL), ``("crashed", error)``,
    and ``("cleared",)`` once a real stop published its OFFs.
    """

    def __init__(self, spec: DetectorSpec, control: Connection) -> None:
        self.spec = spec
        self.control = control
        self.cam = spec.camera_id
        self.topics = protocol.Topics(spec.settings.base_topic)
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.orphaned = threading.Event()
        self.mode = STOP_LEAVE
        self.client = make_client(
            spec.settings.broker,
            detector_client_id(spec.settings.base_topic, self.cam),
            will=self._will(),
            will_delay=spec.settings.grace,
        )
        self.reporter = _Reporter(spec, self.client)
        self.pictures: MqttPictureSource | None = None
        if spec.settings.source is None:
            self.pictures = MqttPictureSource(spec.config.fps, self._on_bad_picture)
        self.preview = PreviewResponder(self.cam, self._publish_preview)
        self.pipeline: Pipeline | None = None
        self._held_sent = 0.0
        self._last_frame_at: float | None = None
        self._undecided: set[str] = set()  # regions held ON, not yet confirmed or let go (bench log)
        self._frames = 0  # analysed since _window_start, for the fps in the status
        self._window_start = 0.0

    def _will(self) -> tuple[str, bytes]:
        return (
            self.topics.status(self.cam),
            protocol.build_status(
                protocol.Status(
                    protocol.STATE_OFFLINE,
                    revision=self.spec.revision,
                    restarts=self.spec.restarts,
                    error="detection process gone",
                    version=self.spec.settings.version,
                )
            ),
        )

    # ---- MQTT thread --------------------------------------------------------------------

    def _on_bad_picture(self, reason: str) -> None:
        _LOGGER.error("Camera %s: refused picture: %s", self.cam, reason)
        self.reporter.set_status(error=f"refused picture: {reason}")

    def _publish_preview(self, jpeg: bytes) -> None:
        self.client.publish(self.topics.preview(self.cam), jpeg, qos=0, retain=False)

    def _on_connect(
        self,
        client: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if not connection_accepted(client, self.spec.settings.broker, reason):
            return
        self.reporter.publish_all()
        self.connected.set()
        client.subscribe(self.topics.preview_request(self.cam), qos=0)
        if self.pictures is not None:
            client.subscribe(self.topics.frame(self.cam), qos=0)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.topics.preview_request(self.cam):
            self.preview.request(msg.payload)
        elif self.pictures is not None and msg.topic == self.topics.frame(self.cam):
            self.pictures.put(msg.payload)

    # ---- the supervisor's pipe ----------------------------------------------------------

    def should_stop(self) -> bool:
        while not self.stopping.is_set() and self.control.poll():
            try:
                msg = self.control.recv()
            except (EOFError, OSError):
                self._lost_supervisor()
                break
            if msg[0] == "stop":
                self.mode = msg[1]
                self.stopping.set()
            elif msg[0] == "error":
                self.reporter.set_status(error=msg[1])
        return self.stopping.is_set()

    def _tell(self, *msg: object) -> None:
        try:
            self.control.send(msg)
        except OSError:
            self._lost_supervisor()

    def _lost_supervisor(self) -> None:
        if not self.orphaned.is_set():
            _LOGGER.warning("Controller is gone; stopping (states left for the next agent)")
        self.mode = STOP_LEAVE
        self.orphaned.set()
        self.stopping.set()

    def _send_held(self) -> None:
        assert self.pipeline is not None
        self._held_sent = time.monotonic()
        self._tell("held", self.pipeline.held())

    # ---- main thread --------------------------------------------------------------------

    def run(self) -> None:
        logging.basicConfig(
            level=self.spec.settings.log_level,
            format=f"%(asctime)s %(levelname)s [detector {self.cam}] %(name)s: %(message)s",
        )
        # Ctrl-C reaches the whole process group; the controller decides when we stop.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        person: PersonDetector | None = None
        failure: Exception | None = None
        try:
            person = self._load_person()
        except Exception as err:  # reported once connected, as any crash
            failure = err
        self._tell("ready")
        held = self._wait_go()
        if held is None:  # stopped or replaced before our turn: we published nothing
            return
        self.reporter.hold(held)
        self.preview.start()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        connect_async(self.client, self.spec.settings.broker, self.spec.settings.grace)
        try:
            if failure is not None:
                raise failure
            self.pipeline = Pipeline(self.spec.config, person, held=held)
            held_on = {roi_id for roi_id, st in self.pipeline.state.items() if st.on}
            self._undecided = {r.id for r in self.spec.config.rois if r.person and r.id in held_on}
            # "starting" and the regions go out before "running" (a broker that is away does
            # not hold detection up for long: the cached config detects without it).
            self.connected.wait(CONNECT_WAIT)
            self._detect()
        except Exception as err:
            self._crashed(err)
        self.preview.close()
        if self._last_frame_at is not None:
            _LOGGER.debug(
                "revision %s: last frame analysed at monotonic %.3f", self.spec.revision, self._last_frame_at
            )
        if self.mode == STOP_CLEAR:  # a real stop: leave no stale ON behind
            self.reporter.set_rois([(roi_id, False) for roi_id, on in self.reporter.roi_on.items() if on])
        # Leaving, nothing more is published: a restarted agent carries the states on, and if
        # none comes back within the grace, the broker publishes our will ("offline").
        _flush(self.client, self.reporter, keep_will=self.mode == STOP_LEAVE)
        if self.mode == STOP_CLEAR:
            self._tell("cleared")
        elif self.pipeline is not None:
            self._send_held()  # the final states, for our successor

    def _crashed(self, err: Exception) -> NoReturn:
        _LOGGER.exception("Detection crashed")
        error = f"detection crashed: {err}"
        if self.orphaned.is_set() or self._last_frame_at is None:
            # It never ran (e.g. the model is missing), or nobody restarts us: detection cannot
            # run, and HA must see so.
            deadline = time.monotonic() + 2.0
            while not self.client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.reporter.set_status(protocol.STATE_ERROR, error=error)
            self.reporter.flush()
        # Else the supervisor restarts us at once with our states and this error in the status,
        # and the regions stay available in HA; our (delayed) will shows a crash loop.
        self._tell("crashed", error)
        os._exit(3)

    def _wait_go(self) -> dict[str, HeldState] | None:
        """On standby until the supervisor says go (None: told to stop meanwhile)."""
        while not self.stopping.is_set():
            try:
                if not self.control.poll(0.05):
                    continue
                msg = self.control.recv()
            except (EOFError, OSError):
                self._lost_supervisor()
                break
            if msg[0] == "go":
                return dict(msg[1])
            if msg[0] == "stop":
                self.stopping.set()
            elif msg[0] == "error":
                self.reporter.error = msg[1]
        return None

    def _load_person(self) -> PersonDetector | None:
        if not any(r.person for r in self.spec.config.rois):
            return None
        import numpy as np

        from .person_model import describe, load_person_detector

        person = load_person_detector(self.spec.settings.model_path)
        self.reporter.detector = describe(person)
        # OpenCV's DNN sets its layers up on the first forward pass: do it now, on standby, not
        # on the first frame.
        person.detect(np.zeros((MIN_CROP, MIN_CROP, 3), np.uint8), 1.0)
        return person

    def _on_capture(self, error: str | None) -> None:
        """The capture process reported a problem (camera, stream), or frames came back."""
        if error is not None:
            self.preview.forget()
            _LOGGER.error("Capture: %s", error)
            self.reporter.set_status(protocol.STATE_ERROR, error=error)
        else:
            _LOGGER.info("Capture: frames are back")
            self.reporter.set_status(protocol.STATE_RUNNING, error=None)

    def _source(self) -> FrameReader | MqttPictureSource:
        """Where frames come from: the agent's capture process (smart), or MQTT pictures (analyzer)."""
        if self.pictures is not None:
            return self.pictures
        if self.spec.settings.capture is None:
            raise RuntimeError("no frame source: neither a capture process nor MQTT pictures")
        return FrameReader(self.spec.settings.capture, self.spec.config.fps, self._on_capture)

    def _detect(self) -> None:
        while not self.should_stop():
            source = self._source()
            try:
                self._run_source(source)
            except SourceError as err:
                self.preview.forget()
                _LOGGER.error("%s", err)
                self.reporter.set_status(protocol.STATE_ERROR, error=str(err))
                deadline = time.monotonic() + SOURCE_RETRY
                while time.monotonic() < deadline and not self.should_stop():
                    time.sleep(0.1)
                continue
            if isinstance(source, FrameReader) and source.ended:
                self.preview.forget()
                self.reporter.set_status(protocol.STATE_STOPPED, error="video source ended")
                while not self.should_stop():
                    time.sleep(0.2)

    def _run_source(self, source: FrameReader | MqttPictureSource) -> None:
        """Analyse the frames of one source until it ends, fails or we stop."""
        for ts, frame in source.frames(self.should_stop):
            self._analyse(ts, frame, source.latest_jpeg if isinstance(source, MqttPictureSource) else None)

    def _analyse(self, ts: float, frame: MatLike, jpeg: bytes | None) -> None:
        """One frame: detection, what changed to the supervisor and then to the broker, status."""
        assert self.pipeline is not None
        reporter = self.reporter
        if reporter.state != protocol.STATE_RUNNING:  # frames come (again): say so at once
            error = reporter.error if reporter.state != protocol.STATE_ERROR else None
            reporter.set_status(protocol.STATE_RUNNING, error=error)
        # A reference only (no copy, no encode): the preview thread encodes when someone asks.
        self.preview.offer(frame, jpeg)
        result = self.pipeline.process(frame, ts)
        now = time.monotonic()
        # The supervisor hears of a change before the broker does: a process killed in between
        # hands on the new state, which its successor then publishes.
        if result.changes or (result.any_on and now - self._held_sent >= HELD_EVERY):
            self._send_held()
        if result.changes:
            reporter.set_rois(result.changes)
        if result.snapshot:
            reporter.snapshot(result.snapshot)
        self._frames += 1
        if self._last_frame_at is None:
            _LOGGER.debug("revision %s: first frame analysed at monotonic %.3f", self.spec.revision, now)
            self._window_start = now
            self._frames = 0
        elif now - self._window_start >= STATUS_EVERY:
            reporter.set_status(fps=self._frames / (now - self._window_start))
            self._frames = 0
            self._window_start = now
        self._last_frame_at = now
        if self._undecided:
            self._log_decided(now)

    def _log_decided(self, now: float) -> None:
        """Debug log (scripts/bench): the regions held ON are all confirmed by a person, or OFF."""
        assert self.pipeline is not None
        state = self.pipeline.state
        self._undecided = {r for r in self._undecided if state[r].on and state[r].last_check == float("-inf")}
        if not self._undecided:
            _LOGGER.debug("revision %s: held regions decided at monotonic %.3f", self.spec.revision, now)


def _flush(client: mqtt.Client, reporter: _Reporter, *, keep_will: bool = False) -> None:
    """Let queued publishes leave before disconnecting (best effort if the broker is away)."""
    reporter.flush()
    disconnect(client, keep_will=keep_will)
    client.loop_stop()
