"""RoiWatch benchmark: figures on this machine, as ratios against baselines run in the same process.

Run through ``scripts/bench`` (which runs the setup first). Sections:
  model     - the person model per call on ONNX Runtime vs OpenCV dnn, 1 and 2 threads, one process
              and two at once; a detection process's memory with each; the detect extra's install size
  pipeline  - decode floor, motion gate, whole pipeline (people video, still scene) vs the person
              model on every full frame and HOG on every full frame; missed ROI entries; latency;
              once with the person model on ONNX Runtime, once on OpenCV dnn
  restart   - config change -> detection running the new revision, and the detection gap (last frame
              analysed under the old revision -> first under the new); real agent, real mosquitto
  agent_restart - a service restart of the smart agent (SIGTERM, started again at once, at most
              10 rounds): SIGTERM -> the new agent's first frame -> its regions confirmed
  dumb      - the dumb agent's resident memory and CPU per frame vs a bare JPEG encode
  analyzer  - dumb cameras at 5 fps that one analyzer core keeps up with
  preview   - detection CPU per frame with no viewer / one viewer (2 requests a second) vs the
              detection loop without the preview; request -> answer latency over the real broker
              for a smart camera and for a dumb camera through the analyzer
  capture   - the frame hand-over (capture process -> shared memory -> detection process) per
              frame vs a bare cap.read() in the same process; resident memory per process of the
              smart agent on the camera module (a fake rpicam-vid, itself not counted)
  rtsp      - CPU per IP camera (capture process, whole agent) on a 1080p H.264 main stream vs
              360p H.265 and H.264 sub streams, side by side, from GStreamer's RTSP server
  ha        - region saved in HA -> agent running it; person in the video -> HA binary_sensor on;
              a look at a camera entity -> its live picture in HA (smart, and dumb via the analyzer)
              (tests/ha/bench_e2e.py: HA's real core and MQTT client, real mosquitto, real agent)
  ha_camera - cameras of Home Assistant (HA's core mjpeg camera on roiwatch_dev/picture_server.py): HA's
              event-loop time per fetch and publish; HA's CPU with 1, 4 and 8 at 2 fps vs none;
              person in the source's picture -> region on in HA vs a dumb camera over MQTT
              (tests/ha/bench_ha_camera.py; --seconds per CPU window, --rounds person entries)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: roiwatch_dev

from roiwatch_agent import protocol
from roiwatch_agent.detection.person_model import HogPersonDetector, load_person_detector
from roiwatch_agent.detection.pipeline import Pipeline
from roiwatch_dev import REPO, VIDEO
from roiwatch_dev.agents import AGENT_COMMAND, comm, descendants
from roiwatch_dev.mosquitto import Mosquitto

WALKWAY = [[0.0, 0.35], [1.0, 0.35], [1.0, 1.0], [0.0, 1.0]]
FPS = 5.0


def line(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def read_frames(path: Path, step: int = 1) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            frames.append(frame)
        i += 1
    cap.release()
    return frames


def config(rois: list[protocol.RoiConfig], camera: str = "bench", revision: int = 1) -> protocol.CameraConfig:
    return protocol.CameraConfig(camera, "smart", revision, tuple(rois), fps=FPS)


def walk_roi(off_delay: float = 2.0) -> protocol.RoiConfig:
    points = protocol.validate_points(WALKWAY)
    return protocol.RoiConfig("walk", "Walkway", protocol.DETECT_PERSON, points, off_delay=off_delay)


def episodes(
    pipeline: Pipeline, frames: list[np.ndarray], dt: float
) -> tuple[list[tuple[float, float]], float]:
    """Run frames through a pipeline; (ON episodes as (start, end) video times, seconds per frame)."""
    eps: list[tuple[float, float]] = []
    start = None
    t0 = time.perf_counter()
    for i, frame in enumerate(frames):
        now = i * dt
        for _rid, on in pipeline.process(frame, now).changes:
            if on:
                start = now
            elif start is not None:
                eps.append((start, now))
                start = None
    if start is not None:
        eps.append((start, len(frames) * dt))
    return eps, (time.perf_counter() - t0) / len(frames)


def bench_pipeline(runtime: str = "onnxruntime") -> dict[str, float]:
    print(
        f"\n[pipeline, person model on {runtime}] vtest.avi 768x576, analysed at 5 fps (every 2nd frame),"
        " one core"
    )
    cv2.setNumThreads(1)
    cap = cv2.VideoCapture(str(VIDEO))
    native = cap.get(cv2.CAP_PROP_FPS) or 10.0
    n = 0
    t = time.perf_counter()
    while cap.read()[0]:
        n += 1
    decode = (time.perf_counter() - t) / n
    cap.release()
    step = max(1, round(native / FPS))
    frames = read_frames(VIDEO, step)
    dt = step / native
    line("decode per frame (the floor)", f"{decode * 1e3:7.2f} ms")

    from roiwatch_agent.detection.motion import MotionGate

    gate = MotionGate()
    t = time.perf_counter()
    for f in frames:
        gate.update(f)
    motion = (time.perf_counter() - t) / len(frames)
    line("motion gate per frame", f"{motion * 1e3:7.2f} ms  ({motion / decode:.2f}x decode)")

    person = load_person_detector(runtime=runtime)
    hog = HogPersonDetector()
    base_eps, base_cost = episodes(Pipeline(config([walk_roi()]), person, gated=False), frames, dt)
    pipe = Pipeline(config([walk_roi()]), person)
    eps, cost = episodes(pipe, frames, dt)
    hog_sample = frames[:: max(1, len(frames) // 40)]
    hog_cost = sum(timed(hog.detect, f, 0.3) for f in hog_sample) / len(hog_sample)
    line(f"baseline: {person.backend} model on every full frame", f"{base_cost * 1e3:7.2f} ms")
    line("baseline: HOG on every full frame", f"{hog_cost * 1e3:7.2f} ms")
    line(
        "pipeline, people video",
        f"{cost * 1e3:7.2f} ms  ({base_cost / cost:.1f}x cheaper than model, {hog_cost / cost:.1f}x than HOG;"
        f" model ran on {pipe.inferences}/{len(frames)} frames)",
    )

    # Person-to-ON latency and missed entries on real walkers arriving in an empty street.
    empty = np.median(np.stack(frames[::5]), axis=0).astype(np.uint8)
    rng = np.random.default_rng(1)
    still = [
        np.clip(empty.astype(np.int16) + rng.normal(0, 2, empty.shape).astype(np.int16), 0, 255).astype(
            np.uint8
        )
        for _ in range(60)
    ]
    still_pipe = Pipeline(config([walk_roi()]), person)
    _, still_cost = episodes(still_pipe, still, dt)
    line(
        "pipeline, still scene (sensor noise, nobody)",
        f"{still_cost * 1e3:7.2f} ms; with decode {(still_cost + decode) / decode:.2f}x the decode floor"
        f" (model ran {still_pipe.inferences}x)",
    )
    missed = 0
    latencies = []
    for k in range(5):  # five entries: empty street, then a stretch of real video
        seg = frames[k * 30 : k * 30 + 25]
        clip = still[:10] + seg + still[:20]
        b_eps, _ = episodes(Pipeline(config([walk_roi(0.5)]), person, gated=False), clip, dt)
        p_eps, _ = episodes(Pipeline(config([walk_roi(0.5)]), person), clip, dt)
        if b_eps:
            if not p_eps:
                missed += 1
            else:
                latencies.append(p_eps[0][0] - b_eps[0][0] + cost)
    line(
        "ROI entries missed vs the model-on-every-frame baseline", f"{missed} of 5 entries (baseline saw {5})"
    )
    line("ON episodes over the whole video (pipeline / baseline)", f"{len(eps)} / {len(base_eps)}")
    if latencies:
        line(
            "person-to-ON latency beyond the baseline (video time + compute)",
            f"{statistics.median(latencies) * 1e3:7.0f} ms median, {max(latencies) * 1e3:.0f} ms max",
        )
    return {"decode": decode, "cost": cost, "base": base_cost, "still": still_cost}


class Watcher:
    def __init__(self, port: int) -> None:
        self.cond = threading.Condition()
        self.status: protocol.Status | None = None
        self.frames = 0
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("roiwatch/#")
        self.client.loop_start()

    def _on(self, _c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        with self.cond:
            if msg.topic.endswith("/status"):
                self.status = protocol.parse_status(msg.payload)
            elif msg.topic.endswith("/frame"):
                self.frames += 1
            self.cond.notify_all()

    def wait_running(self, revision: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.status is None or (self.status.state, self.status.revision) != ("running", revision):
                if not self.cond.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"revision {revision} not running: {self.status}")


FIRST_FRAME = re.compile(r"revision (\d+): first frame analysed at monotonic ([\d.]+)")
LAST_FRAME = re.compile(r"revision (\d+): last frame analysed at monotonic ([\d.]+)")


def _percentiles(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"{statistics.median(values) * 1e3:7.0f} ms median, {p95 * 1e3:.0f} ms p95"


def bench_restart(rounds: int) -> None:
    """Config change -> running, and the detection gap: old revision's last frame -> new one's first.

    Both frame times come from the detection processes' debug log (CLOCK_MONOTONIC is one clock
    for every process of the machine).
    """
    print(f"\n[restart] config revision changes ({rounds} rounds, real agent, people in view)")
    broker = Mosquitto()
    broker.start()
    state = tempfile.mkdtemp()
    watcher = Watcher(broker.port)
    pub = watcher.client
    # Two regions: the one edited each round, and one with people on it all the time.
    steady = replace(walk_roi(off_delay=5.0), id="steady", name="Steady")
    pub.publish(
        "roiwatch/bench/config", protocol.build_config(config([steady, walk_roi()])), qos=1, retain=True
    )
    agent = subprocess.Popen(
        [
            *AGENT_COMMAND,
            "smart",
            "--camera",
            "bench",
            "--source",
            str(VIDEO),
            "--loop",
            "--broker",
            broker.url,
            "--state-dir",
            state,
            "--log-level",
            "DEBUG",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    frames = threading.Condition()

    def read_log() -> None:
        assert agent.stderr is not None
        for text in agent.stderr:
            for pattern, into in ((FIRST_FRAME, first), (LAST_FRAME, last)):
                if m := pattern.search(text):
                    with frames:
                        into[int(m[1])] = float(m[2])
                        frames.notify_all()

    threading.Thread(target=read_log, daemon=True).start()
    try:
        watcher.wait_running(1, 60)
        times = []
        for rev in range(2, rounds + 2):
            time.sleep(0.5)  # a few frames under each revision
            roi = walk_roi(off_delay=float(rev))
            payload = protocol.build_config(config([steady, roi], revision=rev))
            t = time.perf_counter()
            pub.publish("roiwatch/bench/config", payload, qos=1, retain=True)
            watcher.wait_running(rev)
            times.append(time.perf_counter() - t)
        with frames:
            frames.wait_for(lambda: all(r in first and r - 1 in last for r in range(2, rounds + 2)), 10)
        gaps = [first[r] - last[r - 1] for r in range(2, rounds + 2) if r in first and r - 1 in last]
        line("config change -> status running with that revision", _percentiles(times))
        line(f"detection gap, last frame old -> first frame new ({len(gaps)})", _percentiles(gaps))
        time.sleep(3)  # the last detector settles
        parts = []
        for pid in [agent.pid, *descendants(agent.pid)]:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            ppid_cmd = Path(
                f"/proc/{Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[1]}/cmdline"
            )
            if pid == agent.pid:
                role = "control"
            elif b"resource_tracker" in cmd:
                role = "resource tracker"
            elif b"spawn_main" in cmd:
                role = "capture"
            elif b"forkserver" in ppid_cmd.read_bytes():
                role = "detector"
            else:
                role = "forkserver"
            parts.append(f"{role} {_private_kb(pid) / 1024:.0f}")
        line("smart agent memory, private MB per process", ", ".join(parts))
    finally:
        agent.terminate()
        agent.wait(15)
        broker.close()


DECIDED = re.compile(r"held regions decided at monotonic ([\d.]+)")


def bench_agent_restart(rounds: int) -> None:
    """A service restart of a smart agent (SIGTERM to its group, then started again at once).

    SIGTERM -> the new agent's first frame analysed -> its regions held ON confirmed by the person
    model (people on the walkway all the time). Frame and decision times come from the new agent's
    debug log (CLOCK_MONOTONIC is one clock for every process of the machine). Also checked: no
    region OFF and no ``offline`` in any round.
    """
    print(f"\n[agent_restart] SIGTERM and start again ({rounds} rounds, real agent, people in view)")
    broker = Mosquitto()
    broker.start()
    state = tempfile.mkdtemp()
    seen: list[tuple[str, bytes, float]] = []
    watcher = Watcher(broker.port)
    watcher.client.on_message = lambda _c, _u, m: seen.append((m.topic, m.payload, time.monotonic()))
    walk = replace(walk_roi(off_delay=5.0), name="Walk")
    payload = protocol.build_config(config([walk]))
    watcher.client.publish("roiwatch/bench/config", payload, qos=1, retain=True)
    argv = [*AGENT_COMMAND, "smart", "--camera", "bench", "--source", str(VIDEO)]
    argv += ["--loop", "--broker", broker.url, "--state-dir", state, "--log-level", "DEBUG"]

    def start() -> tuple[subprocess.Popen[str], dict[str, float]]:
        agent = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
        marks: dict[str, float] = {}

        def read_log() -> None:
            assert agent.stderr is not None
            for text in agent.stderr:
                if (m := FIRST_FRAME.search(text)) and "first" not in marks:
                    marks["first"] = float(m[2])
                elif m := DECIDED.search(text):
                    marks.setdefault("decided", float(m[1]))

        threading.Thread(target=read_log, daemon=True).start()
        return agent, marks

    agent, _ = start()
    try:
        deadline = time.monotonic() + 60
        while ("roiwatch/bench/roi/walk", b"ON") not in [(t, p) for t, p, _ in seen]:
            if time.monotonic() > deadline:
                raise TimeoutError("the walkway never turned ON")
            time.sleep(0.1)
        first, decided, gone, stops = [], [], [], []
        for _ in range(rounds):
            time.sleep(2)  # a few frames under this run
            t0 = time.monotonic()
            stops.append(t0)
            os.killpg(agent.pid, signal.SIGTERM)
            agent.wait(15)
            gone.append(time.monotonic() - t0)
            agent, marks = start()
            deadline = time.monotonic() + 60
            while "decided" not in marks and time.monotonic() < deadline:
                time.sleep(0.02)
            first.append(marks["first"] - t0)
            decided.append(marks["decided"] - t0)
        line("agent restart: SIGTERM -> old agent gone", _percentiles(gone))
        line("agent restart: SIGTERM -> first frame analysed by the new agent", _percentiles(first))
        line("agent restart: SIGTERM -> regions confirmed by the new agent", _percentiles(decided))
        # (The very first start, with nothing retained yet, publishes the region OFF: not counted.)
        since = [(t, p, at) for t, p, at in seen if at >= stops[0]]
        offs = [at for t, p, at in since if t.endswith(("/roi/walk", "/detected")) and p == b"OFF"]
        offline = sum(1 for _t, p, _at in since if b"offline" in p)
        line("agent restart: OFF / offline published in all rounds", f"{len(offs)} / {offline}")
        if offs:
            after = ", ".join(f"{at - max(s for s in stops if s <= at):.1f} s" for at in offs)
            line("agent restart: the OFFs came after the last SIGTERM by", after)
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        agent.wait(15)
        watcher.client.loop_stop()
        broker.close()


def _private_kb(pid: int) -> int:
    fields = {
        x.split(":")[0]: int(x.split()[1])
        for x in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    }
    return fields["Private_Clean"] + fields["Private_Dirty"]


def _dumb_agent(broker: Mosquitto, source: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *AGENT_COMMAND,
            "dumb",
            "--camera",
            "benchdumb",
            "--source",
            source,
            "--loop",
            "--fps",
            "5",
            "--broker",
            broker.url,
            "--log-level",
            "WARNING",
        ],
        cwd=REPO,
        stdin=stdin,
    )


def _measure_dumb(
    agent: subprocess.Popen[bytes], watcher: Watcher, seconds: float
) -> tuple[dict, float, int]:
    """(smaps_rollup in kB, CPU seconds per published frame, frames) over ``seconds``."""
    time.sleep(3)  # start-up
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{agent.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    c0, f0 = cpu(), watcher.frames
    time.sleep(seconds)
    c1, f1 = cpu(), watcher.frames
    mem = {
        x.split(":")[0]: int(x.split()[1])
        for x in Path(f"/proc/{agent.pid}/smaps_rollup").read_text().splitlines()[1:]
    }
    return mem, (c1 - c0) / max(1, f1 - f0), f1 - f0


def bench_dumb(seconds: float) -> None:
    frame = read_frames(VIDEO, 50)[0]
    small = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA)
    enc = sum(timed(cv2.imencode, ".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80]) for _ in range(50)) / 50
    cap = cv2.VideoCapture(str(VIDEO))
    dec = sum(timed(cap.read) for _ in range(50)) / 50
    cap.release()
    jpegs = [
        cv2.imencode(".jpg", cv2.resize(f, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        for f in read_frames(VIDEO, 4)
    ]
    broker = Mosquitto()
    broker.start()
    watcher = Watcher(broker.port)
    try:
        print(
            f"\n[dumb] dumb agent at 5 fps, 640x480, for {seconds:.0f} s;"
            f" bare 640px JPEG encode {enc * 1e3:.2f} ms"
        )
        for label, source in (
            ("OpenCV capture of vtest.avi (decode, resize, encode)", str(VIDEO)),
            ("MJPEG on stdin at 10 fps (camera-encoded JPEGs passed on)", "-"),
        ):
            stop = threading.Event()
            agent = _dumb_agent(broker, source, subprocess.PIPE if source == "-" else None)
            feeder = None
            if source == "-":

                def feed(proc=agent, stop=stop) -> None:  # type: ignore[no-untyped-def]
                    i = 0
                    while not stop.is_set():
                        try:
                            proc.stdin.write(jpegs[i % len(jpegs)])
                            proc.stdin.flush()
                        except (BrokenPipeError, ValueError):
                            return
                        i += 1
                        time.sleep(0.1)

                feeder = threading.Thread(target=feed, daemon=True)
                feeder.start()
            try:
                mem, per, n = _measure_dumb(agent, watcher, seconds)
            finally:
                stop.set()
                agent.terminate()
                agent.wait(15)
            private = mem["Private_Clean"] + mem["Private_Dirty"]
            print(f"  {label}")
            line(
                "  resident memory: RSS; private to the process",
                f"{mem['Rss'] / 1024:7.1f} MB; {private / 1024:.1f} MB",
            )
            line(
                "  CPU per published frame",
                f"{per * 1e3:7.2f} ms  ({per / enc:.1f}x the bare encode; {n} frames)",
            )
        line(
            "source decode per frame (the file path decodes 2 frames per published one)",
            f"{dec * 1e3:7.2f} ms",
        )
    finally:
        broker.close()


def bench_analyzer(pipeline_cost: float, runtime: str = "onnxruntime") -> None:
    print(f"\n[analyzer, person model on {runtime}] one core, people video, 640x480 JPEG pictures")
    frames = read_frames(VIDEO, 2)[:120]
    jpegs = [
        cv2.imencode(".jpg", cv2.resize(f, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        for f in frames
    ]
    t = time.perf_counter()
    for j in jpegs:
        protocol.check_picture(j)
        cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)
    dec = (time.perf_counter() - t) / len(jpegs)
    per_frame = dec + pipeline_cost
    line("JPEG check + decode per picture", f"{dec * 1e3:7.2f} ms")
    line("cameras at 5 fps one analyzer core keeps up with", f"{1.0 / (5 * per_frame):7.1f}")


def _detection_cpu(
    frames: list[np.ndarray], seconds: float, port: int, preview: bool, viewer: bool
) -> tuple[float, int, float]:
    """The detection loop paced at FPS for ``seconds``: (process CPU seconds per frame, answers,
    CPU seconds of the preview thread).

    The loop is the detector's: pipeline.process per frame, plus the preview hand-over when
    ``preview``; ``viewer`` asks for a preview twice a second, as an open camera view in HA does.
    Process CPU includes the preview thread and paho's network thread.
    """
    from roiwatch_agent.detection.preview import PreviewResponder

    person = load_person_detector()
    pipeline = Pipeline(config([walk_roi()]), person)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()

    def publish(jpeg: bytes) -> None:
        client.publish("roiwatch/bench/preview", jpeg, qos=0)

    responder = PreviewResponder("bench", publish)
    responder.start()
    stop = threading.Event()

    def ask() -> None:
        while not stop.wait(0.5):
            responder.request(b"")

    asker = threading.Thread(target=ask, daemon=True)
    n = int(seconds * FPS)
    try:
        pipeline.process(frames[0], 0.0)  # warm-up outside the measurement
        if viewer:
            asker.start()
        c0, t0 = time.process_time(), time.monotonic()
        for i in range(n):
            frame = frames[i % len(frames)]
            if preview:
                responder.offer(frame)
            pipeline.process(frame, (i + 1) / FPS)
            delay = t0 + (i + 1) / FPS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        cpu = time.process_time() - c0
        ident = responder._thread.ident  # the bench reads the thread's own CPU clock
        assert ident is not None
        thread_cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
    finally:
        stop.set()
        responder.close()
        client.loop_stop()
        client.disconnect()
    return cpu / n, responder.answers, thread_cpu


class _PreviewClient:
    """HA's side: asks for a camera's preview and times the answer."""

    def __init__(self, port: int) -> None:
        self.cond = threading.Condition()
        self.answers: list[float] = []
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("roiwatch/+/preview")
        self.client.loop_start()

    def _on(self, _c, _u, _msg) -> None:  # type: ignore[no-untyped-def]
        with self.cond:
            self.answers.append(time.perf_counter())
            self.cond.notify_all()

    def latencies(self, camera: str, rounds: int) -> list[float]:
        """``rounds`` requests 0.6 s apart (past the rate limit): seconds to each answer."""
        out: list[float] = []
        deadline = time.monotonic() + 60
        while len(out) < rounds and time.monotonic() < deadline:
            with self.cond:
                seen = len(self.answers)
            t = time.perf_counter()
            self.client.publish(f"roiwatch/{camera}/preview_request", b"", qos=0)
            with self.cond:
                if self.cond.wait_for(lambda n=seen: len(self.answers) > n, 2.0):
                    out.append(self.answers[seen] - t)
            time.sleep(0.6)
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _agent(broker: Mosquitto, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*AGENT_COMMAND, *args, "--broker", broker.url, "--log-level", "WARNING"],
        cwd=REPO,
    )


def bench_preview(seconds: float, rounds: int) -> None:
    print(f"\n[preview] vtest.avi 768x576 at {FPS:.0f} fps, one walkway region; {seconds:.0f} s per run")
    cv2.setNumThreads(1)
    frames = read_frames(VIDEO, 2)[: int(seconds * FPS)]
    broker = Mosquitto()
    broker.start()
    try:
        runs: dict[str, list[float]] = {"today": [], "none": [], "viewer": []}
        answers = 0
        idle_thread = answer_thread = 0.0
        for _ in range(2):  # interleaved, so drift on a busy machine hits every variant alike
            runs["today"].append(_detection_cpu(frames, seconds, broker.port, False, False)[0])
            cost, _, thread_cpu = _detection_cpu(frames, seconds, broker.port, True, False)
            runs["none"].append(cost)
            idle_thread += thread_cpu
            cost, n, thread_cpu = _detection_cpu(frames, seconds, broker.port, True, True)
            runs["viewer"].append(cost)
            answers += n
            answer_thread += thread_cpu
        today, none, viewer = (statistics.median(runs[k]) for k in ("today", "none", "viewer"))
        per_frame = {k: " / ".join(f"{v * 1e3:.2f}" for v in vals) for k, vals in runs.items()}
        line(
            "detection CPU per frame without the preview (today)",
            f"{today * 1e3:7.2f} ms  ({per_frame['today']})",
        )
        line(
            "  with the preview, nobody looking",
            f"{none * 1e3:7.2f} ms  ({none / today:.3f}x today; {per_frame['none']})",
        )
        line(
            "  with the preview, one viewer (2 requests/s)",
            f"{viewer * 1e3:7.2f} ms  ({viewer / today:.2f}x today; {per_frame['viewer']})",
        )
        line(
            "  preview thread CPU per answered picture (encode + publish)",
            f"{answer_thread / max(1, answers) * 1e3:7.2f} ms  ({answers} answers;"
            f" {idle_thread * 1e3:.2f} ms in all while nobody looked)",
        )
        from roiwatch_agent.detection.preview import PreviewResponder, encode_preview

        idle = PreviewResponder("bench", lambda _jpeg: None)
        t = time.perf_counter()
        for _ in range(100_000):
            idle.offer(frames[0])
        line("  the per-frame hand-over (offer)", f"{(time.perf_counter() - t) * 10:7.3f} us per frame")

        big = cv2.resize(frames[0], (1920, 1080))
        enc = sum(timed(encode_preview, big) for _ in range(20)) / 20
        line("  encode of a 1920x1080 frame to a 1280 px preview", f"{enc * 1e3:7.2f} ms")

        config_empty = protocol.build_config(protocol.CameraConfig("bench", "smart", 1, fps=FPS))
        dumb_config = protocol.build_config(protocol.CameraConfig("benchdumb", "dumb", 1, fps=FPS))
        asker = _PreviewClient(broker.port)
        watcher = Watcher(broker.port)
        state = tempfile.mkdtemp()
        asker.client.publish("roiwatch/bench/config", config_empty, qos=1, retain=True)
        asker.client.publish("roiwatch/benchdumb/config", dumb_config, qos=1, retain=True)
        agents = [
            _agent(
                broker, "smart", "--camera", "bench", "--source", str(VIDEO), "--loop", "--state-dir", state
            )
        ]
        try:
            watcher.wait_running(1, 60)
            smart = sorted(asker.latencies("bench", rounds))
            agents.append(_agent(broker, "analyzer", "--state-dir", tempfile.mkdtemp()))
            agents.append(_dumb_agent(broker, str(VIDEO)))
            time.sleep(3)
            dumb = sorted(asker.latencies("benchdumb", rounds))
        finally:
            for agent in agents:
                agent.terminate()
                agent.wait(15)
            asker.close()
        for label, lat in (("smart camera", smart), ("dumb camera via the analyzer (640 px JPEG)", dumb)):
            if not lat:
                line(f"request -> answer, {label}", "no answers")
                continue
            p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
            line(
                f"request -> answer, {label}",
                f"{statistics.median(lat) * 1e3:7.1f} ms median, {p95 * 1e3:.1f} ms p95"
                f" ({len(lat)}/{rounds} answered)",
            )
    finally:
        broker.close()


def bench_ha(rounds: int, test: str = "tests/ha/bench_e2e.py", **extra_env: str) -> None:
    env = {**os.environ, "ROIWATCH_BENCH_ROUNDS": str(rounds), **extra_env}
    out = subprocess.run(
        [str(REPO / ".venv/bin/pytest"), test, "-s", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = out.stdout.splitlines()
    starts = [i for i, x in enumerate(lines) if x.startswith("[home assistant]")]
    if out.returncode != 0 or not starts:
        print(out.stdout[-3000:], out.stderr[-2000:])
        raise SystemExit("HA benchmark failed")
    for start in starts:  # each block: its heading and the indented figure lines below it
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
        print()
        print("\n".join(lines[start:end]))


def _handover_cost(frames: list[np.ndarray], rounds: int = 3) -> float:
    """Seconds per frame to write a frame into the segment and copy it out again."""
    from roiwatch_agent.capture.handover import FrameReader, FrameWriter, create_segment

    shm, handle = create_segment(f"roiwatch-bench-{os.getpid()}")
    writer = FrameWriter(handle)
    reader = FrameReader(handle, FPS, lambda _e: None)
    try:
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            for i, frame in enumerate(frames):
                writer.write(float(i), frame)
                got = reader.read()
                assert got is not None and got[2].shape == frame.shape
            best = min(best, (time.perf_counter() - t) / len(frames))
        return best
    finally:
        reader.close()
        writer.close()
        shm.close()
        shm.unlink()


def _read_cost(path: Path, size: tuple[int, int] | None, n: int = 200) -> tuple[float, list[np.ndarray]]:
    """Seconds per bare cap.read() (decode + convert), and the frames read (resized if asked)."""
    cap = cv2.VideoCapture(str(path))
    frames, spent = [], 0.0
    for _ in range(n):
        t = time.perf_counter()
        ok, frame = cap.read()
        spent += time.perf_counter() - t
        if not ok:
            break
        frames.append(cv2.resize(frame, size) if size else frame)
    cap.release()
    return spent / len(frames), frames


def _rss_kb(pid: int) -> tuple[int, int]:
    """(resident, private) kB of a process."""
    fields = {
        x.split(":")[0]: int(x.split()[1])
        for x in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    }
    return fields["Rss"], fields["Private_Clean"] + fields["Private_Dirty"]


def _cpu_share(pid: int, seconds: float) -> float:
    """The share of one core the process used over the next ``seconds``."""

    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    t0, c0 = time.monotonic(), ticks()
    time.sleep(seconds)
    return (ticks() - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)


def bench_capture(seconds: float) -> None:
    print("\n[capture] frame hand-over through shared memory; smart agent memory on the camera module")
    read_s, frames = _read_cost(VIDEO, None)
    hand_s = _handover_cost(frames)
    h, w = frames[0].shape[:2]
    line(
        f"hand-over per frame ({w}x{h}) vs a bare cap.read()",
        f"{hand_s * 1e3:.3f} ms vs {read_s * 1e3:.2f} ms: {hand_s / read_s:.2f}x",
    )
    hd = [cv2.resize(f, (1280, 720)) for f in frames[:100]]
    hand_hd = _handover_cost(hd)
    line("hand-over per frame (1280x720, rpicam's default)", f"{hand_hd * 1e3:.3f} ms")

    from roiwatch_dev.fake_rpicam import FakeRpicam

    broker = Mosquitto()
    broker.start()
    tmp = Path(tempfile.mkdtemp())
    fake = FakeRpicam(tmp, VIDEO)
    watcher = Watcher(broker.port)
    watcher.client.publish(
        "roiwatch/bench/config", protocol.build_config(config([walk_roi()])), qos=1, retain=True
    )
    agent = subprocess.Popen(
        [*AGENT_COMMAND, "smart", "--camera", "bench", "--source", "rpicam",
         "--broker", broker.url, "--state-dir", str(tmp / "state"), "--log-level", "WARNING"],
        cwd=REPO, env={**os.environ, **fake.env},
    )  # fmt: skip
    try:
        watcher.wait_running(1, 60)
        time.sleep(seconds)  # steady state: the person model ran, the slots were all written
        parts = []
        for pid in [agent.pid, *descendants(agent.pid)]:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            name = comm(pid)
            if name == "rpicam-vid":
                continue
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if pid == agent.pid:
                role = "main"
            elif name == "roiwatch-cap":
                role = "capture"
            elif b"resource_tracker" in cmd:
                role = "resource tracker"
            elif b"forkserver" in Path(f"/proc/{ppid}/cmdline").read_bytes():
                role = "detection"
            else:
                role = "forkserver"
            rss, private = _rss_kb(pid)
            parts.append(f"{role} {rss / 1024:.0f} ({private / 1024:.0f})")
        line("smart agent, rpicam 1280x720: MB resident (private) per process", ", ".join(parts))
        [capture] = [p for p in descendants(agent.pid) if comm(p) == "roiwatch-cap"]
        armed = _cpu_share(capture, seconds / 2)
        watcher.client.publish("roiwatch/bench/armed", "OFF", qos=1, retain=True)
        time.sleep(3)  # the detection process is gone; the capture notices after 2 s
        disarmed = _cpu_share(capture, seconds / 2)
        line("capture process CPU, armed (5 fps decoded) / disarmed", f"{armed:.1%} / {disarmed:.1%}")
    finally:
        agent.terminate()
        agent.wait(15)
        watcher.client.loop_stop()
        broker.close()


def _ticks(pids: list[int]) -> int:
    """CPU clock ticks (user + system) the processes used so far; one that is gone counts 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def bench_rtsp(seconds: float) -> None:
    """CPU per IP camera: a 1080p H.264 main stream (4 Mbit/s) against 360p sub streams
    (512 kbit/s), all at vtest.avi's 10 fps, armed (5 fps analysed, people in view); the three
    cameras side by side in one window, so that they share the machine's load."""
    from roiwatch_dev.recorder import Recorder
    from roiwatch_dev.rtsp_camera import RtspCamera, missing

    print("\n[rtsp] CPU per IP camera, main stream vs sub stream (GStreamer RTSP server, looped vtest.avi)")
    if reason := missing():
        print(f"  skipped: {reason}")
        return
    tmp = Path(tempfile.mkdtemp())
    camera = RtspCamera("viewer", "bench-pw", tmp / "rtsp.log")
    camera.start()
    broker = Mosquitto()
    broker.start()
    recorder = Recorder(broker)
    streams = {
        "main": ("/main", "1920x1080 H.264"),
        "sub": ("/sub", "640x360 H.265"),
        "sub264": ("/sub264", "640x360 H.264"),
    }
    agents = {}
    try:
        for cam, (path, _what) in streams.items():
            recorder.publish(
                f"roiwatch/{cam}/config", protocol.build_config(config([walk_roi()], camera=cam))
            )
            agents[cam] = subprocess.Popen(
                [*AGENT_COMMAND, "smart", "--camera", cam, "--broker", broker.url,
                 "--state-dir", str(tmp / cam), "--log-level", "WARNING"],
                cwd=REPO, env={**os.environ, "ROIWATCH_SOURCE": camera.url(path)},
            )  # fmt: skip
        for cam in streams:
            recorder.wait_status(cam, state="running", revision=1, timeout=60)
        time.sleep(5)  # steady state: every model loaded and run
        trees = {cam: [a.pid, *descendants(a.pid)] for cam, a in agents.items()}
        captures = {cam: [p for p in tree if comm(p) == "roiwatch-cap"] for cam, tree in trees.items()}
        t0 = time.monotonic()
        before = {cam: (_ticks(trees[cam]), _ticks(captures[cam])) for cam in streams}
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        per_s = os.sysconf("SC_CLK_TCK") * elapsed
        agent_cpu = {cam: (_ticks(trees[cam]) - before[cam][0]) / per_s for cam in streams}
        capture_cpu = {cam: (_ticks(captures[cam]) - before[cam][1]) / per_s for cam in streams}
        for cam, (_path, what) in streams.items():
            times = capture_cpu["main"] / capture_cpu[cam], agent_cpu["main"] / agent_cpu[cam]
            ratio = f"; the main stream {times[0]:.1f}x / {times[1]:.1f}x" if cam != "main" else ""
            line(
                f"{what}, 10 fps: capture / whole agent, share of a core",
                f"{capture_cpu[cam]:.1%} / {agent_cpu[cam]:.1%}{ratio}",
            )
    finally:
        for agent in agents.values():
            agent.terminate()
        for agent in agents.values():
            agent.wait(15)
        recorder.close()
        broker.close()
        camera.kill()


