"""The packaged SSDLite person graph: its input/output names and hyper-parameters.

Shared by the runtime (person_model) and the build-time graph generator (roiwatch_dev/textgraph.py,
not shipped), so the runtime never imports the generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INPUT_NAME = "image"
OUTPUT_NAME = "detection_out"
# The ONNX graph (scripts/build-onnx-model): the preprocessed NCHW image in, the raw heads out.
ONNX_FILE = "ssdlite_person.onnx"
ONNX_INPUT = "image:0"
ONNX_BOXES = "box_encodings:0"  # (1, anchors, 1, 4): TF's (ty, tx, th, tw)
ONNX_LOGITS = "class_logits:0"  # (1, anchors, 2): background, person


@dataclass(frozen=True)
class SsdSpec:
    """Hyper-parameters of the TF graph (its pipeline config is not shipped)."""

    image_size: int = 300
    num_classes: int = 1
    num_layers: int = 6
    # Feature-map size (cells per side) of each layer for a 300x300 input.
    feature_maps: tuple[int, ...] = (19, 10, 5, 3, 2, 1)
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    # faster_rcnn_box_coder scale factors in TF's order (y, x, height, width).
    box_coder_scales: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    # The graph computes input * input_scale + input_offset on 0..255 RGB.
    input_scale: float = 2.0 / 255.0
    input_offset: float = -1.0
    iou_threshold: float = 0.6
    max_detections: int = 100
    # Not the model's 1e-8: only prunes candidates before NMS; callers apply their own.
    confidence_threshold: float = 0.01

    def scales(self) -> list[float]:
        """Anchor scale per layer, plus the 1.0 used to interpolate the last one."""
        step = (self.max_scale - self.min_scale) / (self.num_layers - 1)
        return [self.min_scale + step * i for i in range(self.num_layers)] + [1.0]

    def anchors(self, layer: int) -> list[tuple[float, float]]:
        """(scale, aspect ratio) of each anchor at one feature-map cell, in TF's order."""
        if layer == 0:
            # ssd_anchor_generator's reduce_boxes_in_lowest_layer (default true)
            return [(0.1, 1.0), (self.min_scale, 2.0), (self.min_scale, 0.5)]
        s = self.scales()
        return [(s[layer], ar) for ar in self.aspect_ratios] + [(math.sqrt(s[layer] * s[layer + 1]), 1.0)]

    def anchor_sizes(self, layer: int) -> tuple[list[float], list[float]]:
        """Anchor widths and heights in input pixels."""
        pairs = self.anchors(layer)
        widths = [sc * math.sqrt(ar) * self.image_size for sc, ar in pairs]
        heights = [sc / math.sqrt(ar) * self.image_size for sc, ar in pairs]
        return widths, heights

    def variances(self) -> list[float]:
        """OpenCV's variances, in its (x, y, width, height) order."""
        y, x, h, w = self.box_coder_scales
        return [1.0 / x, 1.0 / y, 1.0 / w, 1.0 / h]


SPEC = SsdSpec()
