"""A dumb-camera install (``pip install .``) is the agent and paho-mqtt, and it works.

A fresh virtual environment without system site packages, installed as the README says for a
Pi Zero: the MJPEG-on-stdin camera streams to a real mosquitto, and every role that needs OpenCV
stops with one line saying what to install.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roiwatch_agent import __version__, protocol
from roiwatch_dev import REPO

from .conftest import TOPICS, vtest_jpegs


def _core_requirements() -> set[str]:
    reqs = importlib.metadata.requires("roiwatch-agent") or []
    return {re.split(r"[<>=!~ ;\[]", r)[0].lower() for r in reqs if "extra ==" not in r}


def test_the_only_core_requirement_is_paho():
    assert _core_requirements() == {"paho-mqtt"}


@pytest.fixture(scope="module")
def dumb_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("dumb") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Built from a copy: the source tree's build/ and egg-info stay untouched.
    src = venv.parent / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    tar = subprocess.run(["tar", "--null", "-T", "-", "-cf", "-"], cwd=REPO, input=files, capture_output=True)
    src.mkdir()
    subprocess.run(["tar", "-xf", "-"], cwd=src, input=tar.stdout, check=True)
    pip = subprocess.run(
        [venv / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return venv


def test_dumb_install_is_small_and_streams_mjpeg_from_stdin(dumb_venv, recorder, start_agent, vtest):
    listed = subprocess.run(
        [dumb_venv / "bin/python", "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {line.split("==")[0].lower() for line in listed.split()} - {"pip", "setuptools"}
    assert installed == {"roiwatch-agent", "paho-mqtt"}
    size_mb = sum(f.stat().st_size for f in dumb_venv.rglob("*") if f.is_file()) / 1e6
    print(f"dumb-camera venv: {size_mb:.1f} MB")
    version = subprocess.run([dumb_venv / "bin/roiwatch-agent", "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == __version__, version.stderr

    jpegs = vtest_jpegs(vtest, n=15)
    agent = start_agent(
        "dumb", "--camera", "gate", "--source", "-", "--fps", "5",
        stdin=subprocess.PIPE, command=(str(dumb_venv / "bin/roiwatch-agent"),),
    )  # fmt: skip
    recorder.wait_for(TOPICS.availability("gate"), lambda m: m.text == protocol.ONLINE)
    for jpeg in jpegs:
        agent.proc.stdin.write(jpeg)
        agent.proc.stdin.flush()
        time.sleep(0.2)
    frames = recorder.on_topic(TOPICS.frame("gate"))
    assert len(frames) >= 5 and all(f.payload in jpegs for f in frames), len(frames)
    assert agent.stop() == 0
    assert "Traceback" not in agent.output


def test_the_install_ships_the_onnx_person_model_and_its_licence(dumb_venv):
    """Package data: the .onnx that ONNX Runtime runs, byte for byte, with the model's MIT notice."""
    (data,) = dumb_venv.glob("lib/python*/site-packages/roiwatch_agent/data")
    shipped = REPO / "roiwatch_agent/data"
    assert (data / "ssdlite_person.onnx").read_bytes() == (shipped / "ssdlite_person.onnx").read_bytes()
    assert "MIT License" in (data / "ssdlite_person.LICENSE").read_text()


@pytest.mark.parametrize(
    "role",
    [
        ["smart", "--camera", "porch", "--source", "0"],
        ["analyzer"],
        ["dumb", "--camera", "gate", "--source", "0"],
    ],
    ids=["smart", "analyzer", "dumb-camera-source"],
)
def test_roles_needing_opencv_say_what_to_install(dumb_venv, broker, tmp_path, role):
    extra = [] if role[0] == "dumb" else ["--state-dir", str(tmp_path)]
    run = subprocess.run(
        [dumb_venv / "bin/roiwatch-agent", *role, "--broker", broker.url, *extra],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert run.returncode == 3
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert 'install ".[detect]"' in lines[0] and "OpenCV" in lines[0], lines[0]
