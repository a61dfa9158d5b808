"""An IP camera for tests and the demo: vtest.avi's frames over HTTP, as MJPEG and as snapshots.

Home Assistant's core ``mjpeg`` camera integration reads it (``mjpeg_url``, ``still_image_url``).
The picture changes ``fps`` times a second while the scene plays at the video's own speed and
loops (vtest.avi's first frames have people walking); between changes every GET returns the very
same bytes, as a snapshot-only camera that refreshes every few seconds does (``fps=0.2``).
Above the video's own rate (10 fps for vtest.avi) a picture repeats, as it would on such a camera.

API::

    server = PictureServer(video, fps=5, width=640, host="127.0.0.1", port=0, frames=None)
    server.start()          # serves on server.port (chosen on the first start when port=0)
    server.mjpeg_url        # http://host:port/stream.mjpg  (multipart/x-mixed-replace)
    server.snapshot_url     # http://host:port/snapshot.jpg (one JPEG per GET)
    server.requests         # GETs answered so far (snapshots and stream openings)
    server.frames_sent      # JPEGs sent so far (snapshots and stream parts)
    server.people = False   # the empty street (the video's median): nobody in the picture
    server.people = True    # the video again (the default)
    server.cycle = (20, 20) # 20 s of people, then 20 s of empty street, and again
    server.still = True     # one and the same picture, byte-identical, until set back to False
    server.broken = True    # every GET answers 503, as a camera whose picture fails
    server.stop()           # closes the socket and every open stream
    server.start()          # serves again on the SAME port (the camera's URL stays valid)

As a program (the demo's "Garden" camera)::

    python -m roiwatch_dev.picture_server --port 8090 --video .cache/data/vtest.avi --fps 2 --width 640 \
        [--host 127.0.0.1] [--cycle 20,20]

In Home Assistant's pytest harness sockets are blocked: a test using it takes the
``socket_enabled`` fixture (tests/ha/conftest.py's ``broker`` fixture does) and serves on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = "roiwatchframe"
# Distinct encodings of the empty street: a real sensor's noise makes every JPEG of an
# unchanging scene differ, and a server that repeats bytes is what ``still`` is for.
EMPTY_QUALITIES = range(80, 90)


@functools.cache
def load_video(
    video: Path, width: int, frames: int | None
) -> tuple[float, tuple[bytes, ...], tuple[bytes, ...]]:
    """(the video's fps, its frames as JPEGs at ``width``, the empty street's JPEGs)."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    jpegs: list[bytes] = []
    samples: list[np.ndarray] = []
    index = 0
    # grab() without retrieve() skips the costly part: the median sees the whole video cheaply.
    while cap.grab():
        wanted = frames is None or index < frames
        if wanted or index % 20 == 0:
            frame = cap.retrieve()[1]
            h, w = frame.shape[:2]
            frame = cv2.resize(frame, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
            if index % 20 == 0:
                samples.append(frame)
            if wanted:
                jpegs.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
        index += 1
    cap.release()
    if not jpegs:
        raise ValueError(f"no frames in video {video}")
    # Walkers move, so the per-pixel median of frames spread over the whole video has none of them.
    median = np.median(np.stack(samples), axis=0).astype(np.uint8)
    empty = tuple(
        cv2.imencode(".jpg", median, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes() for q in EMPTY_QUALITIES
    )
    return fps, tuple(jpegs), empty


class PictureServer:
    """vtest.avi as an IP camera: ``/stream.mjpg`` and ``/snapshot.jpg`` (see the module doc)."""

    def __init__(
        self,
        video: Path | str,
        fps: float = 5,
        width: int = 640,
        host: str = "127.0.0.1",
        port: int = 0,
        frames: int | None = None,
    ) -> None:
        self.video_fps, self._frames, self._empty = load_video(Path(video), width, frames)
        self.fps = fps
        self.host = host
        self.port = port
        self.people = True
        self.cycle: tuple[float, float] | None = None
        self.broken = False
        self.requests = 0
        self.frames_sent = 0
        self._still: bytes | None = None
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mjpeg_url(self) -> str:
        return f"{self.url}/stream.mjpg"

    @property
    def snapshot_url(self) -> str:
        return f"{self.url}/snapshot.jpg"

    @property
    def still(self) -> bool:
        return self._still is not None

    @still.setter
    def still(self, value: bool) -> None:
        self._still = self.picture() if value else None

    def picture(self) -> bytes:
        """The camera's picture now: it changes ``fps`` times a second, the scene plays in real time."""
        if self._still is not None:
            return self._still
        elapsed = time.monotonic() - self._t0
        slot = int(elapsed * self.fps)
        people = self.people
        if self.cycle is not None:
            people = elapsed % sum(self.cycle) < self.cycle[0]
        if not people:
            return self._empty[slot % len(self._empty)]
        return self._frames[int(slot * self.video_fps / self.fps) % len(self._frames)]

    def start(self) -> None:
        """Serve (again) on ``port``; the first start with port 0 picks a free one and keeps it."""
        if self._httpd is not None:
            return
        self._stopping.clear()
        httpd = ThreadingHTTPServer((self.host, self.port), self._handler())
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="picture-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the socket and every open stream: the camera is gone until ``start()``."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> PictureServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _count(self, requests: int = 0, frames: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.frames_sent += frames

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass  # a request a frame: the test's log has better things to say

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path not in ("/snapshot.jpg", "/stream.mjpg"):
                    self.send_error(404)
                    return
                server._count(requests=1)
                if server.broken:
                    self.send_error(503, "camera failure")
                elif path == "/snapshot.jpg":
                    picture = server.picture()
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(picture)))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    self.wfile.write(picture)
                    server._count(frames=1)
                else:
                    self._stream()

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    while not server._stopping.is_set() and not server.broken:
                        picture = server.picture()
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(picture)}\r\n\r\n".encode()
                            + picture
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        server._count(frames=1)
                        server._stopping.wait(1 / server.fps)
                except OSError:
                    pass  # the viewer went away

        return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=Path(".cache/data/vtest.avi"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=float, default=5)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument(
        "--cycle", help="PEOPLE_S,EMPTY_S: people for PEOPLE_S seconds, then the empty street, and again"
    )
    args = parser.parse_args(argv)
    server = PictureServer(args.video, fps=args.fps, width=args.width, host=args.host, port=args.port)
    if args.cycle:
        people_s, empty_s = (float(v) for v in args.cycle.split(","))
        server.cycle = (people_s, empty_s)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server.start()
    print(f"serving {server.mjpeg_url} and {server.snapshot_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    server.stop()


if __name__ == "__main__":
    main()
