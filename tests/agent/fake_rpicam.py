"""A stand-in for ``rpicam-vid`` (the camera module cannot run here), put first on PATH by the tests.

It takes the real program's options that RoiWatch uses (``-t 0 -n --codec mjpeg|yuv420 --width W
--height H --framerate F -o -``), refuses others as the real one does, and writes frames of
vtest.avi, scaled to W x H, in the codec asked for at the rate asked for, forever.

- Every start appends "<pid> <arguments>" to $FAKE_RPICAM_LOG.
- While the file $FAKE_RPICAM_FAIL exists, it writes that file's text to stderr and exits 1: at
  start (the camera cannot be opened) or while running (the camera failed).
- While the file $FAKE_RPICAM_STALL exists, it writes nothing and stays (a camera that hangs).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

import cv2


def main() -> int:
    parser = argparse.ArgumentParser(prog="rpicam-vid")
    parser.add_argument("-t", "--timeout", default="5000")
    parser.add_argument("-n", "--nopreview", action="store_true")
    parser.add_argument("--codec", choices=["mjpeg", "yuv420"], default="h264")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--framerate", type=float, default=30.0)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    if args.output != "-" or args.timeout != "0":
        parser.error("the fake only streams to stdout forever (-t 0 -o -)")
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, b"rpicam-vid", 0, 0, 0)  # ps shows it by its real name
    if log := os.environ.get("FAKE_RPICAM_LOG"):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {' '.join(sys.argv[1:])}\n")
    fail = Path(os.environ.get("FAKE_RPICAM_FAIL", "/nonexistent"))
    stall = Path(os.environ.get("FAKE_RPICAM_STALL", "/nonexistent"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("[0:00:00.1] [1] INFO Camera camera_manager.cpp:330 libcamera v0.5.0", file=sys.stderr, flush=True)

    video = os.environ.get("FAKE_RPICAM_VIDEO", "")
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        print(f"ERROR: *** fake rpicam-vid: cannot read {video} ***", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    period = 1.0 / args.framerate
    due = time.monotonic()
    while True:
        if fail.exists():
            print(fail.read_text().strip(), file=sys.stderr, flush=True)
            return 1
        if stall.exists():
            time.sleep(0.1)
            due = time.monotonic()
            continue
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        frame = cv2.resize(frame, (args.width, args.height))
        if args.codec == "mjpeg":
            data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        else:
            data = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
        due += period
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            out.write(data)
            out.flush()
        except BrokenPipeError:
            return 0


if __name__ == "__main__":
    sys.exit(main())
