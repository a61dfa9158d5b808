"""Split a stream of concatenated JPEGs (MJPEG, e.g. ``rpicam-vid --codec mjpeg -o -``) into pictures.

Standard library only: the dumb camera forwards the camera's own JPEGs without decoding them,
so it never loads OpenCV or numpy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

SOI = b"\xff\xd8"
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # markers without a length field


def _end_of_jpeg(buf: bytes | bytearray, start: int) -> int | None:
    """Index just past the EOI of the JPEG at ``start``; None if incomplete; -1 if corrupt.

    Segments are skipped by their length (so an EOI inside an EXIF thumbnail is not taken for
    the end); after a start-of-scan the entropy-coded data is scanned for the next marker.
    """
    i = start + 2
    n = len(buf)
    while i + 2 <= n:
        if buf[i] != 0xFF:
            return -1
        marker = buf[i + 1]
        if marker == 0xFF:
            i += 1
        elif marker == 0xD9:
            return i + 2
        elif marker in _STANDALONE:
            i += 2
        else:
            if i + 4 > n:
                return None
            length = int.from_bytes(buf[i + 2 : i + 4], "big")
            if length < 2:
                return -1
            i += 2 + length
            if marker == 0xDA:  # entropy-coded data: up to the next real marker
                while True:
                    i = buf.find(b"\xff", i)
                    if i < 0 or i + 1 >= n:
                        return None
                    nxt = buf[i + 1]
                    if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                        i += 2
                        continue
                    break
    return None


class Readable(Protocol):
    """A pipe, file or HTTP response; its ``read1`` (what has come, no waiting) if it has one."""

    def read(self, size: int, /) -> bytes | None: ...


def split_jpegs(stream: Readable, max_bytes: int, chunk: int = 65536) -> Iterator[bytes]:
    """Yield each complete JPEG of the stream; junk between pictures and oversized ones are skipped."""
    buf = bytearray()
    read = getattr(stream, "read1", stream.read)
    while True:
        data = read(chunk)
        if not data:
            return
        buf += data
        while True:
            start = buf.find(SOI)
            if start < 0:
                del buf[:-1]  # keep a lone 0xFF that may start the next SOI
                break
            end = _end_of_jpeg(buf, start)
            if end is None:
                if len(buf) - start > max_bytes:
                    del buf[: start + 2]  # too large to be a picture we may send: resynchronise
                    continue
                del buf[:start]
                break
            if end < 0:
                del buf[: start + 2]
                continue
            if end - start <= max_bytes:
                yield bytes(buf[start:end])
            del buf[:end]