MODEL_WORKER = """
import json, sys, time, cv2, numpy as np
from pathlib import Path
sys.path.insert(0, {repo!r})
runtimes, threads, calls = {runtimes!r}, {threads}, {calls}
if "onnxruntime" not in runtimes:  # as on a 32-bit Pi: onnxruntime not even imported
    sys.modules["onnxruntime"] = None
from roiwatch_agent.detection import person_model
cv2.setNumThreads(threads)
cap = cv2.VideoCapture({video!r})
for _ in range(100):
    ok, frame = cap.read()
make = {{
    "onnxruntime": lambda: person_model.OnnxPersonDetector(threads=threads),
    "opencv": lambda: person_model.SsdPersonDetector(person_model.find_model_path()),
}}
detectors = [make[rt]() for rt in runtimes]
for person in detectors:
    for _ in range(10):
        person.detect(frame, 0.5)
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
spent = [0.0] * len(detectors)
for _ in range(calls):  # the runtimes take turns: the same load for each
    for k, person in enumerate(detectors):
        t = time.perf_counter()
        person.detect(frame, 0.5)
        spent[k] += time.perf_counter() - t
rollup = Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]
mem = {{x.split(":")[0]: int(x.split()[1]) for x in rollup}}
private = mem["Private_Clean"] + mem["Private_Dirty"]
print(json.dumps([[s / max(calls, 1) for s in spent], mem["Rss"], private]))
"""


