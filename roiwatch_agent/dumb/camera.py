"""The dumb camera: capture, encode JPEG, publish on the frame topic. Nothing else.

Kept small for a Pi Zero (512 MB): no detection code is imported, one frame is held at a time,
and nothing is captured while the camera is disarmed. With ``--source rpicam`` it runs the
camera module's ``rpicam-vid --codec mjpeg`` itself, and with ``--source -`` it reads an MJPEG
stream on standard input; both forward the camera's JPEGs as they are: no decoding, no OpenCV,
a fraction of the memory and CPU.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .. import protocol
from ..broker import BrokerSettings, connect_async, connection_accepted, disconnect_gracefully, make_client
from ..video.errors import SourceError
from ..video.mjpeg_stream import split_jpegs
from ..video.rpicam import SOURCE_RPICAM, RpicamOptions, RpicamProcess

STDIN = "-"
RETRY_FIRST = 0.5  # seconds before the camera is tried again; doubles up to RETRY_MAX
RETRY_MAX = 10.0

_LOGGER = logging.getLogger(__name__)


class DumbCamera:
    def __init__(
        self,
        camera_id: str,
        broker: BrokerSettings,
        base_topic: str,
        source: str,
        fps: float,
        width: int,
        quality: int,
        loop: bool,
        speed: float,
        version: str,
        rpicam: RpicamOptions | None = None,
        grace: int = protocol.RESTART_GRACE,
    ) -> None:
        self.camera_id = camera_id
        self.grace = grace
        self.broker = broker
        self.topics = protocol.Topics(base_topic)
        self.source = source
        self.fps = fps
        self.width = width
        self.quality = quality
        self.loop = loop
        self.speed = speed
        self.version = version
        self.rpicam = rpicam or RpicamOptions()
        self._camera: RpicamProcess | None = None
        self._camera_jpegs: Iterator[bytes] | None = None
        self._retry = RETRY_FIRST
        self.armed = threading.Event()
        self.armed.set()
        self.changed = threading.Event()  # armed or fps changed: restart the capture
        self.published = 0
        self._reader: threading.Thread | None = None
        self._latest: bytes | None = None
        self._latest_cond = threading.Condition()
        self._eof = False
        # The will waits out the restart grace: the analyzer treats an offline camera as gone and
        # clears its regions, which a reboot or an upgrade of this camera must not do.
        self.client = make_client(
            broker,
            f"roiwatch-dumb-{camera_id}",
            will=(self.topics.availability(camera_id), protocol.OFFLINE.encode()),
            will_delay=grace,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(
        self,
        client: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if not connection_accepted(client, self.broker, reason):
            return
        cam = self.camera_id
        client.subscribe([(self.topics.armed(cam), 1), (self.topics.config(cam), 1)])
        client.publish(
            self.topics.announce(cam),
            protocol.build_announce(protocol.Announce(cam, protocol.KIND_DUMB, self.version)),
            qos=1,
            retain=True,
        )
        client.publish(self.topics.availability(cam), protocol.ONLINE, qos=1, retain=True)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic == self.topics.armed(self.camera_id):
                armed = protocol.parse_armed(msg.payload)
                if armed != self.armed.is_set():
                    _LOGGER.info("Camera %s %s", self.camera_id, "armed" if armed else "disarmed")
                    (self.armed.set if armed else self.armed.clear)()
                    self.changed.set()
            elif msg.topic == self.topics.config(self.camera_id) and msg.payload:
                # Parsed whole, not just read for its fps: a config the protocol refuses changes
                # nothing here either, and the fps rule stays in protocol.py alone.
                fps = protocol.parse_config(msg.payload, self.camera_id).fps
                if fps != self.fps:
                    _LOGGER.info("Camera %s: streaming at %s fps", self.camera_id, fps)
                    self.fps = fps
                    self.changed.set()
        except protocol.ProtocolError as err:
            _LOGGER.error("Camera %s: ignoring %s: %s", self.camera_id, msg.topic, err)

    def run(self, stop: threading.Event) -> None:
        connect_async(self.client, self.broker, will_delay=self.grace)
        topic = self.topics.frame(self.camera_id)
        produce = {STDIN: self._stdin_jpegs, SOURCE_RPICAM: self._rpicam_jpegs}.get(
            self.source, self._opencv_jpegs
        )

        def interrupted() -> bool:
            return stop.is_set() or self.changed.is_set()

        try:
            while not stop.is_set():
                self.changed.clear()
                if not self.armed.is_set():
                    self._close_camera()
                    stop.wait(0.2)  # disarmed: the camera is not even opened
                    continue
                ended = False
                for jpeg in produce(interrupted):
                    if jpeg is None:
                        ended = True
                        break
                    if self.client.is_connected():
                        self.client.publish(topic, jpeg, qos=0, retain=False)
                        self.published += 1
                if ended:
                    _LOGGER.info("Camera %s: video source ended", self.camera_id)
                    stop.wait()
        finally:
            self._close_camera()
            # No `offline` now: the delayed will says it if this camera is not back within the grace.
            disconnect_gracefully(self.client, keep_will=True)

    def _opencv_jpegs(self, interrupted: Callable[[], bool]) -> Iterator[bytes | None]:
        """Capture with OpenCV, downscale to --width, encode at --quality; None when the file ends."""
        import cv2  # only here: the stdin path never loads OpenCV

        from ..video.feeds import Pace, open_feed

        # One frame at a time needs no worker threads; OpenCV's idle workers spin and cost CPU.
        cv2.setNumThreads(1)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        feed = open_feed(self.source, self.loop, self.speed, self.rpicam, 0.0)
        try:
            for _ts, frame in feed.frames(Pace(lambda: self.fps)):
                if interrupted():
                    return
                h, w = frame.shape[:2]
                if self.width and w > self.width:
                    # INTER_AREA is only worth its cost from a 2x reduction on.
                    interp = cv2.INTER_AREA if w >= 2 * self.width else cv2.INTER_LINEAR
                    frame = cv2.resize(frame, (self.width, round(h * self.width / w)), interpolation=interp)
                ok, jpeg = cv2.imencode(".jpg", frame, params)
                if ok:
                    yield jpeg.tobytes()
        except SourceError as err:
            self._failed(err, interrupted)
            return
        finally:
            feed.close()
        yield None  # only a file that was not looped ends

    def _failed(self, err: SourceError, interrupted: Callable[[], bool]) -> None:
        """Log the camera's problem and wait before the next try (0.5 s doubling to 10 s)."""
        _LOGGER.error("Camera %s: %s; retrying in %.1f s", self.camera_id, err, self._retry)
        deadline = time.monotonic() + self._retry
        self._retry = min(RETRY_MAX, self._retry * 2)
        while time.monotonic() < deadline and not interrupted():
            time.sleep(0.1)

    def _rpicam_jpegs(self, interrupted: Callable[[], bool]) -> Iterator[bytes | None]:
        """The camera module's JPEGs as rpicam-vid makes them, at most --fps a second.

        rpicam-vid keeps running across fps changes (only disarming stops it); if it exits
        or stalls, it is started again with backoff.
        """
        period = 1.0 / self.fps
        last = float("-inf")
        while not interrupted():
            if self._camera_jpegs is None:
                try:
                    self._camera = RpicamProcess(self.rpicam, protocol.MAX_PICTURE_BYTES)
                except SourceError as err:
                    self._failed(err, interrupted)
                    continue
                self._camera_jpegs = self._camera.jpegs()
            try:
                for jpeg in self._camera_jpegs:
                    self._retry = RETRY_FIRST
                    now = time.monotonic()
                    if now - last >= period * 0.95:  # the others are dropped unread
                        last = now
                        yield jpeg
                    if interrupted():
                        return
            except SourceError as err:
                self._close_camera()
                self._failed(err, interrupted)

    def _close_camera(self) -> None:
        if self._camera is not None:
            self._camera.close()
        self._camera = None
        self._camera_jpegs = None

    def _stdin_jpegs(self, interrupted: Callable[[], bool]) -> Iterator[bytes | None]:
        """The newest JPEG of the MJPEG stream on stdin, at most --fps a second; None at EOF.

        A reader thread drains the pipe all the time (also while disarmed), so the camera
        program never blocks and we always forward a fresh picture.
        """
        if self._reader is None:
            self._reader = threading.Thread(target=self._read_stdin, name="mjpeg-stdin", daemon=True)
            self._reader.start()
        period = 1.0 / self.fps
        last = float("-inf")
        while not interrupted():
            with self._latest_cond:
                if self._latest is None and not self._eof:
                    self._latest_cond.wait(0.2)
                jpeg, self._latest = self._latest, None
                eof = self._eof
            if jpeg is not None:
                now = time.monotonic()
                if now - last >= period * 0.95:
                    last = now
                    yield jpeg
                else:
                    time.sleep(max(0.0, last + period - now))
            elif eof:
                yield None
                return

    def _read_stdin(self) -> None:
        # Unbuffered: a buffered stdin blocked in this daemon thread aborts interpreter shutdown.
        raw = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)  # noqa: SIM115
        for jpeg in split_jpegs(raw, protocol.MAX_PICTURE_BYTES):
            try:
                protocol.check_picture(jpeg)
            except protocol.ProtocolError as err:
                _LOGGER.warning("Camera %s: dropping a picture from stdin: %s", self.camera_id, err)
                continue
            with self._latest_cond:
                self._latest = jpeg
                self._latest_cond.notify()
        with self._latest_cond:
            self._eof = True
            self._latest_cond.notify()
