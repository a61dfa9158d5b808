"""The dumb camera: capture, encode JPEG, publish on the frame topic. Nothing else.

Kept small for a Pi Zero (512 MB): no detection code is imported, one frame is held at a time,
and nothing is captured while the camera is disarmed. With ``--source -`` it forwards the JPEGs
of an MJPEG stream on standard input (e.g. ``rpicam-vid --codec mjpeg -o -``) as they are: no
decoding, no OpenCV, a fraction of the memory and CPU.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt

from .. import protocol
from ..broker import BrokerSettings, connect_async, connection_accepted, disconnect_gracefully, make_client
from .mjpeg import split_jpegs

STDIN = "-"

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
    ) -> None:
        self.camera_id = camera_id
        self.broker = broker
        self.topics = protocol.Topics(base_topic)
        self.source = source
        self.fps = fps
        self.width = width
        self.quality = quality
        self.loop = loop
        self.speed = speed
        self.version = version
        self.armed = threading.Event()
        self.armed.set()
        self.changed = threading.Event()  # armed or fps changed: restart the capture
        self.published = 0
        self._reader: threading.Thread | None = None
        self._latest: bytes | None = None
        self._latest_cond = threading.Condition()
        self._eof = False
        self.client = make_client(
            broker, f"roiwatch-dumb-{camera_id}", will=(self.topics.availability(camera_id), b"offline")
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not connection_accepted(client, self.broker, reason):
            return
        cam = self.camera_id
        client.subscribe([(self.topics.armed(cam), 1), (self.topics.config(cam), 1)])
        client.publish(
            self.topics.announce(cam),
            protocol.build_announce(cam, protocol.KIND_DUMB, self.version),
            qos=1,
            retain=True,
        )
        client.publish(self.topics.availability(cam), protocol.ONLINE, qos=1, retain=True)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic == self.topics.armed(self.camera_id):
                armed = protocol.parse_armed(msg.payload)
                if armed != self.armed.is_set():
                    _LOGGER.info("Camera %s %s", self.camera_id, "armed" if armed else "disarmed")
                    (self.armed.set if armed else self.armed.clear)()
                    self.changed.set()
            elif msg.topic == self.topics.config(self.camera_id) and msg.payload:
                fps = protocol.parse_config(msg.payload, self.camera_id)["fps"]
                if fps != self.fps:
                    _LOGGER.info("Camera %s: streaming at %s fps", self.camera_id, fps)
                    self.fps = fps
                    self.changed.set()
        except protocol.ProtocolError as err:
            _LOGGER.error("Camera %s: ignoring %s: %s", self.camera_id, msg.topic, err)

    def run(self, stop: threading.Event) -> None:
        connect_async(self.client, self.broker)
        topic = self.topics.frame(self.camera_id)
        produce = self._stdin_jpegs if self.source == STDIN else self._opencv_jpegs

        def interrupted() -> bool:
            return stop.is_set() or self.changed.is_set()

        try:
            while not stop.is_set():
                self.changed.clear()
                if not self.armed.is_set():
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
            self.client.publish(
                self.topics.availability(self.camera_id), protocol.OFFLINE, qos=1, retain=True
            )
            disconnect_gracefully(self.client)

    def _opencv_jpegs(self, interrupted: Callable[[], bool]) -> Iterator[bytes | None]:
        """Capture with OpenCV, downscale to --width, encode at --quality; None when the file ends."""
        import cv2  # only here: the stdin path never loads OpenCV

        from ..capture.sources import SourceError, VideoSource

        # One frame at a time needs no worker threads; OpenCV's idle workers spin and cost CPU.
        cv2.setNumThreads(1)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        source = VideoSource(self.source, self.fps, self.loop, self.speed)
        try:
            for _ts, frame in source.frames(interrupted):
                h, w = frame.shape[:2]
                if self.width and w > self.width:
                    # INTER_AREA is only worth its cost from a 2x reduction on.
                    interp = cv2.INTER_AREA if w >= 2 * self.width else cv2.INTER_LINEAR
                    frame = cv2.resize(frame, (self.width, round(h * self.width / w)), interpolation=interp)
                ok, jpeg = cv2.imencode(".jpg", frame, params)
                if ok:
                    yield jpeg.tobytes()
        except SourceError as err:
            _LOGGER.error("Camera %s: %s; retrying in 5 s", self.camera_id, err)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not interrupted():
                time.sleep(0.1)
            return
        if source.ended:
            yield None

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
