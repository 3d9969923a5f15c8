"""Good and bad image uploads, as bytes, with the outcome :func:`skintag.images.decode_image` must give.

Each factory returns the bytes of one upload. Photos are derived from real images in ``../shared/data`` (a HAM10000
dermoscopic JPEG, a PAD-UFES-20 smartphone PNG); when that folder is missing the factory skips the test locally and
fails it under ``CI``, like the fixtures in ``tests/conftest.py``. Expensive factories are cached.

``CASES`` is the table shared by the image tests and the triage tests: ``(name, factory, expected)`` where
``expected`` is ``("ok", (width, height) or None)`` — the size of the decoded RGB image — or ``("error", reason)``
with the :class:`~skintag.errors.BadImageError` reason.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SKINTAG_TEST_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))

#: The real images the photo cases are made from (600×450 HAM10000 JPEG, 300×300 RGBA PAD-UFES-20 PNG).
HAM_IMAGE = "ham10000/images/ISIC_0024308.jpg"
PAD_IMAGE = "pad_ufes_20/images/PAT_108_161_423.png"

#: Marker painted into the stored top-left corner of the EXIF-rotated case (see :func:`exif_rotated_jpeg`).
MARKER_RGB = (255, 0, 0)
MARKER_SIZE = 40


def real_image_path(rel: str) -> Path:
    """Path of a real data image; skips (locally) or fails (CI) the calling test when it is missing."""
    path = SHARED_DATA / rel
    if path.is_file():
        return path
    import pytest

    msg = f"real image not found at {path} (set SKINTAG_TEST_DATA_DIR or place ../shared/data beside the repo)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@lru_cache(maxsize=1)
def ham_photo() -> Image.Image:
    """The real HAM10000 photo as an RGB image (600×450)."""
    with Image.open(real_image_path(HAM_IMAGE)) as im:
        return im.convert("RGB")


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------- refused uploads


def zero_bytes() -> bytes:
    return b""


def text_renamed_jpg() -> bytes:
    return b"Patient notes: lesion on left forearm, 6 mm, irregular border.\nThis is a text file named photo.jpg\n"


def pdf_document() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@lru_cache(maxsize=1)
def ham_jpeg() -> bytes:
    """The real HAM10000 JPEG, unmodified."""
    return real_image_path(HAM_IMAGE).read_bytes()


def truncated_jpeg() -> bytes:
    """The real HAM10000 JPEG cut to 40 % of its length (scan data missing)."""
    data = ham_jpeg()
    return data[: int(len(data) * 0.4)]


def jpeg_header_only() -> bytes:
    """Only the first 24 bytes of a JPEG: starts like a JPEG, cannot even be identified."""
    return ham_jpeg()[:24]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header declares ``width``×``height`` 8-bit RGB (its data is one compressed row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * min(width, 1024)), 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def decompression_bomb_png() -> bytes:
    """A 100-byte PNG declaring 100,000 × 100,000 pixels (30 GB decoded): Pillow's own bomb guard fires."""
    return png_declaring(100_000, 100_000)


def over_pixel_limit_png() -> bytes:
    """A PNG declaring 8,000 × 8,000 = 64 M pixels: under Pillow's guard, over SkinTag's 50 M-pixel limit."""
    return png_declaring(8_000, 8_000)


def too_large_file() -> bytes:
    """21 MiB starting like a JPEG: refused on size before any decoding."""
    return b"\xff\xd8\xff\xe0" + bytes(21 * 1024 * 1024)


def _frames(n: int, size: tuple[int, int] = (64, 48)) -> list[Image.Image]:
    colours = [(200, 60, 60), (60, 200, 60), (60, 60, 200), (220, 220, 40)]
    return [Image.new("RGB", size, colours[i % len(colours)]) for i in range(n)]


def animated_gif() -> bytes:
    f = _frames(3)
    return _encode(f[0], "GIF", save_all=True, append_images=f[1:], duration=100, loop=0)


def animated_png() -> bytes:
    f = _frames(2)
    return _encode(f[0], "PNG", save_all=True, append_images=f[1:], duration=100)


def animated_webp() -> bytes:
    f = _frames(2)
    return _encode(f[0], "WEBP", save_all=True, append_images=f[1:], duration=100, lossless=True)


# -------------------------------------------------------------------------------------------------- accepted uploads


def png_16bit() -> bytes:
    """A 16-bit grayscale PNG (mode I;16), 256×64: a horizontal ramp over the full 0-65535 range."""
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)
    arr = np.tile(ramp, (64, 1))
    im = Image.fromarray(arr)
    assert im.mode == "I;16"
    return _encode(im, "PNG")


