"""Hostile uploads built in memory: the probe's CPU bomb (a progressive JPEG repeating its last scan) and memory bomb
(a tiny PNG declaring 7000×7000 RGBA pixels)."""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image


def scan_bomb(side: int = 7000, scans: int = 1000) -> bytes:
    """A ``side``×``side`` progressive JPEG whose last scan is repeated until it holds ``scans`` scans (SOS markers).

    The picture is a smooth gradient, so that each scan is a few hundred bytes; every repeat still makes libjpeg decode
    the whole picture once more (the probe measured 41 s for 1,000 scans at 7000×7000)."""
    ramp = np.linspace(60, 200, side, dtype=np.uint8)
    gray = Image.fromarray(np.broadcast_to(ramp, (side, side)).copy())
    buf = io.BytesIO()
    gray.convert("RGB").save(buf, "JPEG", progressive=True, quality=30)
    data = buf.getvalue()
    last = data.rfind(b"\xff\xda")
    body, tail = data[:last], data[last:-2]  # tail: the last scan without the EOI marker
    have = data.count(b"\xff\xda")  # entropy data stuffs 0xFF as 0xFF00, so this counts the SOS markers exactly
    return body + tail * (scans - have + 1) + b"\xff\xd9"


def big_rgba_png(side: int = 7000) -> bytes:
    """A ``side``×``side`` RGBA PNG of one colour, written by hand (zlib at level 9): about 205 KB at 7000 px, 196 MB
    of pixels once decoded."""
    row = b"\x00" + bytes((200, 150, 120, 255)) * side  # filter type 0, then the pixels
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (len(payload).to_bytes(4, "big") + kind + payload
                + zlib.crc32(kind + payload).to_bytes(4, "big"))

    ihdr = side.to_bytes(4, "big") * 2 + bytes((8, 6, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
