"""ROI geometry in pixels: polygons scaled to a frame, masks and the feet-inside rule."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from .. import protocol


def person_min_score(sensitivity: int) -> float:
    """Sensitivity 1..100 -> minimum person confidence (0.55 at 50; higher = easier)."""
    return 0.75 - 0.004 * sensitivity


def motion_min_fraction(sensitivity: int) -> float:
    """Sensitivity 1..100 -> fraction of the ROI that must change to count as motion."""
    return 0.002 + 0.04 * (100 - sensitivity) / 100


@dataclass
class Roi:
    """One ROI of the config, with its pixel geometry for a given frame size."""

    config: protocol.RoiConfig
    polygon: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros((0, 2), np.int32))
    small_mask: npt.NDArray[np.uint8] | None = None
    small_area: int = 0
    bbox: tuple[int, int, int, int] = (0, 0, 0, 0)

    def fit(self, width: int, height: int, small_size: tuple[int, int]) -> None:
        """Scale the polygon to a frame of width x height and its motion mask to small_size."""
        pts = np.array(self.config.points, dtype=np.float64)
        self.polygon = np.round(pts * [width - 1, height - 1]).astype(np.int32)
        x, y, w, h = cv2.boundingRect(self.polygon)
        self.bbox = (x, y, w, h)
        sw, sh = small_size
        small_poly = np.round(pts * [sw - 1, sh - 1]).astype(np.int32)
        mask = np.zeros((sh, sw), np.uint8)
        cv2.fillPoly(mask, [small_poly], 255)
        self.small_mask = mask
        self.small_area = max(1, int(cv2.countNonZero(mask)))

    def contains_feet(self, box: tuple[int, int, int, int, float]) -> bool:
        """A person is in the ROI when the bottom centre of the box (the feet) is inside."""
        x, y, w, h, _ = box
        # y + h is the row below the box: the feet stand on its last row, y + h - 1. A box the
        # model clipped at the bottom of the frame then sits on a region drawn down to 1.0.
        feet = (float(x + w / 2), float(y + h - 1))
        return cv2.pointPolygonTest(self.polygon, feet, False) >= 0