def _model_workers(
    runtimes: list[str], threads: int, processes: int, calls: int
) -> list[tuple[list[float], int, int]]:
    """(seconds per call of each runtime, RSS kB, private kB) of each of ``processes`` at once."""
    code = MODEL_WORKER.format(
        repo=str(REPO), runtimes=runtimes, threads=threads, calls=calls, video=str(VIDEO)
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:  # all start together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=600)
        out.append(tuple(json.loads(stdout.strip().splitlines()[-1])))
    return out


def bench_model(calls: int) -> None:
    """The person model per call, ONNX Runtime vs OpenCV dnn; threads; memory; install size."""
    print("\n[model] SSDLite per call on a vtest frame (blob + model + decode), in worker processes")
    both = ["onnxruntime", "opencv"]
    for threads in (1, 2):
        ort_call, cv_call = _model_workers(both, threads, 1, calls)[0][0]
        line(
            f"one process, {threads} thread(s), turn about: ONNX Runtime / OpenCV dnn",
            f"{ort_call * 1e3:6.1f} / {cv_call * 1e3:6.1f} ms  ({cv_call / ort_call:.2f}x faster)",
        )
    # Two detection processes on the 2 cores: 1 or 2 threads each? Three rounds in turns, medians.
    rounds: dict[tuple[str, int], list[float]] = {}
    for _ in range(3):
        for runtime in both:
            for threads in (1, 2):
                runs = _model_workers([runtime], threads, 2, calls // 2)
                rounds.setdefault((runtime, threads), []).append(statistics.mean(r[0][0] for r in runs))
    for (runtime, threads), per_calls in rounds.items():
        per_call = statistics.median(per_calls)
        line(
            f"two processes at once, {threads} thread(s) each, {runtime}",
            f"{per_call * 1e3:6.1f} ms a call; {2 / per_call:5.1f} calls/s together (median of 3)",
        )
    base = _model_workers([], 1, 1, 0)[0]
    line(
        "detection process memory, no model, no onnxruntime (RSS / private)",
        f"{base[1] / 1024:6.1f} / {base[2] / 1024:6.1f} MB",
    )
    for runtime in both:
        _, rss, private = _model_workers([runtime], 1, 1, 20)[0]
        line(
            f"  with the model on {runtime} (RSS / private)",
            f"{rss / 1024:6.1f} / {private / 1024:6.1f} MB  (+{(rss - base[1]) / 1024:.1f} / "
            f"+{(private - base[2]) / 1024:.1f} MB)",
        )

    def installed_mb(*dists: str) -> float:
        total = 0
        for dist in dists:
            for file in importlib.metadata.files(dist) or ():
                path = Path(str(file.locate()))
                total += path.stat().st_size if path.is_file() else 0
        return total / 1e6

    detect = installed_mb("opencv-python-headless", "numpy")
    extra = installed_mb("onnxruntime", "flatbuffers", "protobuf")
    line("install size of the detect extra: OpenCV + numpy", f"{detect:6.1f} MB")
    line("  + onnxruntime (with flatbuffers, protobuf)", f"{extra:6.1f} MB  (+{extra / detect * 100:.0f} %)")
    onnx = (REPO / "roiwatch_agent/data/ssdlite_person.onnx").stat().st_size / 1e6
    line("  the packaged .onnx in the agent itself", f"{onnx:6.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sections = ["model", "pipeline", "restart", "agent_restart", "dumb", "analyzer", "preview", "capture"]
    sections += ["rtsp"]
    sections += ["ha", "ha_camera"]
    parser.add_argument("--only", choices=sections, action="append")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    only = set(args.only or sections)
    if not VIDEO.exists():
        print(f"{VIDEO} missing: run scripts/setup", file=sys.stderr)
        return 1
    print(
        f"RoiWatch bench on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" OpenCV {cv2.__version__}"
    )
    if "model" in only:
        bench_model(args.rounds * 10)
    figures = {}
    if only & {"pipeline", "analyzer"}:
        # Both runtimes in the same run: ONNX Runtime (x86_64, aarch64), OpenCV dnn (32-bit ARM).
        figures = {rt: bench_pipeline(rt) for rt in ("onnxruntime", "opencv")}
    if "restart" in only:
        bench_restart(args.rounds)
    if "agent_restart" in only:
        bench_agent_restart(min(args.rounds, 10))
    if "dumb" in only:
        bench_dumb(args.seconds)
    if "analyzer" in only:
        for rt, fig in figures.items():
            bench_analyzer(fig["cost"], rt)
    if "preview" in only:
        bench_preview(args.seconds, args.rounds)
    if "capture" in only:
        bench_capture(args.seconds)
    if "rtsp" in only:
        bench_rtsp(args.seconds * 2)
    if "ha" in only:
        bench_ha(args.rounds)
    if "ha_camera" in only:
        bench_ha(args.rounds, "tests/ha/bench_ha_camera.py", ROIWATCH_BENCH_SECONDS=str(args.seconds * 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