@lru_cache(maxsize=1)
def cmyk_jpeg() -> bytes:
    """The real HAM10000 photo saved as a CMYK JPEG (600×450)."""
    return _encode(ham_photo().convert("CMYK"), "JPEG", quality=92)


@lru_cache(maxsize=1)
def photo_8000x6000() -> bytes:
    """The real HAM10000 photo upscaled to a 48-megapixel 8000×6000 JPEG (quality 85)."""
    big = ham_photo().resize((8000, 6000), Image.Resampling.BILINEAR)
    return _encode(big, "JPEG", quality=85)


@lru_cache(maxsize=1)
def photo_3000px_jpeg() -> bytes:
    """The real HAM10000 photo upscaled to a 3000×2250 JPEG (quality 90): above the 2048 px side limit, yet too small
    for reduced-scale JPEG decoding (1/2 would give 1500 px), so every decoder must do the same LANCZOS downscale."""
    return _encode(ham_photo().resize((3000, 2250), Image.Resampling.BICUBIC), "JPEG", quality=90)


@lru_cache(maxsize=1)
def exif_rotated_jpeg() -> bytes:
    """The real 600×450 HAM10000 photo stored unrotated with EXIF orientation 6 ("rotate 90° clockwise to view").

    A red ``MARKER_SIZE`` square is painted in the stored top-left corner; once the orientation is applied the
    image is 450×600 and the marker sits in the top-right corner.
    """
    im = ham_photo().copy()
    im.paste(MARKER_RGB, (0, 0, MARKER_SIZE, MARKER_SIZE))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(im, "JPEG", quality=95, exif=exif.tobytes())


@lru_cache(maxsize=1)
def mpo_jpeg() -> bytes:
    """A camera-style multi-picture JPEG (MPO): the real photo plus a second, smaller picture; the first is used."""
    photo = ham_photo()
    return _encode(photo, "MPO", save_all=True, append_images=[photo.resize((160, 120))], quality=90)


@lru_cache(maxsize=1)
def heic_photo() -> bytes:
    """The real HAM10000 photo encoded as HEIC by pillow-heif."""
    import pillow_heif

    heif = pillow_heif.from_pillow(ham_photo())
    buf = io.BytesIO()
    heif.save(buf, quality=85)
    return buf.getvalue()


@lru_cache(maxsize=1)
def webp_photo() -> bytes:
    return _encode(ham_photo(), "WEBP", quality=85)


def rgba_png_pad() -> bytes:
    """A real PAD-UFES-20 smartphone photo as published: an RGBA PNG (300×300)."""
    return real_image_path(PAD_IMAGE).read_bytes()


def rgba_png_transparent() -> bytes:
    """A 100×80 RGBA PNG: left half opaque brown, right half fully transparent (must come out white)."""
    arr = np.zeros((80, 100, 4), dtype=np.uint8)
    arr[:, :50] = (120, 80, 60, 255)
    arr[:, 50:] = (0, 0, 0, 0)
    return _encode(Image.fromarray(arr), "PNG")


@lru_cache(maxsize=1)
def palette_png() -> bytes:
    """The real HAM10000 photo quantised to a 64-colour palette PNG (mode P)."""
    return _encode(ham_photo().quantize(colors=64), "PNG")


@lru_cache(maxsize=1)
def grayscale_jpeg() -> bytes:
    return _encode(ham_photo().convert("L"), "JPEG", quality=90)


@lru_cache(maxsize=1)
def tiff_photo() -> bytes:
    return _encode(ham_photo(), "TIFF")


Expected = tuple[str, object]

CASES: list[tuple[str, Callable[[], bytes], Expected]] = [
    ("zero_bytes", zero_bytes, ("error", "empty")),
    ("text_renamed_jpg", text_renamed_jpg, ("error", "not_image")),
    ("pdf_document", pdf_document, ("error", "not_image")),
    ("truncated_jpeg", truncated_jpeg, ("error", "truncated")),
    ("jpeg_header_only", jpeg_header_only, ("error", "truncated")),
    ("decompression_bomb", decompression_bomb_png, ("error", "bomb")),
    ("over_pixel_limit", over_pixel_limit_png, ("error", "bomb")),
    ("too_large_file", too_large_file, ("error", "too_large")),
    ("animated_gif", animated_gif, ("error", "animated")),
    ("animated_png", animated_png, ("error", "animated")),
    ("animated_webp", animated_webp, ("error", "animated")),
    ("png_16bit", png_16bit, ("ok", (256, 64))),
    ("cmyk_jpeg", cmyk_jpeg, ("ok", (600, 450))),
    ("photo_8000x6000", photo_8000x6000, ("ok", (2048, 1536))),
    ("exif_rotated", exif_rotated_jpeg, ("ok", (450, 600))),
    ("mpo_jpeg", mpo_jpeg, ("ok", (600, 450))),
    ("heic", heic_photo, ("ok", (600, 450))),
    ("webp", webp_photo, ("ok", (600, 450))),
    ("rgba_png_pad", rgba_png_pad, ("ok", (300, 300))),
    ("rgba_png_transparent", rgba_png_transparent, ("ok", (100, 80))),
    ("palette_png", palette_png, ("ok", (600, 450))),
    ("grayscale_jpeg", grayscale_jpeg, ("ok", (600, 450))),
    ("tiff", tiff_photo, ("ok", (600, 450))),
    ("ham_jpeg", ham_jpeg, ("ok", (600, 450))),
]

