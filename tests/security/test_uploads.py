"""Hostile uploads get an exact outcome within a budget: the scan bomb is refused from its header, the big RGBA PNG is
decoded reduced in bounded memory (measured in a child process), the time-bounded decoder stops a slow decode, and an
image one pixel high is graded, never a traceback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skintag.errors import BadImageError
from skintag.images import (
    IntakeLimits,
    _flatten_alpha,
    decode_image,
    decode_image_bounded,
    intake,
    jpeg_structure,
)
from tests.security.hostile import big_rgba_png, scan_bomb

REPO = Path(__file__).resolve().parents[2]


def test_scan_bomb_is_refused_from_its_header():
    bomb = scan_bomb()
    info = jpeg_structure(bomb)
    assert (info["scans"], info["width"], info["height"], info["progressive"]) == (1000, 7000, 7000, 1)
    t0 = time.perf_counter()
    with pytest.raises(BadImageError) as err:
        decode_image(bomb)
    elapsed = time.perf_counter() - t0
    print(f"scan bomb ({len(bomb):,} bytes, 1,000 scans, 7000×7000) refused in {elapsed * 1e3:.1f} ms")
    assert err.value.reason == "too_complex"
    assert "1,000 JPEG scans" in str(err.value)


def test_ordinary_progressive_jpeg_is_accepted():
    buf = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 150, 120)).save(buf, "JPEG", progressive=True)
    info = jpeg_structure(buf.getvalue())
    assert info["scans"] == 10  # libjpeg's progressive script for colour
    assert info["coefficient_bytes"] == (375 * 250 + 2 * 188 * 125) * 64 * 2  # 4:2:0 blocks, 64 int16 each
    assert decode_image(buf.getvalue()).image.size == (2048, 1365)


def test_decoded_bytes_are_capped_before_allocation():
    with pytest.raises(BadImageError) as err:
        decode_image(big_rgba_png(3000), max_decode_bytes=30 * 2**20)  # 3000² × 4 bytes = 34.3 MiB
    assert err.value.reason == "bomb"
    assert "34 MiB of memory" in str(err.value)


#: The child's own peak resident memory, in KiB: ``VmHWM`` of /proc/self/status, the high-water mark of this process's
#: memory map. (``getrusage(...).ru_maxrss`` would not do: Linux carries the parent's peak into a child across fork
#: and exec, so a child of a large pytest process starts with the parent's figure.)
PEAK_KIB = """
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""

_CHILD = PEAK_KIB + """
import json, sys
sys.path.insert(0, {repo!r})
from skintag.images import decode_image
from tests.security.hostile import big_rgba_png
data = big_rgba_png()
before = peak_kib()
out = decode_image(data)
after = peak_kib()
print(json.dumps({{"extra_mib": (after - before) / 1024, "size": out.image.size, "pixel": out.image.getpixel((9, 9)),
                  "n_bytes": len(data), "composited": out.alpha_composited}}))
"""


def test_big_rgba_png_decodes_in_bounded_memory():
    done = subprocess.run([sys.executable, "-c", _CHILD.format(repo=str(REPO))], capture_output=True, text=True,
                          check=True, timeout=300)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"7000×7000 RGBA PNG ({got['n_bytes']:,} bytes): {got['extra_mib']:.0f} MiB extra peak memory")
    assert 190_000 < got["n_bytes"] < 220_000
    assert got["size"] == [2048, 2048] and got["pixel"] == [200, 150, 120] and got["composited"]
    # measured 258 MiB here (the decoded RGBA is 187 MiB); before the strip reduction: 938 MiB
    assert got["extra_mib"] < 400


@pytest.mark.parametrize("mode", ["RGBA", "LA", "I;16", "P"])
def test_strip_reduction_equals_whole_image_conversion(mode):
    rng = np.random.default_rng(0)
    h, w = 700, 4500  # factor 2 against max_side 2048; strips of 256 rows
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
        whole = Image.fromarray(np.clip(np.rint(np.asarray(im) * (255 / 65535)), 0, 255).astype(np.uint8)).convert("RGB")
    elif mode == "P":
        im = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).quantize(16)
        whole = im.convert("RGB")
    else:
        bands = 4 if mode == "RGBA" else 2
        im = Image.fromarray(rng.integers(0, 256, (h, w, bands), dtype=np.uint8), mode)
        whole = _flatten_alpha(im)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = decode_image(buf.getvalue())
    expected = whole.reduce(2).resize(out.image.size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    assert out.original_mode == mode and out.downscaled
    assert np.array_equal(np.asarray(out.image), np.asarray(expected))


def test_bounded_decode_matches_and_times_out():
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 120, 100)).save(buf, "JPEG")
    data = buf.getvalue()
    local, child = decode_image(data), decode_image_bounded(data)
    assert child.describe() == local.describe()
    assert child.image.tobytes() == local.image.tobytes()
    with pytest.raises(BadImageError) as err:
        decode_image_bounded(data, timeout_s=0.001)  # a Python child cannot even start in 1 ms
    assert err.value.reason == "timeout"
    with pytest.raises(BadImageError) as err:
        decode_image_bounded(scan_bomb(side=2000, scans=200), limits=IntakeLimits())
    assert err.value.reason == "too_complex"


@pytest.mark.parametrize("size", [(400, 1), (1, 400), (1, 1), (5000, 2)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_image_one_pixel_high_is_graded_not_a_traceback(fmt, size):
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 150, 120)).save(buf, fmt)
    got = intake(buf.getvalue())
    assert not got.accepted
    assert got.quality["min_side"].verdict == "reject"
