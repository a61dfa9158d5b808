"""Splitting an MJPEG byte stream into pictures (the dumb camera's stdin path)."""

from __future__ import annotations

import io

import cv2
import numpy as np

from roiwatch_agent.video.mjpeg_stream import split_jpegs


def jpeg(value: int, size: int = 32) -> bytes:
    img = np.full((size, size, 3), value, np.uint8)
    cv2.putText(img, str(value), (2, size - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    return cv2.imencode(".jpg", img)[1].tobytes()


class Trickle(io.RawIOBase):
    """A pipe that hands out a few bytes at a time, as a real one may."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        out = self.data[self.pos : self.pos + min(n, self.step)]
        self.pos += len(out)
        return out


def test_pictures_come_out_whole_whatever_the_chunking():
    pictures = [jpeg(v) for v in (10, 80, 160, 240)]
    stream = b"".join(pictures)
    for step in (1, 7, 500, 1 << 20):
        assert list(split_jpegs(Trickle(stream, step), 1 << 20, chunk=step)) == pictures


def test_an_end_marker_inside_a_thumbnail_does_not_cut_the_picture():
    main = jpeg(100)
    thumb = jpeg(200, 8)  # an EXIF-like APP1 segment holding a whole JPEG, EOI included
    app1 = b"\xff\xe1" + (len(thumb) + 2).to_bytes(2, "big") + thumb
    with_thumb = main[:2] + app1 + main[2:]
    out = list(split_jpegs(io.BytesIO(with_thumb + jpeg(50)), 1 << 20))
    assert out == [with_thumb, jpeg(50)]
    assert cv2.imdecode(np.frombuffer(out[0], np.uint8), cv2.IMREAD_COLOR) is not None


def test_junk_and_oversized_pictures_are_skipped():
    good = jpeg(30)
    huge = jpeg(60, 512)
    stream = b"noise" + huge + b"\xff\x00more noise" + good + b"\xff\xd8\xff\xe0 cut off"
    assert list(split_jpegs(io.BytesIO(stream), max_bytes=len(good) + 100)) == [good]
