"""A test clip of real walkers in an empty street, made from vtest.avi.

The empty street is the per-pixel median of vtest.avi (walkers move, so the median has none).
Clips built from it show people appearing at a known time and leaving again.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_scene(
    src: Path, dst: Path, empty_s: float, people_s: float, tail_s: float, start: int = 100
) -> float:
    """Write empty street, then ``people_s`` of vtest from frame ``start``, then empty street.

    Returns the clip's length in seconds.
    """
    fps, frames, empty = read_street(src)
    h, w = empty.shape[:2]
    clip = (
        [empty] * int(empty_s * fps)
        + frames[start : start + int(people_s * fps)]
        + [empty] * int(tail_s * fps)
    )
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for frame in clip:
        writer.write(frame)
    writer.release()
    return len(clip) / fps


def read_street(src: Path) -> tuple[float, list[np.ndarray], np.ndarray]:
    """(frame rate, every frame, the empty street) of a video."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return fps, frames, np.median(np.stack(frames[::10]), axis=0).astype(np.uint8)
