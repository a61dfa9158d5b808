"""Per-frame detection: motion gate, person check where needed, ROI ON/OFF with off_delay.

Pure computation (no MQTT, no processes), so tests and the benchmark drive it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import cv2
from cv2.typing import MatLike

from .. import protocol
from .motion import MotionGate
from .roi import Roi, motion_min_fraction, person_min_score

Box = tuple[int, int, int, int, float]

# While a ROI is ON it only needs confirming; the person model runs at most this often for it.
CONFIRM_INTERVAL = 1.0
MIN_CROP = 160
SNAPSHOT_QUALITY = 80


class PersonDetector(Protocol):
    backend: str

    def detect(self, image_bgr: MatLike, min_score: float) -> list[Box]: ...


@dataclass
class RoiState:
    on: bool = False
    last_seen: float = float("-inf")
    last_check: float = float("-inf")
    boxes: list[Box] = field(default_factory=list)


class HeldState(NamedTuple):
    """What one region's state is handed on as, from one detection process to the next."""

    on: bool
    last_seen: float
    boxes: tuple[Box, ...] = ()


@dataclass
class FrameResult:
    changes: list[tuple[str, bool]]
    any_on: bool
    snapshot: bytes | None = None
    inferences: int = 0


class Pipeline:
    """Detection for one camera config; feed it frames with their timestamps."""

    def __init__(
        self,
        config: protocol.CameraConfig,
        person: PersonDetector | None,
        gated: bool = True,
        held: dict[str, HeldState] | None = None,
    ) -> None:
        """``gated=False`` runs the person model on every full frame (the benchmark's baseline).

        ``held``: the states the previous detection process had, by region id. A region held ON
        stays ON until its off_delay runs out from its last-seen time, and is checked by the
        person model on the first frame, moving or not (a person standing still stays ON).
        """
        self.gated = gated
        self.rois = [Roi(item) for item in config.rois]
        self.person = person
        self.motion = MotionGate()
        self.state = {roi.config.id: RoiState() for roi in self.rois}
        self._held_clock = False
        for roi_id, was in (held or {}).items():
            if roi_id in self.state and was.on:
                self.state[roi_id] = RoiState(on=True, last_seen=was.last_seen, boxes=list(was.boxes))
                self._held_clock = True
        self._frame_size: tuple[int, int] | None = None
        self.inferences = 0

    def held(self) -> dict[str, HeldState]:
        """Every region's state, to hand on to the next detection process."""
        return {rid: HeldState(st.on, st.last_seen, tuple(st.boxes)) for rid, st in self.state.items()}

    def _fit(self, width: int, height: int) -> None:
        small = self.motion.size_for(width, height)
        for roi in self.rois:
            roi.fit(width, height, small)
        self._frame_size = (width, height)

    def process(self, frame: MatLike, now: float) -> FrameResult:
        if not self.rois:  # a new camera before the user drew a region: frames only feed the preview
            return FrameResult([], False)
        h, w = frame.shape[:2]
        if self._frame_size != (w, h):
            self._fit(w, h)
        if self._held_clock:
            # A clock that started again (a file replayed from its start): seen means now.
            self._held_clock = False
            for st in self.state.values():
                st.last_seen = min(st.last_seen, now)
        mask = self.motion.update(frame)

        to_check: list[Roi] = []
        for roi in self.rois:
            st = self.state[roi.config.id]
            assert roi.small_mask is not None
            moved = cv2.countNonZero(
                cv2.bitwise_and(mask, roi.small_mask)
            ) / roi.small_area >= motion_min_fraction(roi.config.sensitivity)
            if not roi.config.person:
                if moved:
                    st.last_seen = now
                continue
            confirm_every = min(CONFIRM_INTERVAL, roi.config.off_delay / 2)
            if not self.gated:
                to_check.append(roi)
            elif st.on:
                if now - st.last_check >= confirm_every:
                    to_check.append(roi)
            elif moved:
                to_check.append(roi)

        boxes: list[Box] = []
        inferences = 0
        if to_check and self.person is not None:
            crop = self._crop_region(to_check, mask, w, h) if self.gated else (0, 0, w, h)
            if crop is not None:
                x0, y0, x1, y1 = crop
                min_score = min(person_min_score(r.config.sensitivity) for r in to_check)
                found = self.person.detect(frame[y0:y1, x0:x1], min_score)
                boxes = [(bx + x0, by + y0, bw, bh, s) for bx, by, bw, bh, s in found]
                inferences = 1
                self.inferences += 1
            for roi in to_check:
                st = self.state[roi.config.id]
                needed = person_min_score(roi.config.sensitivity)
                mine = [b for b in boxes if b[4] >= needed and roi.contains_feet(b)]
                if mine:
                    # A miss is re-checked on the next frame; only a hit earns the slower confirm rate.
                    st.last_seen = st.last_check = now
                    st.boxes = mine

        changes: list[tuple[str, bool]] = []
        for roi in self.rois:
            st = self.state[roi.config.id]
            on = now - st.last_seen <= roi.config.off_delay
            if on != st.on:
                st.on = on
                changes.append((roi.config.id, on))
        turned_on = [rid for rid, on in changes if on]
        snapshot = self.snapshot(frame, boxes) if turned_on else None
        return FrameResult(changes, any(s.on for s in self.state.values()), snapshot, inferences)

    def _crop_region(
        self, rois: list[Roi], mask: MatLike, w: int, h: int
    ) -> tuple[int, int, int, int] | None:
        """The part of the frame worth showing the person model: motion and last persons in the ROIs."""
        regions: list[tuple[int, int, int, int]] = []
        for roi in rois:
            assert roi.small_mask is not None
            rx, ry, rw, rh = roi.bbox
            for mx, my, mw, mh in self.motion.boxes(cv2.bitwise_and(mask, roi.small_mask)):
                regions.append((mx, my, mx + mw, my + mh))
            st = self.state[roi.config.id]
            if st.on:
                regions.extend((bx, by, bx + bw, by + bh) for bx, by, bw, bh, _ in st.boxes)
            if not regions:
                regions.append((rx, ry, rx + rw, ry + rh))
        x0 = min(r[0] for r in regions)
        y0 = min(r[1] for r in regions)
        x1 = max(r[2] for r in regions)
        y1 = max(r[3] for r in regions)
        # Motion of a walking person covers only part of them: pad, and keep a sane aspect.
        bw, bh = x1 - x0, y1 - y0
        pad_x, pad_y = max(bw // 4, 8), max(bh // 4, 8)
        x0, x1 = x0 - pad_x, x1 + pad_x
        y0, y1 = y0 - pad_y, y1 + pad_y
        bw, bh = x1 - x0, y1 - y0
        side_w = max(bw, bh // 2, MIN_CROP)
        side_h = max(bh, bw // 2, MIN_CROP)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        x0, x1 = _span(cx, side_w, w)
        y0, y1 = _span(cy, side_h, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        return x0, y0, x1, y1

    def snapshot(self, frame: MatLike, boxes: list[Box]) -> bytes | None:
        """JPEG of the frame with every ROI outlined (red when ON) and person boxes drawn."""
        img = frame.copy()
        for roi in self.rois:
            colour = (0, 0, 255) if self.state[roi.config.id].on else (0, 200, 255)
            cv2.polylines(img, [roi.polygon], True, colour, 2)
            x, y = roi.polygon[0]
            label_at = (int(x) + 4, int(y) + 16)
            cv2.putText(img, roi.config.name, label_at, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
        for x, y, bw, bh, score in boxes:
            cv2.rectangle(img, (x, y), (x + bw, y + bh), (0, 255, 0), 2)
            cv2.putText(
                img, f"{score:.2f}", (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1
            )
        ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_QUALITY])
        return jpeg.tobytes() if ok else None


def _span(centre: int, size: int, limit: int) -> tuple[int, int]:
    size = min(size, limit)
    start = max(0, min(centre - size // 2, limit - size))
    return start, start + size
