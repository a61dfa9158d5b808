"""Real parts for agent tests: a recording MQTT client and agent processes on the test's broker."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from roiwatch_agent import protocol
from roiwatch_dev import VIDEO
from roiwatch_dev.agents import AgentProcess
from roiwatch_dev.mosquitto import Mosquitto
from roiwatch_dev.recorder import Recorder
from tests.scene import write_scene

TOPICS = protocol.Topics()


@pytest.fixture(scope="session")
def vtest() -> Path:
    path = VIDEO
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
def recorder(broker: Mosquitto) -> Iterator[Recorder]:
    rec = Recorder(broker)
    yield rec
    rec.close()


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