CASE_NAMES = [name for name, _, _ in CASES]


def case(name: str) -> tuple[Callable[[], bytes], Expected]:
    """Factory and expected outcome of the case called ``name``."""
    for n, factory, expected in CASES:
        if n == name:
            return factory, expected
    raise KeyError(f"no image case {name!r}; have {CASE_NAMES}")


# ------------------------------------------------------------------------------------ decodable, but for the quality gate
#
# Each of these decodes; the quality gate (skintag.images.quality_report) must refuse it. ``GATE_CASES`` holds
# ``(name, factory, failing)``: ``failing`` maps each check that must fail to its verdict; every other check passes.


def noise_png() -> bytes:
    """600×450 uniform random RGB pixels (seeded): no photo at all."""
    rng = np.random.default_rng(0)
    return _encode(Image.fromarray(rng.integers(0, 256, (450, 600, 3), dtype=np.uint8)), "PNG")


@lru_cache(maxsize=1)
def blur12_jpeg() -> bytes:
    """The real HAM10000 photo under a Gaussian blur of radius 12 px (Pillow's GaussianBlur(12))."""
    from PIL import ImageFilter

    return _encode(ham_photo().filter(ImageFilter.GaussianBlur(12)), "JPEG", quality=92)


def flat_colour_png() -> bytes:
    """A 400×300 picture of one flat skin colour (210, 160, 130): skin-coloured, but no detail and no contrast."""
    return _encode(Image.new("RGB", (400, 300), (210, 160, 130)), "PNG")


@lru_cache(maxsize=1)
def tiny_jpeg() -> bytes:
    """The real HAM10000 photo shrunk to 20×15 px: smaller than any model's input."""
    return _encode(ham_photo().resize((20, 15), Image.Resampling.LANCZOS), "JPEG", quality=95)


def text_screenshot_png() -> bytes:
    """An 800×500 screenshot of black text on white (Pillow's default font at 22 px)."""
    from PIL import ImageDraw, ImageFont

    im = Image.new("RGB", (800, 500), "white")
    draw, font = ImageDraw.Draw(im), ImageFont.load_default(size=22)
    for i in range(14):
        draw.text((20, 20 + 33 * i), f"Patient notes: lesion on the left forearm, 6 mm, irregular border {i}",
                  fill="black", font=font)
    return _encode(im, "PNG")


@lru_cache(maxsize=1)
def no_skin_colour_jpeg() -> bytes:
    """The real HAM10000 photo with its red and blue channels swapped: a sharp, well exposed photo without one
    skin-coloured pixel."""
    return _encode(Image.fromarray(np.asarray(ham_photo())[..., ::-1].copy()), "JPEG", quality=92)


GATE_CASES: list[tuple[str, Callable[[], bytes], dict[str, str]]] = [
    ("noise", noise_png, {"noise": "reject"}),
    ("blur12", blur12_jpeg, {"blur": "reject"}),
    ("flat_colour", flat_colour_png, {"blur": "reject", "contrast": "reject"}),
    ("tiny", tiny_jpeg, {"min_side": "reject"}),
    ("text_screenshot", text_screenshot_png, {"skin": "reject", "brightness": "warn"}),
    ("no_skin_colour", no_skin_colour_jpeg, {"skin": "reject"}),
]
GATE_CASE_NAMES = [name for name, _, _ in GATE_CASES]

#: Quality verdict of each accepted upload in ``CASES`` under a model with a 32-px input (the tiny test bundle): the
#: real photos, their re-encodings and the two-tone transparency case pass; the smooth 16-bit grey ramp is refused
#: as blurred (its Laplacian variance is 0.03: no detail at all).
GATE: dict[str, str] = {name: "pass" for name, _, (kind, _) in CASES if kind == "ok"} | {"png_16bit": "reject"}
