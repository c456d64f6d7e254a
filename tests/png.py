"""A small PNG reader for tests (non-interlaced, 8-bit RGB/RGBA/grey or 1-bit grey): enough to
look at pixels of a QR code or a browser screenshot without an imaging library."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type → samples per pixel


@dataclass
class Png:
    width: int
    height: int
    depth: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        """Samples of one pixel; a 1-bit grey pixel is (0,) black or (255,) white."""
        row = self.rows[y]
        if self.depth == 1:
            return (255 if (row[x // 8] >> (7 - x % 8)) & 1 else 0,)
        return tuple(row[x * self.channels : (x + 1) * self.channels])


def read_png(data: bytes) -> Png:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert interlace == 0 and depth in (1, 8) and colour in _CHANNELS
    channels = _CHANNELS[colour]
    bpp = max(1, channels * depth // 8)
    stride = (width * channels * depth + 7) // 8
    raw = zlib.decompress(idat)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for i in range(height):
        start = i * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for j in range(stride):  # undo the row filter
            a = line[j - bpp] if j >= bpp else 0
            b = previous[j]
            c = previous[j - bpp] if j >= bpp else 0
            p = a + b - c
            paeth = min((abs(p - a), a), (abs(p - b), b), (abs(p - c), c), key=lambda t: t[0])[1]
            line[j] = (line[j] + (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF
        rows.append(bytes(line))
        previous = line
    return Png(width, height, depth, channels, rows)
