"""The detection process: one OS process per camera, with its own MQTT connection.

Its last will is ``status: offline``, so Home Assistant learns at once when it dies without
saying so. It never reconfigures itself: a new config means a new process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt

from .. import protocol
from ..broker import BrokerSettings, connect_async, connection_accepted, make_client
from ..capture.handover import CaptureHandle, FrameReader
from ..capture.sources import MqttPictureSource, SourceError
from .pipeline import Pipeline
from .preview import PreviewResponder

_LOGGER = logging.getLogger(__name__)

STATUS_EVERY = 5.0  # seconds between status refreshes (fps)
SOURCE_RETRY = 5.0


@dataclass(frozen=True)
class DetectorSpec:
    """Everything a detection process needs; pickled only between our own processes."""

    config: dict[str, Any]
    broker: BrokerSettings
    base_topic: str
    source: str | None  # None: pictures from the camera's MQTT frame topic (analyzer)
    loop: bool = False
    speed: float = 1.0
    restarts: int = 0
    error: str | None = None
    model_path: str | None = None
    version: str = ""
    log_level: int = logging.INFO
    capture: CaptureHandle | None = None  # the agent's capture process (smart); frames via shared memory

    @property
    def camera_id(self) -> str:
        return str(self.config["camera_id"])

    @property
    def revision(self) -> int:
        return int(self.config["revision"])


class _Reporter:
    """What this process has told HA, republished whole on every (re)connect."""

    def __init__(self, spec: DetectorSpec, client: mqtt.Client) -> None:
        self.spec = spec
        self.client = client
        self.topics = protocol.Topics(spec.base_topic)
        self.lock = threading.Lock()
        self.roi_on = {roi["id"]: False for roi in spec.config["rois"]}
        self.state = protocol.STATE_STARTING
        self.error = spec.error
        self.fps: float | None = None
        self._sent: deque[mqtt.MQTTMessageInfo] = deque(maxlen=64)

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
            self.state,
            revision=self.spec.revision,
            fps=self.fps,
            restarts=self.spec.restarts,
            error=self.error,
            version=self.spec.version,
        )

    def publish_all(self) -> None:
        with self.lock:
            cam = self.spec.camera_id
            self._pub(self.topics.status(cam), self._status())
            for roi_id, on in self.roi_on.items():
                self._pub(self.topics.roi(cam, roi_id), protocol.on_off(on))
            self._pub(self.topics.detected(cam), protocol.on_off(any(self.roi_on.values())))

    def set_status(self, state: str | None = None, *, error: Any = ..., fps: Any = ...) -> None:
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
    """Process entry point. ``control`` carries ("stop",) and ("error", msg) from the controller."""
    logging.basicConfig(
        level=spec.log_level,
        format=f"%(asctime)s %(levelname)s [detector {spec.camera_id}] %(name)s: %(message)s",
    )
    # Ctrl-C reaches the whole process group; the controller decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopping = threading.Event()
    orphaned = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    topics = protocol.Topics(spec.base_topic)
    cam = spec.camera_id
    will = (
        topics.status(cam),
        protocol.build_status(
            protocol.STATE_OFFLINE,
            revision=spec.revision,
            restarts=spec.restarts,
            error="detection process died",
            version=spec.version,
        ),
    )
    client = make_client(spec.broker, f"roiwatch-det-{cam}-{os.getpid()}", will=will)
    reporter = _Reporter(spec, client)

    def on_bad_picture(reason: str) -> None:
        _LOGGER.error("Camera %s: refused picture: %s", cam, reason)
        reporter.set_status(error=f"refused picture: {reason}")

    pictures: MqttPictureSource | None = None
    if spec.source is None:
        pictures = MqttPictureSource(float(spec.config["fps"]), on_bad_picture)

    def publish_preview(jpeg: bytes) -> None:
        client.publish(topics.preview(cam), jpeg, qos=0, retain=False)

    preview = PreviewResponder(cam, publish_preview)
    preview.start()

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not connection_accepted(client, spec.broker, reason):
            return
        reporter.publish_all()
        client.subscribe(topics.preview_request(cam), qos=0)
        if pictures is not None:
            client.subscribe(topics.frame(cam), qos=0)

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == topics.preview_request(cam):
            preview.request(msg.payload)
        elif pictures is not None and msg.topic == topics.frame(cam):
            pictures.put(msg.payload)

    client.on_connect = on_connect
    client.on_message = on_message
    connect_async(client, spec.broker)

    def should_stop() -> bool:
        while not stopping.is_set() and control.poll():
            try:
                msg = control.recv()
            except (EOFError, OSError):
                _LOGGER.warning("Controller is gone; stopping")
                orphaned.set()
                stopping.set()
                break
            if msg[0] == "stop":
                stopping.set()
            elif msg[0] == "error":
                reporter.set_status(error=msg[1])
        return stopping.is_set()

    try:
        _detect(spec, reporter, pictures, preview, should_stop)
    except Exception as err:  # a crash is reported, then the supervisor restarts us
        _LOGGER.exception("Detection crashed")
        reporter.set_status(protocol.STATE_ERROR, error=f"detection crashed: {err}")
        _flush(client, reporter)
        os._exit(3)
    preview.close()
    # Clean stop: leave no stale ON behind.
    reporter.set_rois([(roi_id, False) for roi_id, on in reporter.roi_on.items() if on])
    if orphaned.is_set():  # nobody will restart us: say so, as the last will would have
        reporter.set_status(protocol.STATE_OFFLINE, error="the agent process is gone")
    _flush(client, reporter)


def _detect(
    spec: DetectorSpec,
    reporter: _Reporter,
    pictures: MqttPictureSource | None,
    preview: PreviewResponder,
    should_stop: Callable[[], bool],
) -> None:
    person = None
    if any(r["detect"] == protocol.DETECT_PERSON for r in spec.config["rois"]):
        from .person_model import load_person_detector

        person = load_person_detector(spec.model_path)
    pipeline = Pipeline(spec.config, person)
    fps = float(spec.config["fps"])

    def on_capture(error: str | None) -> None:
        """The capture process reported a problem (camera, stream), or frames came back."""
        if error is not None:
            preview.forget()
            _LOGGER.error("Capture: %s", error)
            reporter.set_status(protocol.STATE_ERROR, error=error)
        else:
            _LOGGER.info("Capture: frames are back")
            reporter.set_status(protocol.STATE_RUNNING, error=None)

    while not should_stop():
        source: FrameReader | MqttPictureSource
        if pictures is not None:
            source = pictures
        elif spec.capture is not None:
            source = FrameReader(spec.capture, fps, on_capture)  # the capture process's frames
        else:
            raise RuntimeError("no frame source: neither a capture process nor MQTT pictures")
        try:
            _run_source(source, pipeline, reporter, preview, should_stop)
        except SourceError as err:
            preview.forget()
            _LOGGER.error("%s", err)
            reporter.set_status(protocol.STATE_ERROR, error=str(err))
            deadline = time.monotonic() + SOURCE_RETRY
            while time.monotonic() < deadline and not should_stop():
                time.sleep(0.1)
            continue
        if isinstance(source, FrameReader) and source.ended:
            preview.forget()
            reporter.set_status(protocol.STATE_STOPPED, error="video source ended")
            while not should_stop():
                time.sleep(0.2)


def _run_source(
    source: FrameReader | MqttPictureSource,
    pipeline: Pipeline,
    reporter: _Reporter,
    preview: PreviewResponder,
    should_stop: Callable[[], bool],
) -> None:
    frames = 0
    window_start = time.monotonic()
    first = True
    for ts, frame in source.frames(should_stop):
        # A reference only (no copy, no encode): the preview thread encodes when someone asks.
        preview.offer(frame, source.latest_jpeg if isinstance(source, MqttPictureSource) else None)
        result = pipeline.process(frame, ts)
        if result.changes:
            reporter.set_rois(result.changes)
        if result.snapshot:
            reporter.snapshot(result.snapshot)
        frames += 1
        now = time.monotonic()
        if first:
            first = False
            error = reporter.error if reporter.state != protocol.STATE_ERROR else None
            reporter.set_status(protocol.STATE_RUNNING, error=error)
        elif now - window_start >= STATUS_EVERY:
            reporter.set_status(fps=frames / (now - window_start))
            frames = 0
            window_start = now


def _flush(client: mqtt.Client, reporter: _Reporter) -> None:
    """Let queued publishes leave before disconnecting (best effort if the broker is away)."""
    reporter.flush()
    client.disconnect()
    client.loop_stop()
