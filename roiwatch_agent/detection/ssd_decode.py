"""The SSD head in numpy: anchors, box decoding and NMS, as OpenCV's DetectionOutput does them.

The ONNX graph ends at the raw box encodings and class logits; this turns them into the same
detections that the text graph's ``DetectionOutput`` layer gives on the OpenCV path: sigmoid,
faster-RCNN box decoding (scales 10/10/5/5), clipping to the image, greedy NMS at 0.6 over the
best 100 candidates above the confidence threshold, at most 100 kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .ssd_spec import SPEC, SsdSpec


def anchors(spec: SsdSpec = SPEC) -> npt.NDArray[np.float32]:
    """(yc, xc, h, w) per anchor, normalised, in TF's order (layer, row, column, anchor)."""
    rows: list[npt.NDArray[np.float64]] = []
    for layer, cells in enumerate(spec.feature_maps):
        sizes = np.array([(sc / np.sqrt(ar), sc * np.sqrt(ar)) for sc, ar in spec.anchors(layer)])
        centre = (np.arange(cells) + 0.5) / cells
        yc, xc = np.meshgrid(centre, centre, indexing="ij")
        grid = np.stack([yc.ravel(), xc.ravel()], 1)  # (cells*cells, 2), row-major
        per_cell = np.concatenate([np.repeat(grid, len(sizes), 0), np.tile(sizes, (cells * cells, 1))], 1)
        rows.append(per_cell)
    return np.concatenate(rows).astype(np.float32)


def _iou(box: npt.NDArray[np.float32], others: npt.NDArray[np.float32]) -> npt.NDArray[np.floating[Any]]:
    """IoU of one (x1, y1, x2, y2) box with each of others; 0/0 is NaN (never <= a threshold)."""
    w = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    h = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou: npt.NDArray[np.floating[Any]] = inter / (area + areas - inter)
    return iou


def decode(
    box_encodings: npt.NDArray[np.float32],
    class_logits: npt.NDArray[np.float32],
    priors: npt.NDArray[np.float32],
    spec: SsdSpec = SPEC,
) -> npt.NDArray[np.float32]:
    """Person detections as rows (score, x1, y1, x2, y2), normalised to 0..1, best first.

    ``box_encodings``: (anchors, 4) in TF's (ty, tx, th, tw); ``class_logits``: (anchors, 2);
    ``priors``: :func:`anchors`.
    """
    loc = box_encodings.reshape(-1, 4).astype(np.float32)
    logits = class_logits.reshape(len(loc), -1).astype(np.float32)
    scores = 1.0 / (1.0 + np.exp(-logits[:, 1]))
    # OpenCV keeps scores strictly above the threshold, sorted stably, best top_k of them.
    candidates = np.flatnonzero(scores > spec.confidence_threshold)
    order = candidates[np.argsort(-scores[candidates], kind="stable")][: spec.max_detections]
    if len(order) == 0:
        return np.zeros((0, 5), np.float32)
    sy, sx, sh, sw = spec.box_coder_scales
    ty, tx, th, tw = loc[order].T
    yc0, xc0, h0, w0 = priors[order].T
    yc = ty / sy * h0 + yc0
    xc = tx / sx * w0 + xc0
    h = np.exp(th / sh) * h0
    w = np.exp(tw / sw) * w0
    boxes = np.clip(np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], 1), 0.0, 1.0)
    kept: list[int] = []
    for i in range(len(order)):
        if kept and not np.all(_iou(boxes[i], boxes[kept]) <= spec.iou_threshold):
            continue
        kept.append(i)
        if len(kept) == spec.max_detections:
            break
    detections: npt.NDArray[np.floating[Any]] = np.concatenate([scores[order[kept], None], boxes[kept]], 1)
    return detections.astype(np.float32)
