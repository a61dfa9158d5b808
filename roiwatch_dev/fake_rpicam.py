"""A stand-in for ``rpicam-vid`` (the camera module cannot run here), put first on PATH by the tests.

It takes the real program's options that RoiWatch uses (``-t 0 -n --codec mjpeg|yuv420 --width W
--height H --framerate F -o -``), refuses others as the real one does, and writes frames of
vtest.avi, scaled to W x H, in the codec asked for at the rate asked for, forever.

- Every start appends "<pid> <arguments>" to $FAKE_RPICAM_LOG.
- While the file $FAKE_RPICAM_FAIL exists, it writes that file's text to stderr and exits 1: at
  start (the camera cannot be opened) or while running (the camera failed).
- While the file $FAKE_RPICAM_STALL exists, it writes nothing and stays (a camera that hangs).

FakeRpicam (for the tests and scripts/bench) installs it as ``rpicam-vid`` and works its switches.
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

PROGRAM = Path(__file__).resolve()


class FakeRpicam:
    """The fake rpicam-vid first on PATH; its start log and its failure switch."""

    def __init__(self, tmp_path: Path, video: Path, name: str = "rpicam-vid") -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        exe = bin_dir / name
        exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{PROGRAM}" "$@"\n')
        exe.chmod(0o755)
        self.log = tmp_path / "rpicam-starts.log"
        self.fail_file = tmp_path / "rpicam-fail"
        self.stall_file = tmp_path / "rpicam-stall"
        self.env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_RPICAM_LOG": str(self.log),
            "FAKE_RPICAM_FAIL": str(self.fail_file),
            "FAKE_RPICAM_STALL": str(self.stall_file),
            "FAKE_RPICAM_VIDEO": str(video),
        }

    def starts(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def kill_leftovers(self) -> None:
        """After the test: no fake may outlive it, whatever the test found."""
        for line in self.starts():
            pid = int(line.split()[0])
            if pid in rpicam_pids():
                os.kill(pid, signal.SIGKILL)

    def fail(self, message: str | None) -> None:
        if message is None:
            self.fail_file.unlink(missing_ok=True)
        else:
            self.fail_file.write_text(message)

    def stall(self, stalled: bool) -> None:
        if stalled:
            self.stall_file.touch()
        else:
            self.stall_file.unlink(missing_ok=True)


def rpicam_pids() -> list[int]:
    """The fakes running now."""
    # Here, not at the top: the program itself runs as a script, outside the package.
    from roiwatch_dev.agents import cmdline, pid_alive

    return [
        int(p.name)
        for p in Path("/proc").glob("[0-9]*")
        if str(PROGRAM) in cmdline(int(p.name)) and pid_alive(int(p.name))
    ]


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
