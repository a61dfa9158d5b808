"""Real parts for agent tests: a mosquitto per test, a recording MQTT client, agent processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from roiwatch_agent import protocol
from roiwatch_dev.mosquitto import Mosquitto, find_mosquitto
from tests.scene import write_scene

REPO = Path(__file__).resolve().parents[2]
TOPICS = protocol.Topics()


def video_path() -> Path:
    return Path(os.environ.get("ROIWATCH_TEST_VIDEO", REPO / ".cache/data/vtest.avi"))


@pytest.fixture(scope="session")
def vtest() -> Path:
    path = video_path()
    if not path.exists():
        pytest.skip(f"test video {path} missing: run scripts/setup")
    return path


@pytest.fixture(scope="session")
def scene_video(vtest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real people, then nobody: 2 s of empty street, 6 s of vtest.avi, 30 s of empty street."""
    out = tmp_path_factory.mktemp("video") / "scene.avi"
    write_scene(vtest, out, empty_s=2, people_s=6, tail_s=30)
    return out


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed: run scripts/setup")
    mosq = Mosquitto()
    mosq.start()
    yield mosq
    mosq.close()


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool
    at: float

    @property
    def text(self) -> str:
        return self.payload.decode(errors="replace")


class Recorder:
    """A real MQTT client that records everything under roiwatch/ and can publish."""

    def __init__(self, broker: Mosquitto, credentials: tuple[str, str] | None = None) -> None:
        self.messages: list[Message] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("roiwatch/#", qos=1)
        if credentials:
            self.client.username_pw_set(*credentials)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert subscribed.wait(10), "recorder could not subscribe"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(Message(msg.topic, msg.payload, bool(msg.retain), time.monotonic()))
            self.cond.notify_all()

    def publish(self, topic: str, payload: bytes | str, retain: bool = True, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def wait_for(
        self,
        topic: str,
        predicate: Callable[[Message], bool] = lambda m: True,
        timeout: float = 20.0,
        after: float = 0.0,
    ) -> Message:
        """First message on ``topic`` received at or after ``after`` matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages:
                    if m.topic == topic and m.at >= after and predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, m.text[:120]) for m in self.messages if m.topic == topic][-5:]
                    raise AssertionError(f"no matching message on {topic} in {timeout}s; last: {seen}")
                self.cond.wait(left)

    def wait_status(
        self, camera: str, timeout: float = 20.0, after: float = 0.0, **want: Any
    ) -> protocol.Status:
        def ok(m: Message) -> bool:
            try:
                status = protocol.parse_status(m.payload)
            except protocol.ProtocolError:
                return False
            return all(getattr(status, k) == v for k, v in want.items())

        return protocol.parse_status(self.wait_for(TOPICS.status(camera), ok, timeout, after).payload)

    def on_topic(self, topic: str, after: float = 0.0) -> list[Message]:
        with self.cond:
            return [m for m in self.messages if m.topic == topic and m.at >= after]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def recorder(broker: Mosquitto) -> Iterator[Recorder]:
    rec = Recorder(broker)
    yield rec
    rec.close()


class AgentProcess:
    """A real ``roiwatch-agent`` process (python -m roiwatch_agent.cli)."""

    def __init__(
        self,
        args: list[str],
        log: Path,
        stdin: int = subprocess.DEVNULL,
        command: tuple[str, ...] | None = None,
    ) -> None:
        """``command``: an installed ``roiwatch-agent`` (run outside the source tree) instead of this one."""
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [*(command or (sys.executable, "-m", "roiwatch_agent.cli")), *args],
            stdin=stdin,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO if command is None else log.parent,
            start_new_session=True,  # our own process group, like a systemd service
        )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def descendants(self) -> list[int]:
        return descendants(self.proc.pid)

    def detector_pids(self) -> list[int]:
        """Detection processes: the children of the agent's forkserver."""
        servers = [p for p in children_of(self.proc.pid) if "forkserver" in _cmdline(p)]
        return sorted(c for s in servers for c in children_of(s))

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log_file.close()
        return self.proc.returncode


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    return _process_tree().get(pid, [])


def descendants(pid: int) -> list[int]:
    children = _process_tree()
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _process_tree() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def start_agent(broker: Mosquitto, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    agents: list[AgentProcess] = []

    def start(
        role: str,
        *args: str,
        name: str | None = None,
        stdin: int = subprocess.DEVNULL,
        command: tuple[str, ...] | None = None,
    ) -> AgentProcess:
        n = len(agents)
        extra = [] if role == "dumb" else ["--state-dir", str(tmp_path / f"state{n}")]
        agent = AgentProcess(
            [role, "--broker", broker.url, *extra, *args], tmp_path / f"{name or role}{n}.log", stdin, command
        )
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def make_config(
    camera: str, revision: int, rois: list[protocol.RoiConfig], kind: str = "smart", fps: float = 5
) -> bytes:
    return protocol.build_config(protocol.CameraConfig(camera, kind, revision, tuple(rois), fps=fps))


def roi(
    roi_id: str, points: list[list[float]], detect: str = "person", off_delay: float = 2, **kw: Any
) -> protocol.RoiConfig:
    """A region as HA publishes it; ``kw``: its other fields (name, sensitivity)."""
    fields = {"name": roi_id.title(), **kw}
    shape = protocol.validate_points(points)
    return protocol.RoiConfig(roi_id, detect=detect, points=shape, off_delay=off_delay, **fields)


# vtest.avi: people walk on the pavement in the lower two thirds; the top band is buildings.
WALKWAY = [[0.0, 0.35], [1.0, 0.35], [1.0, 1.0], [0.0, 1.0]]
ROOFTOPS = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.12], [0.0, 0.12]]


def vtest_jpegs(vtest: Path, n: int = 40, width: int = 320) -> list[bytes]:
    """The first ``n`` frames of the video as JPEGs, as a camera's MJPEG stream carries them."""
    cap = cv2.VideoCapture(str(vtest))
    out = []
    for _ in range(n):
        _, frame = cap.read()
        frame = cv2.resize(frame, (width, width * 3 // 4))
        out.append(cv2.imencode(".jpg", frame)[1].tobytes())
    cap.release()
    return out


def _rect(x0: int, y0: int, x1: int, y1: int) -> list[list[float]]:
    """A rectangle given in pixels of the 768x576 video, as fractions."""
    return [[x0 / 768, y0 / 576], [x1 / 768, y0 / 576], [x1 / 768, y1 / 576], [x0 / 768, y1 / 576]]


# The feet rule, measured with the person model on vtest.avi frames 100-160 (the scene clip and
# the pipeline tests): a man stands by the lamp post with his box at x 378-410, y 185-266, so
# every box between x 346 and 440 has its centre at y 212-243 and its feet at y 249-287.
# TORSOS cuts through their bodies above their feet: it must stay OFF. FEET is a thin band
# under their torsos at foot level: it must turn ON. Swapping the rule swaps both outcomes.
TORSOS = _rect(346, 200, 432, 238)
FEET = _rect(346, 253, 440, 290)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
