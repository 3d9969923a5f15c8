"""Image intake: decode an upload into an RGB picture, refuse what cannot be trusted, and grade its quality.

This module owns everything between "bytes from a user" and "a PIL RGB image the model may see":

* :func:`intake` is the one call for an upload: decode (:func:`decode_image`), optional crop, quality grades, as a
  frozen :class:`Intake`. :func:`load_rgb` is the decoder alone, shared by serving, embedding and training, so a
  photo reaches the model as the same pixels whichever path it takes (:func:`to_rgb` puts an in-memory PIL image
  through the same steps).
* :func:`decode_image` accepts JPEG, PNG, WebP, HEIC/HEIF (through pillow-heif), AVIF, TIFF, BMP and single-frame GIF,
  applies the EXIF orientation, converts every colour mode to RGB, downscales large photos, and refuses empty files,
  non-images, truncated/corrupt files, oversize files, decompression bombs and animations with a
  :class:`~skintag.errors.BadImageError` whose ``reason`` is machine-readable and whose message says what to do.
  Nothing is ever written to disk.
* :func:`quality_report` measures size, sharpness, pixel noise, skin colour, brightness and contrast and grades each
  pass / warn / reject; :func:`draw_crop_box` outlines a crop on the photo.
* :func:`ita_degrees` / :func:`ita_category` estimate skin tone as the individual typology angle (ITA) from CIELAB.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from skintag.errors import BadImageError, ConfigError

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 20 * MiB
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_SIDE = 2048
#: Most entropy-coded scans a JPEG may hold. A baseline JPEG has 1 per colour layout (1-3), libjpeg's progressive
#: script 10, mozjpeg's optimised scripts up to about 20. Each scan is decoded over the whole picture, so a file that
#: repeats one scan a thousand times (267 KB) costs a thousand decodes: refused as ``"too_complex"`` from the header.
DEFAULT_MAX_SCANS = 100
#: Most scans × declared pixels a JPEG may cost (libjpeg decodes every scan at full resolution, whatever the draft
#: scale). Measured here: about 0.84 ns per scan-pixel, so this budget is about 1.7 s of decoding.
DEFAULT_MAX_SCAN_PIXELS = 2_000_000_000
#: Most bytes the decoded pixels may occupy in memory (Pillow's storage: 4 bytes per pixel for RGB, RGBA, CMYK, I, F;
#: 2 for I;16; 1 for L and P), plus a progressive JPEG's whole-image coefficient buffer. Checked before allocation.
DEFAULT_MAX_DECODE_BYTES = 256 * MiB

#: Pillow formats decode_image opens. Anything else (EPS, PSD, PDF, ...) is refused before a decoder runs,
#: which keeps rarely used and riskier decoders (EPS shells out to Ghostscript) away from uploads.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF", "TIFF", "BMP", "GIF")
#: Formats in which more than one frame means an animation (refused) rather than extra pictures of one photo.
_ANIMATION_FORMATS = {"GIF", "PNG", "WEBP", "TIFF"}

_HINT_FORMATS = "Upload a still photo as JPEG, PNG, WebP or HEIC."

# Leading bytes of the formats we accept: a file that starts like one of them but cannot be decoded is reported as
# truncated/corrupt rather than "not an image".
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"WEBP", 8, "WEBP"),
    (b"ftyp", 4, "HEIF/AVIF"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
)

_heif_registered = False


def _register_heif() -> None:
    """Register pillow-heif's opener once (primary image only: no thumbnails, depth or auxiliary images)."""
    global _heif_registered
    if _heif_registered:
        return
    import pillow_heif

    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    _heif_registered = True


def _sniff(data: bytes) -> str | None:
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


@dataclass(frozen=True)
class DecodedImage:
    """An accepted upload, ready for quality checks and the model.

    Attributes
    ----------
    image : the picture as a PIL image in mode ``"RGB"``, upright, with its longer side at most ``max_side``.
    format : the container format Pillow detected (``"JPEG"``, ``"PNG"``, ``"WEBP"``, ``"HEIF"``, ``"MPO"`` for
        camera JPEGs carrying a multi-picture index, ...); ``"PIL"`` for an in-memory image without a format.
    original_mode : Pillow's mode of the stored pixels (``"RGBA"``, ``"I;16"``, ``"CMYK"``, ...).
    original_size : ``(width, height)`` as stored in the file, before orientation and any downscaling.
    exif_transposed : True when an EXIF orientation other than "normal" was applied.
    downscaled : True when the picture was reduced to fit ``max_side`` (JPEGs may also be decoded at reduced scale).
    n_bytes : size of the uploaded file (0 for an in-memory PIL image).
    sha256 : hex SHA-256 of the uploaded bytes (use it in cache keys); for an in-memory PIL image, of its mode, size
        and pixels.
    alpha_composited : True when transparency was flattened onto white.
    decoded_size : ``(width, height)`` at which the pixels were actually decoded (smaller than ``original_size`` when a
        large JPEG was decoded at reduced scale), before orientation and the final resize.
    """

    image: Image.Image
    format: str
    original_mode: str
    original_size: tuple[int, int]
    exif_transposed: bool
    downscaled: bool
    n_bytes: int
    sha256: str
    alpha_composited: bool = False
    decoded_size: tuple[int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def describe(self) -> dict[str, object]:
        """JSON-friendly metadata (everything except the pixels)."""
        return {
            "format": self.format,
            "original_mode": self.original_mode,
            "original_size": list(self.original_size),
            "size": list(self.image.size),
            "exif_transposed": self.exif_transposed,
            "downscaled": self.downscaled,
            "alpha_composited": self.alpha_composited,
            "decoded_size": list(self.decoded_size) if self.decoded_size else None,
            "n_bytes": self.n_bytes,
            "sha256": self.sha256,
        }


ImageSource = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO


def _read_source(data: ImageSource, max_bytes: int) -> tuple[bytes, str]:
    """Return (bytes, label) from bytes, a path or a binary file object, refusing oversize input before reading it."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), "upload"
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise BadImageError(f"Cannot read image file {path}: {exc.strerror or exc}.", reason="not_found") from exc
        if size > max_bytes:
            raise BadImageError(_too_large_msg(size, max_bytes, str(path)), reason="too_large")
        return path.read_bytes(), str(path)
    if hasattr(data, "getvalue"):  # io.BytesIO, Streamlit's UploadedFile
        return bytes(data.getvalue()), str(getattr(data, "name", "upload"))
    if hasattr(data, "read"):
        raw = data.read(max_bytes + 1)
        return bytes(raw), str(getattr(data, "name", "upload"))
    raise TypeError(f"decode_image expects bytes, a path or a binary file object, not {type(data).__name__}")


def _too_large_msg(n: int, max_bytes: int, label: str) -> str:
    return (
        f"The file {label} is {n / MiB:.1f} MiB, above the {max_bytes / MiB:.0f} MiB limit. "
        "Export or resend the photo at a lower resolution (a few megapixels is plenty) and try again."
    )


def _to_8bit(arr: np.ndarray, mode: str, extrema: tuple[float, float] | None = None) -> np.ndarray:
    """Scale a single-channel integer/float array to uint8 without clipping its range away.

    16-bit data (``I;16*``, or ``I`` holding values up to 65535) is scaled by 255/65535 so that full-range 16-bit
    white stays white; 32-bit integer data beyond 16 bits and float data outside [0, 1] are min-max stretched.
    """
    a = arr.astype(np.float64)
    if extrema is not None:
        lo, hi = extrema
    else:
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        scaled = a * (255.0 / 65535.0)
    elif mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = a * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        scaled = a
    elif mode != "F" and lo >= 0.0 and hi <= 65535.0:
        scaled = a * (255.0 / 65535.0)
    else:
        scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _flatten_alpha(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _to_rgb(im: Image.Image, extrema: tuple[float, float] | None = None) -> tuple[Image.Image, bool]:
    """Convert any Pillow mode to RGB. Returns (image, alpha_composited).

    Transparency (RGBA, LA, PA, P or L with a transparent colour) is composited onto **white**: phone apps and PAD-UFES-20
    export lesion photos as RGBA with (almost always) opaque alpha, and a cut-out lesion on white is closer to how a
    clinician would view it than on black, which would read as a dark lesion border to the model.
    """
    mode = im.mode
    if mode == "RGB":
        return im, False
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in im.info):
        return _flatten_alpha(im), True
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = _to_8bit(np.asarray(im), mode, extrema)
        return Image.fromarray(gray).convert("RGB"), False
    # P, L, 1, CMYK (Pillow honours the Adobe inverted-CMYK marker when decoding), YCbCr, HSV...
    try:
        return im.convert("RGB"), False
    except ValueError as exc:
        raise BadImageError(
            f"The image uses the colour mode {mode!r}, which cannot be converted to RGB. {_HINT_FORMATS}",
            reason="not_image",
        ) from exc


def _target_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    w, h = size
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def decode_image(
    data: ImageSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    max_scans: int = DEFAULT_MAX_SCANS,
    max_scan_pixels: int = DEFAULT_MAX_SCAN_PIXELS,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> DecodedImage:
    """Decode an uploaded photo into an upright RGB image, or refuse it with a reason.

    Parameters
    ----------
    data : the file's bytes, a path to it, or a binary file object (e.g. Streamlit's ``UploadedFile``).
    max_bytes : files larger than this are refused (``reason="too_large"``) before any decoding.
    max_pixels : images declaring more pixels than this are refused as decompression bombs (``reason="bomb"``) before
        their pixels are decoded. Pillow's own global guard (``Image.MAX_IMAGE_PIXELS``) applies as well.
    max_side : the returned image's longer side is at most this (aspect ratio kept; LANCZOS). Large JPEGs are decoded
        directly at 1/2, 1/4 or 1/8 scale (libjpeg DCT scaling, Pillow's draft mode) when that still leaves at least
        ``max_side`` pixels, which makes a 48-megapixel photo decode in a fraction of the time. Other large pictures
        are reduced by an integer factor strip by strip (:meth:`PIL.Image.Image.reduce`), never converted whole.
    max_scans, max_scan_pixels : a JPEG's scans are counted from its markers before decoding; more scans than
        ``max_scans``, or scans × declared pixels above ``max_scan_pixels``, is refused (``reason="too_complex"``).
    max_decode_bytes : the memory the decoded pixels would take (declared pixels × Pillow's bytes per pixel of the
        mode, after JPEG draft scaling, plus a progressive JPEG's coefficient buffer) is checked before allocation;
        above it the file is refused (``reason="bomb"``).

    Returns
    -------
    DecodedImage with the RGB picture and what was done to it.

    Raises
    ------
    BadImageError
        ``reason`` is one of ``"empty"``, ``"not_image"`` (not an image or an unsupported format), ``"truncated"``
        (a known format whose data is cut short or corrupt), ``"too_large"``, ``"bomb"``, ``"animated"`` or
        ``"not_found"`` (a path that cannot be read), ``"too_complex"`` (a JPEG with more scans, or scans × pixels,
        than ``max_scans`` / ``max_scan_pixels``: a CPU bomb) or, from :func:`decode_image_bounded`, ``"timeout"``.

    Notes
    -----
    Policy on animations: a lesion photo must be a still. An animated GIF, animated PNG (APNG), animated WebP or a
    multi-page TIFF is refused (``"animated"``) rather than silently reduced to its first frame, because nothing says
    the first frame shows the lesion. HEIF containers holding several top-level images (bursts) and camera JPEGs with a
    multi-picture index (MPO) are accepted: their primary image is the photo the camera shows, and it is the one used.

    EXIF orientation is applied with :func:`PIL.ImageOps.exif_transpose`; HEIF rotation is applied by libheif.
    The input is only ever held in memory.
    """
    raw, label = _read_source(data, max_bytes)
    n = len(raw)
    if n == 0:
        raise BadImageError(f"The file {label} is empty (0 bytes). Choose the photo again; {_HINT_FORMATS}", reason="empty")
    if n > max_bytes:
        raise BadImageError(_too_large_msg(n, max_bytes, label), reason="too_large")
    digest = hashlib.sha256(raw).hexdigest()
    sniffed = _sniff(raw)
    _register_heif()

    try:
        im = Image.open(io.BytesIO(raw), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise BadImageError(_bomb_msg(label, str(exc)), reason="bomb") from exc
    except UnidentifiedImageError as exc:
        if sniffed is not None:
            raise _truncated(
                f"The file {label} starts like a {sniffed} image but its data cannot be read: it is truncated or "
                f"corrupt."
            ) from exc
        head = raw[:12]
        raise BadImageError(
            f"The file {label} is not an image SkinTag can read (it starts with {head!r}). {_HINT_FORMATS}",
            reason="not_image",
        ) from exc
    except _DECODE_ERRORS as exc:
        raise _truncated(
            f"The file {label} looks like an image but is truncated or corrupt: its header cannot be read ({exc})."
        ) from exc

    with im:
        fmt = str(im.format or sniffed or "unknown")
        original_mode = im.mode
        original_size = (int(im.size[0]), int(im.size[1]))
        pixels = original_size[0] * original_size[1]
        if pixels > max_pixels:
            raise BadImageError(
                _bomb_msg(label, f"it declares {original_size[0]}×{original_size[1]} = {pixels:,} pixels, more than "
                                 f"the {max_pixels:,}-pixel limit"),
                reason="bomb",
            )
        coef_bytes = 0
        if fmt in ("JPEG", "MPO"):
            coef_bytes = _check_jpeg_cost(raw, label, pixels, max_scans, max_scan_pixels)
        n_frames = int(getattr(im, "n_frames", 1) or 1)
        if n_frames > 1 and fmt in _ANIMATION_FORMATS:
            kind = "multi-page TIFF" if fmt == "TIFF" else f"animated {fmt}"
            raise BadImageError(
                f"The file {label} is an {kind} with {n_frames} frames. Lesion photos must be stills: export a single "
                f"frame as JPEG or PNG, or take a photo, and upload that.",
                reason="animated",
            )

        downscaled = False
        if fmt in ("JPEG", "MPO") and max(original_size) > max_side:
            want = _target_size(original_size, max_side)
            if im.draft("RGB", want) is not None and im.size != original_size:
                downscaled = True
        need = int(im.size[0]) * int(im.size[1]) * _pixel_bytes(im.mode) + coef_bytes
        if need > max_decode_bytes:
            raise BadImageError(
                _bomb_msg(label, f"its {im.size[0]}×{im.size[1]} {im.mode} pixels would take {need / MiB:,.0f} MiB of "
                                 f"memory to decode, more than the {max_decode_bytes / MiB:,.0f} MiB limit"),
                reason="bomb",
            )
        try:
            im.load()
        except Image.DecompressionBombError as exc:
            raise BadImageError(_bomb_msg(label, str(exc)), reason="bomb") from exc
        except _DECODE_ERRORS as exc:
            raise _truncated(
                f"The {fmt} file {label} is truncated or corrupt ({exc}); only part of the picture could be read."
            ) from exc

        decoded_size = (int(im.size[0]), int(im.size[1]))
        factor = max(decoded_size) // max_side
        if factor >= 2 and im.mode in _REDUCIBLE_MODES:
            rgb, transposed, composited = _reduce_to_rgb(im, factor, max_side)
            reduced = True
        else:
            rgb, transposed, composited, reduced = _normalise(im, max_side)
        downscaled = downscaled or reduced
    return DecodedImage(
        image=rgb,
        format=fmt,
        original_mode=original_mode,
        original_size=original_size,
        exif_transposed=transposed,
        downscaled=downscaled,
        n_bytes=n,
        sha256=digest,
        alpha_composited=composited,
        decoded_size=decoded_size,
    )


def _normalise(im: Image.Image, max_side: int) -> tuple[Image.Image, bool, bool, bool]:
    """The one pixel path every decoder shares: EXIF orientation, any mode to RGB (transparency onto white, 16-bit
    scaled, CMYK converted), then a LANCZOS downscale to ``max_side``. Returns a new image (never ``im`` itself) and
    whether it was transposed, alpha-composited and downscaled."""
    orientation = _orientation(im)
    transposed = False
    work = im
    if orientation not in (None, 1):
        try:
            work = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block must not lose an otherwise good photo
            work = im
        transposed = work is not im and orientation in range(2, 9)
    rgb, composited = _to_rgb(work)
    downscaled = False
    if max(rgb.size) > max_side:
        rgb = rgb.resize(_target_size(rgb.size, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        downscaled = True
    if rgb is im:
        rgb = im.copy()
    rgb.info.clear()
    return rgb, transposed, composited, downscaled


#: Modes whose pixels :func:`_reduce_to_rgb` converts strip by strip (every mode :func:`_to_rgb` handles without a
#: whole-image statistic, plus I and F whose range is taken from the whole image first).
_REDUCIBLE_MODES = frozenset({"1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr", "LAB", "HSV", "I", "F",
                              "I;16", "I;16B", "I;16L", "I;16N"})
#: EXIF orientation → the transpose that puts the picture upright (as :func:`PIL.ImageOps.exif_transpose`).
_ORIENT_OPS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}
#: Rows of the source converted at once by :func:`_reduce_to_rgb` (a multiple of any factor is taken).
_STRIP_ROWS = 256


def _reduce_to_rgb(im: Image.Image, factor: int, max_side: int) -> tuple[Image.Image, bool, bool]:
    """A large decoded picture reduced by the integer ``factor`` (box average) and converted to upright RGB, a strip
    of rows at a time, so that no full-size copy (RGBA premultiplied, composited, RGB, 16-bit as float) is ever made:
    memory stays at the decoded pixels plus the reduced result. Then :func:`_normalise`'s LANCZOS step brings the
    longer side down to ``max_side``. Returns (rgb, transposed, alpha_composited).

    Compositing onto white is linear, so compositing each strip and then averaging equals averaging premultiplied
    pixels and then compositing."""
    orientation = _orientation(im)
    w, h = im.size
    extrema: tuple[float, float] | None = None
    if im.mode in ("I", "F"):
        lo, hi = im.getextrema()
        extrema = (float(lo), float(hi))
    rows = max(factor, (_STRIP_ROWS // factor) * factor)
    out = Image.new("RGB", (-(-w // factor), -(-h // factor)))
    composited = False
    for top in range(0, h, rows):
        strip = im.crop((0, top, w, min(h, top + rows)))
        rgb, comp = _to_rgb(strip, extrema=extrema)
        composited = composited or comp
        out.paste(rgb.reduce(factor), (0, top // factor))
    transposed = orientation in _ORIENT_OPS
    if transposed:
        out = out.transpose(_ORIENT_OPS[orientation])  # type: ignore[index]
    if max(out.size) > max_side:
        out = out.resize(_target_size(out.size, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return out, transposed, composited


def _pixel_bytes(mode: str) -> int:
    """Bytes per pixel of Pillow's in-memory storage of ``mode`` (every multi-band 8-bit mode takes 4)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def jpeg_structure(raw: bytes) -> dict[str, int]:
    """What a JPEG's markers say it will cost, read without decoding: ``scans`` (SOS markers of the primary image, up to
    its EOI), ``progressive`` (1 for SOF2/SOF6/SOF10/SOF14), ``width``, ``height``, ``components`` and
    ``coefficient_bytes`` (the whole-image DCT coefficient buffer libjpeg allocates for a multi-scan image: 64 int16
    coefficients per 8×8 block of each component, at its sampling; 0 for a single-scan image). A structure cut short
    returns what was read (the decoder reports the damage)."""
    out = {"scans": 0, "progressive": 0, "width": 0, "height": 0, "components": 0, "coefficient_bytes": 0}
    sampling: list[tuple[int, int]] = []
    n, pos = len(raw), 2
    while pos + 4 <= n:
        if raw[pos] != 0xFF:
            pos = raw.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = raw[pos + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9:
            break
        length = (raw[pos + 2] << 8) | raw[pos + 3]
        seg = raw[pos + 4 : pos + 2 + length]
        if marker in _SOF_MARKERS and len(seg) >= 6 and not out["width"]:
            out["progressive"] = int(marker in (0xC2, 0xC6, 0xCA, 0xCE))
            out["height"], out["width"] = (seg[1] << 8) | seg[2], (seg[3] << 8) | seg[4]
            out["components"] = seg[5]
            sampling = [(seg[7 + 3 * i] >> 4, seg[7 + 3 * i] & 15) for i in range(seg[5]) if 8 + 3 * i < len(seg)]
        pos += 2 + length
        if marker != 0xDA:
            continue
        out["scans"] += 1
        # skip the entropy-coded data: up to the next marker that is not a stuffed 0xFF00 or a restart marker
        while True:
            pos = raw.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= n:
                return _with_coefficients(out, sampling)
            nxt = raw[pos + 1]
            if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                pos += 1 if nxt == 0xFF else 2
                continue
            break
    return _with_coefficients(out, sampling)


def _with_coefficients(out: dict[str, int], sampling: list[tuple[int, int]]) -> dict[str, int]:
    if (out["progressive"] or out["scans"] > 1) and sampling and out["width"]:
        hmax = max(max(hs for hs, _ in sampling), 1)
        vmax = max(max(vs for _, vs in sampling), 1)
        blocks = sum(math.ceil(out["width"] * hs / hmax / 8) * math.ceil(out["height"] * vs / vmax / 8)
                     for hs, vs in sampling)
        out["coefficient_bytes"] = blocks * 64 * 2
    return out


def _check_jpeg_cost(raw: bytes, label: str, pixels: int, max_scans: int, max_scan_pixels: int) -> int:
    """Refuse a JPEG whose scans make it a CPU bomb (``"too_complex"``); return its coefficient buffer in bytes."""
    info = jpeg_structure(raw)
    scans = info["scans"]
    if scans > max_scans or scans * pixels > max_scan_pixels:
        raise BadImageError(
            f"The file {label} was refused as too costly to decode: it holds {scans:,} JPEG scans over "
            f"{pixels:,} pixels (at most {max_scans:,} scans and {max_scan_pixels:,} scan-pixels are decoded). A camera "
            "photo has 1 to about 20 scans; save the photo again as an ordinary JPEG or PNG and resend it.",
            reason="too_complex",
        )
    return info["coefficient_bytes"]


def _orientation(im: Image.Image) -> int | None:
    try:
        value = im.getexif().get(ExifTags.Base.Orientation)
    except Exception:
        return None
    return int(value) if isinstance(value, int) else None


#: what Pillow raises on a damaged file, besides ``UnidentifiedImageError`` and ``DecompressionBombError``
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


def _truncated(message: str) -> BadImageError:
    """The error for a truncated or corrupt file: ``message`` and the advice to send the original again."""
    return BadImageError(f"{message} Send the original photo again.", reason="truncated")


def _bomb_msg(label: str, detail: str) -> str:
    return (
        f"The file {label} was refused as a possible decompression bomb: {detail.rstrip('.')}. No lesion photo needs that many "
        "pixels; resend it at a normal camera resolution."
    )


# ----------------------------------------------------------------------------------------------------------------------
# Quality checks
# ----------------------------------------------------------------------------------------------------------------------

Verdict = Literal["pass", "warn", "reject"]
_RANK: dict[str, int] = {"pass": 0, "warn": 1, "reject": 2}

#: The blur and luminance measures are taken on a grayscale copy resized so that its longer side is this many
#: pixels; the variance of the Laplacian then measures sharpness relative to the picture, not to the camera's pixel
#: count (the same photo at 600 px and 4000 px scores alike).
QUALITY_SIDE = 256


@dataclass(frozen=True)
class Bounds:
    """An acceptable interval ``[low, high]``; ``None`` leaves that side open."""

    low: float | None = None
    high: float | None = None

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}–{self.high:g}"
        if self.low is not None:
            return f"≥ {self.low:g}"
        if self.high is not None:
            return f"≤ {self.high:g}"
        return "any"


@dataclass(frozen=True)
class QualityLimits:
    """Limits of the quality checks. A value outside ``*_warn`` warns; outside ``*_reject`` rejects.

    Defaults were calibrated on the real photos in ``../shared/data`` (60 HAM10000 dermoscopic JPEGs, 249 PAD-UFES-20
    smartphone PNGs, and the 10,015 28-px DermaMNIST thumbnails); ``tests/test_images.py`` re-measures them. Every real
    photo passes; a copy blurred with a Gaussian of σ = 1.5 % of its longer side (or of radius 12 px), darkened to 15 %
    brightness or flattened to 5 % contrast is rejected, and so are uniform random noise, a flat colour, a text
    screenshot and a photo whose colours were swapped so that no pixel is skin-coloured. Measured (min / 5th percentile /
    median of the real photos, max for noise):

    ========== ======================= ======================= ======================= ==========================
    check      HAM10000 (60)           PAD-UFES-20 (249)       DermaMNIST (10,015)     refused examples
    ========== ======================= ======================= ======================= ==========================
    blur       25.5 / 49.4 / 118       6.5 / 16.9 / 85         5.1 (min)               2.1 (radius-12 blur)
    noise σ    max 1.8                 max 6.9                 max 5.5                 49.7 (uniform noise)
    skin %     95.1 / 97.5 / 99.9      70.6 / 92.8 / 99.9      17.1 (min)              6.9 (text), 0.0 (swapped)
    brightness 102 / 127 / 157         85.5 / 108 / 143        —                       31.8 (× 0.15)
    contrast   6.0 / 11.7 / 24.9       7.3 / 11.8 / 22.8       —                       3.3 (× 0.05)
    min side   450                     300                     28                      below the model's input
    ========== ======================= ======================= ======================= ==========================

    Sharpness is always checked, whatever the model's input size, on the upload at its own resolution (never upsampled;
    see :func:`quality_gray`). The minimum side must suit the model: use :meth:`for_model` with the bundle's
    ``image_size``; a photo smaller than the model's input is refused (the model would see invented pixels).
    """

    min_side_warn: float = 224
    min_side_reject: float = 96
    blur_warn: float = 6.0
    blur_reject: float = 4.0
    noise_warn: float = 12.0
    noise_reject: float = 20.0
    skin_warn: float = 20.0
    skin_reject: float = 10.0
    brightness_warn: tuple[float, float] = (60.0, 225.0)
    brightness_reject: tuple[float, float] = (35.0, 245.0)
    contrast_warn: float = 5.0
    contrast_reject: float = 4.0

    @classmethod
    def for_model(cls, image_size: int, base: QualityLimits | None = None) -> QualityLimits:
        """Limits for a model whose input is ``image_size`` pixels square: the minimum-side limits are lowered to
        ``image_size`` when it is smaller (relaxed, never tightened). Every other check, blur included, is unchanged."""
        from dataclasses import replace

        b = base or cls()
        side = float(max(1, int(image_size)))
        return replace(b, min_side_warn=min(b.min_side_warn, side), min_side_reject=min(b.min_side_reject, side))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class QualityCheck:
    """One measured quality criterion."""

    name: str
    value: float
    warn_limit: Bounds
    reject_limit: Bounds
    verdict: Verdict
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": self.value,
            "warn_limit": str(self.warn_limit),
            "reject_limit": str(self.reject_limit),
            "verdict": self.verdict,
            "message": self.message,
        }


@dataclass(frozen=True)
class QualityReport:
    """All quality checks of one image; ``verdict`` is the worst of them."""

    checks: tuple[QualityCheck, ...]
    verdict: Verdict = field(init=False)

    def __post_init__(self) -> None:
        worst = max((c.verdict for c in self.checks), key=_RANK.__getitem__, default="pass")
        object.__setattr__(self, "verdict", worst)

    def __getitem__(self, name: str) -> QualityCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no quality check named {name!r}; have {[c.name for c in self.checks]}")

    @property
    def problems(self) -> list[QualityCheck]:
        """Checks that did not pass, worst first."""
        return sorted((c for c in self.checks if c.verdict != "pass"), key=lambda c: -_RANK[c.verdict])

    @property
    def messages(self) -> list[str]:
        return [c.message for c in self.problems]

    def to_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict, "checks": [c.to_dict() for c in self.checks]}


def _grade(name: str, value: float, warn: Bounds, reject: Bounds, texts: dict[str, str]) -> QualityCheck:
    if not reject.contains(value):
        verdict: Verdict = "reject"
    elif not warn.contains(value):
        verdict = "warn"
    else:
        verdict = "pass"
    if verdict == "pass":
        msg = texts["pass"]
    else:
        too_low = (warn.low is not None and value < warn.low) or (reject.low is not None and value < reject.low)
        msg = texts["low" if too_low else "high"]
        limit = reject if verdict == "reject" else warn
        msg = f"{msg} (measured {value:.1f}; {'needed' if verdict == 'reject' else 'recommended'} {limit})."
    return QualityCheck(name, float(value), warn, reject, verdict, msg)


def quality_gray(image: Image.Image, side: int = QUALITY_SIDE) -> np.ndarray:
    """Grayscale (ITU-R 601 luma, uint8) copy whose longer side is at most ``side`` pixels.

    A larger picture is reduced with Pillow's antialiased LANCZOS filter: unlike OpenCV's area or bilinear resizing at
    non-integer ratios, it neither blurs (small ratios) nor aliases (large ratios), so the Laplacian variance of one photo
    stays within about 5 % whether it arrives at 300 or 4000 pixels. A smaller picture is measured at its own resolution
    and never upsampled: upsampling would itself blur it, so a small model's thumbnail would look blurred, and a
    blurred upload would be judged on invented pixels.
    """
    gray = image.convert("L")
    w, h = gray.size
    scale = min(1.0, side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != (w, h):
        gray = gray.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(gray)


def laplacian_variance(image: Image.Image, side: int = QUALITY_SIDE) -> float:
    """Variance of the 3×3 Laplacian (OpenCV) of the :func:`quality_gray` copy: low means blurred."""
    import cv2

    lap = cv2.Laplacian(quality_gray(image, side), cv2.CV_64F, ksize=1)
    return float(lap.var())


#: Immerkær's noise-estimation mask: the difference of two Laplacians, blind to edges and gradients to first order.
_NOISE_MASK = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def noise_sigma(image: Image.Image) -> float:
    """Standard deviation of pixel-level noise in the luma (0-255), by Immerkær's fast estimator.

    J. Immerkær, "Fast Noise Variance Estimation", Computer Vision and Image Understanding 64(2), 1996:
    σ = √(π/2) · Σ|I ∗ N| / (6 (W − 2)(H − 2)) with N = [[1, −2, 1], [−2, 4, −2], [1, −2, 1]] over the interior pixels.
    Measured on the upload at its own resolution (resizing would average the noise away). Real photos give σ < 7;
    uniform random pixels give about 50. Images under 3 × 3 pixels give 0.
    """
    import cv2

    gray = np.asarray(image.convert("L"), dtype=np.float64)
    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    response = cv2.filter2D(gray, cv2.CV_64F, _NOISE_MASK, borderType=cv2.BORDER_REFLECT_101)[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2.0) * np.abs(response).sum() / (6.0 * (w - 2) * (h - 2)))


#: Skin-colour rule in full-range YCbCr (ITU-R BT.601, Pillow's ``convert("YCbCr")``): a pixel is skin-coloured when
#: its chroma lies in the box of Chai & Ngan (IEEE Trans. CSVT 9(4), 1999: 77 ≤ Cb ≤ 127, 133 ≤ Cr ≤ 173), widened to
#: Cb ≤ 145 and 120 ≤ Cr ≤ 200, and its luma is neither near-black nor near-white (40 ≤ Y ≤ 240). The widening admits
#: the colour casts measured in the real photos: dermoscope lighting and phone white balance push real skin towards
#: blue (Cb up to 143) and neutral (Cr down to 122), and red vascular lesions reach Cr 200. Near-neutral grey counts as
#: skin-coloured; pure white and black (paper, screenshots) do not.
SKIN_YCBCR: dict[str, tuple[int, int]] = {"Y": (40, 240), "Cb": (77, 145), "Cr": (120, 200)}


def skin_mask(image: Image.Image) -> np.ndarray:
    """Boolean H×W mask of the pixels :data:`SKIN_YCBCR` calls skin-coloured."""
    y, cb, cr = (np.asarray(c, dtype=np.int16) for c in image.convert("RGB").convert("YCbCr").split())
    mask = np.ones(y.shape, dtype=bool)
    for channel, (lo, hi) in zip((y, cb, cr), SKIN_YCBCR.values(), strict=True):
        mask &= (channel >= lo) & (channel <= hi)
    return mask


def skin_percent(image: Image.Image) -> float:
    """Percentage (0-100) of the image's pixels that are skin-coloured by :data:`SKIN_YCBCR`."""
    mask = skin_mask(image)
    return float(100.0 * mask.mean()) if mask.size else 0.0


def quality_report(image: Image.Image, *, limits: QualityLimits | None = None) -> QualityReport:
    """Grade an image's size, sharpness, noise, skin colour, brightness and contrast.

    Parameters
    ----------
    image : an RGB image (as returned in :attr:`DecodedImage.image`).
    limits : the limits; default :class:`QualityLimits` (use :meth:`QualityLimits.for_model` for a model bundle).

    Returns
    -------
    QualityReport with six checks, each with the measured value, its warn and reject limits, a verdict and a message:

    * ``min_side`` — the shorter side in pixels.
    * ``blur`` — variance of the Laplacian (``cv2.Laplacian``, 3×3 kernel) of a grayscale copy reduced to a longer
      side of at most :data:`QUALITY_SIDE` px (never enlarged), so the value does not depend on the camera's resolution.
    * ``noise`` — pixel-level noise σ of the luma at the upload's own resolution (:func:`noise_sigma`); random pixels
      are refused.
    * ``skin`` — percentage of skin-coloured pixels (:func:`skin_percent`); a screenshot, a document or a picture
      without skin colours is refused.
    * ``brightness`` — mean luma (0-255) on the same copy as ``blur``; too dark and too bright both fail.
    * ``contrast`` — standard deviation of that luma.
    """
    lim = limits or QualityLimits()
    gray = quality_gray(image)
    import cv2

    blur = float(cv2.Laplacian(gray, cv2.CV_64F, ksize=1).var())
    brightness = float(gray.mean())
    contrast = float(gray.std())
    min_side = float(min(image.size))
    checks = (
        _grade(
            "min_side", min_side, Bounds(lim.min_side_warn), Bounds(lim.min_side_reject),
            {"pass": "Resolution is sufficient.",
             "low": "The photo is small: move closer or use the camera's full resolution"},
        ),
        _grade(
            "blur", blur, Bounds(lim.blur_warn), Bounds(lim.blur_reject),
            {"pass": "The photo is sharp enough.",
             "low": "The photo is blurred: hold the camera still, tap the lesion to focus, and retake it"},
        ),
        _grade(
            "noise", noise_sigma(image), Bounds(high=lim.noise_warn), Bounds(high=lim.noise_reject),
            {"pass": "No sign of random pixel noise.",
             "high": "The image is dominated by pixel-level noise (random pixels, or a very grainy photo): it does "
                     "not look like a photo of skin; retake it in good light"},
        ),
        _grade(
            "skin", skin_percent(image), Bounds(lim.skin_warn), Bounds(lim.skin_reject),
            {"pass": "Skin-coloured pixels are present.",
             "low": "Almost none of the image has a skin colour (a screenshot, a document or another non-skin "
                    "picture?): upload a colour photo of the lesion and the skin around it"},
        ),
        _grade(
            "brightness", brightness, Bounds(*lim.brightness_warn), Bounds(*lim.brightness_reject),
            {"pass": "Exposure is adequate.",
             "low": "The photo is too dark: add light (avoid the flash glare) and retake it",
             "high": "The photo is overexposed: avoid direct flash or sunlight and retake it"},
        ),
        _grade(
            "contrast", contrast, Bounds(lim.contrast_warn), Bounds(lim.contrast_reject),
            {"pass": "Contrast is adequate.",
             "low": "The photo has very little contrast (washed out or fogged lens): clean the lens and retake it"},
        ),
    )
    return QualityReport(checks)


# ----------------------------------------------------------------------------------------------------------------------
# The one intake: every decoder of the package (serving, training, embedding) goes through these
# ----------------------------------------------------------------------------------------------------------------------


def pil_key(image: Image.Image) -> str:
    """Hex SHA-256 of an in-memory image's mode, size and pixels (the cache key of an image that has no file)."""
    h = hashlib.sha256(f"pil:{image.mode}:{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def to_rgb(image: Image.Image, *, max_side: int = DEFAULT_MAX_SIDE) -> DecodedImage:
    """An already decoded PIL image through the same pixel path as :func:`decode_image` (EXIF orientation, mode to RGB
    with transparency on white, 16-bit and CMYK handling, downscale to ``max_side``). The input is not modified.

    Only what needs the file's bytes differs: no size or bomb checks, and no reduced-scale JPEG decoding.
    """
    size = (int(image.size[0]), int(image.size[1]))
    rgb, transposed, composited, downscaled = _normalise(image, max_side)
    return DecodedImage(
        image=rgb,
        format=str(image.format or "PIL"),
        original_mode=image.mode,
        original_size=size,
        exif_transposed=transposed,
        downscaled=downscaled,
        n_bytes=0,
        sha256=pil_key(image),
        alpha_composited=composited,
        decoded_size=size,
    )


@dataclass(frozen=True)
class IntakeLimits:
    """Limits of :func:`decode_image` (see there): file size, declared pixels, longer side of the result, JPEG scans
    and scan-pixels, and the memory of the decoded pixels."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_side: int = DEFAULT_MAX_SIDE
    max_scans: int = DEFAULT_MAX_SCANS
    max_scan_pixels: int = DEFAULT_MAX_SCAN_PIXELS
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_side", "max_scans", "max_scan_pixels", "max_decode_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"IntakeLimits.{name} must be a positive integer, got {value!r}")


def load_rgb(src: ImageSource | Image.Image, *, limits: IntakeLimits | None = None) -> DecodedImage:
    """Decode bytes, a path, a binary file object or a PIL image into an upright RGB image: the decoder shared by
    serving (:func:`intake`), embedding (:func:`skintag.embeddings.load_image`) and training.

    Raises
    ------
    BadImageError
        As :func:`decode_image` for encoded input.
    """
    lim = limits or IntakeLimits()
    if isinstance(src, Image.Image):
        return to_rgb(src, max_side=lim.max_side)
    return decode_image(src, **asdict(lim))


#: Seconds :func:`decode_image_bounded` gives a decode by default.
DEFAULT_DECODE_TIMEOUT_S = 10.0


def decode_image_bounded(
    data: bytes, *, limits: IntakeLimits | None = None, timeout_s: float = DEFAULT_DECODE_TIMEOUT_S
) -> DecodedImage:
    """:func:`decode_image` in a child process that is killed when it runs past ``timeout_s`` seconds.

    The structural limits (scans, pixels, decoded bytes) already bound what a decode costs; this is the backstop for
    whatever they do not foresee (a slow codec path, a decoder bug): the child is a fresh ``python -m skintag.images``
    (about 0.3 s to start), given the bytes and the limits on stdin, which writes back a JSON line and the raw RGB
    pixels (no pickle). The server's own threads never run the decoder, so a hostile file can cost at most
    ``timeout_s`` of one core, and nothing once the child is killed.

    Raises
    ------
    BadImageError
        As :func:`decode_image`, or ``reason="timeout"`` when the child ran out of time.
    """
    import json
    import subprocess
    import sys

    lim = limits or IntakeLimits()
    raw = bytes(data)
    if len(raw) > lim.max_bytes:  # refuse before paying for a process
        raise BadImageError(_too_large_msg(len(raw), lim.max_bytes, "upload"), reason="too_large")
    header = json.dumps(asdict(lim)).encode() + b"\n"
    try:
        done = subprocess.run([sys.executable, "-m", "skintag.images"], input=header + raw, capture_output=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BadImageError(
            f"Decoding the upload took longer than {timeout_s:g} s and was stopped. The file is unusually costly to "
            "decode; save the photo again as an ordinary JPEG or PNG and resend it.",
            reason="timeout",
        ) from exc
    line, _, pixels = done.stdout.partition(b"\n")
    try:
        meta = json.loads(line)
    except ValueError as exc:
        raise BadImageError(f"The image decoder stopped unexpectedly (exit status {done.returncode}). Send the "
                            "original photo again.", reason="truncated") from exc
    if "error" in meta:
        raise BadImageError(meta["error"], reason=meta["reason"])
    size = (int(meta["size"][0]), int(meta["size"][1]))
    return DecodedImage(
        image=Image.frombytes("RGB", size, pixels),
        format=meta["format"],
        original_mode=meta["original_mode"],
        original_size=(int(meta["original_size"][0]), int(meta["original_size"][1])),
        exif_transposed=bool(meta["exif_transposed"]),
        downscaled=bool(meta["downscaled"]),
        n_bytes=int(meta["n_bytes"]),
        sha256=str(meta["sha256"]),
        alpha_composited=bool(meta["alpha_composited"]),
        decoded_size=tuple(meta["decoded_size"]) if meta["decoded_size"] else None,  # type: ignore[arg-type]
    )


def _decode_child() -> None:
    """The child of :func:`decode_image_bounded`: limits (a JSON line) and the file's bytes on stdin; a JSON line
    (:meth:`DecodedImage.describe`, or ``{"error", "reason"}``) and the RGB pixels on stdout."""
    import json
    import sys

    stdin = sys.stdin.buffer
    limits = IntakeLimits(**json.loads(stdin.readline()))
    out = sys.stdout.buffer
    try:
        decoded = decode_image(stdin.read(), **asdict(limits))
    except BadImageError as exc:
        out.write(json.dumps({"error": str(exc), "reason": exc.reason}).encode() + b"\n")
    else:
        out.write(json.dumps(decoded.describe()).encode() + b"\n")
        out.write(decoded.image.tobytes())
    out.flush()


def crop_box(size: tuple[int, int], crop: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1), x1/y1 exclusive, of a crop given as fractions (left, top, right, bottom) of
    ``size`` = (width, height): the box :func:`apply_crop` cuts and :func:`draw_crop_box` outlines.

    Raises
    ------
    ConfigError
        (an :class:`~skintag.errors.ArgumentError`) if the box is not ``0 <= left < right <= 1`` and
        ``0 <= top < bottom <= 1``.
    """
    left, top, right, bottom = (float(x) for x in crop)
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
        raise ConfigError(
            f"Crop box {crop} is invalid; expected fractions 0 <= left < right <= 1 and 0 <= top < bottom <= 1"
        )
    w, h = size
    x0, y0 = math.floor(left * w), math.floor(top * h)
    return x0, y0, max(math.floor(right * w), x0 + 1), max(math.floor(bottom * h), y0 + 1)


def apply_crop(image: Image.Image, crop: tuple[float, float, float, float] | None) -> Image.Image:
    """Crop by fractions (left, top, right, bottom) of the image size (see :func:`crop_box`); None returns the image
    unchanged."""
    if crop is None:
        return image
    return image.crop(crop_box(image.size, crop))


#: Colour of the crop outline: a saturated cyan, far from every skin and lesion colour.
CROP_COLOUR: tuple[int, int, int] = (0, 229, 255)


def draw_crop_box(
    image: Image.Image,
    crop: tuple[float, float, float, float],
    *,
    colour: tuple[int, int, int] = CROP_COLOUR,
    width: int | None = None,
) -> Image.Image:
    """A copy of ``image`` (RGB) with the crop's rectangle outlined, the outline lying inside the cropped area on
    exactly the border pixels of :func:`crop_box`'s box. ``width`` defaults to 0.6 % of the longer side (at least 1 px).
    The input is not modified."""
    from PIL import ImageDraw

    x0, y0, x1, y1 = crop_box(image.size, crop)
    out = image.convert("RGB").copy()
    line = max(1, round(0.006 * max(image.size))) if width is None else int(width)
    ImageDraw.Draw(out).rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=line)
    return out


@dataclass(frozen=True)
class Intake:
    """An accepted upload and its quality grades: what :func:`intake` returns.

    Attributes
    ----------
    decoded : the decoded picture and what was done to it (before any crop).
    image : the RGB picture the model may see (``decoded.image``, cropped when a crop box was given).
    quality : the quality checks of ``image``; ``quality.verdict == "reject"`` means "ask for a retake".
    """

    decoded: DecodedImage
    image: Image.Image
    quality: QualityReport

    @property
    def accepted(self) -> bool:
        """False when the quality gate rejects the photo (the model must not score it)."""
        return self.quality.verdict != "reject"

    def describe(self) -> dict[str, object]:
        """JSON-friendly metadata: the decoding and the quality checks (no pixels)."""
        return {**self.decoded.describe(), "scored_size": list(self.image.size), "quality": self.quality.to_dict()}


def intake(
    data: ImageSource | Image.Image,
    *,
    limits: IntakeLimits | None = None,
    quality: QualityLimits | None = None,
    crop: tuple[float, float, float, float] | None = None,
) -> Intake:
    """Validate, decode, optionally crop, and grade an upload in one call.

    Parameters
    ----------
    data : the file's bytes, a path, a binary file object, or an already decoded PIL image.
    limits : size, pixel and side limits of the decoder (default :class:`IntakeLimits`).
    quality : limits of the quality checks (default :class:`QualityLimits`; use :meth:`QualityLimits.for_model`).
    crop : optional box as fractions (left, top, right, bottom) of the decoded image, applied before grading.

    Raises
    ------
    BadImageError
        When the input is not an acceptable image (see :func:`decode_image`). A photo that decodes but fails the
        quality checks is not an error: ``Intake.accepted`` is False.
    ConfigError
        (an :class:`~skintag.errors.ArgumentError`) for an invalid crop box.
    """
    decoded = load_rgb(data, limits=limits)
    image = apply_crop(decoded.image, crop)
    return Intake(decoded=decoded, image=image, quality=quality_report(image, limits=quality))


# ----------------------------------------------------------------------------------------------------------------------
# Skin tone: individual typology angle
# ----------------------------------------------------------------------------------------------------------------------

#: (lower bound exclusive, category) from the lightest down; ITA cut-offs of Chardon et al. (1991), as in docs/SPEC.md §2.
ITA_CATEGORIES: tuple[tuple[float, str], ...] = (
    (55.0, "very light"),
    (41.0, "light"),
    (28.0, "intermediate"),
    (10.0, "tan"),
    (-30.0, "brown"),
    (-math.inf, "dark"),
)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB values in uint8 ``(..., 3)``; L* in [0, 100]. Uses OpenCV's float conversion."""
    import cv2

    arr = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    lab = cv2.cvtColor(arr, cv2.COLOR_RGB2Lab)
    return lab.reshape(np.asarray(rgb).shape[:-1] + (3,)).astype(np.float64)


def ita_degrees(image: Image.Image | np.ndarray, mask: np.ndarray | None = None) -> float:
    """Individual typology angle ITA = arctan((L* − 50) / b*) in degrees.

    Parameters
    ----------
    image : RGB image (PIL or uint8 array ``H×W×3``).
    mask : optional boolean ``H×W`` array selecting the skin pixels to use — pass one that excludes the lesion (ITA
        describes the surrounding skin). Without a mask every pixel is used.

    Returns
    -------
    The angle computed from the **median** L* and median b* of the selected pixels (robust to hairs, specular
    highlights and a lesion edge). ``arctan2(L* − 50, b*)`` is used, which equals the textbook formula for b* > 0
    (every real skin tone) and stays defined at b* = 0. NaN if the mask selects no pixel.
    """
    arr = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"ita_degrees expects an RGB image H×W×3, got an array of shape {arr.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != arr.shape[:2]:
            raise ValueError(f"mask shape {mask.shape} does not match the image's {arr.shape[:2]}")
        pixels = arr[mask]
    else:
        pixels = arr.reshape(-1, 3)
    if len(pixels) == 0:
        return float("nan")
    lab = srgb_to_lab(pixels.astype(np.uint8))
    L = float(np.median(lab[:, 0]))
    b = float(np.median(lab[:, 2]))
    return float(np.degrees(np.arctan2(L - 50.0, b)))


def ita_category(angle: float) -> str:
    """docs/SPEC.md §2 category of an ITA angle: >55 very light, 41-55 light, 28-41 intermediate, 10-28 tan, −30-10 brown,
    < −30 dark (each lower bound exclusive, so 55.0 is "light"); NaN gives "unknown"."""
    if angle is None or math.isnan(angle):
        return "unknown"
    for low, name in ITA_CATEGORIES:
        if angle > low:
            return name
    return "dark"


__all__: Sequence[str] = [
    "ACCEPTED_FORMATS",
    "Bounds",
    "DecodedImage",
    "Intake",
    "IntakeLimits",
    "QualityCheck",
    "QualityLimits",
    "QualityReport",
    "CROP_COLOUR",
    "SKIN_YCBCR",
    "apply_crop",
    "crop_box",
    "decode_image",
    "decode_image_bounded",
    "draw_crop_box",
    "intake",
    "ita_category",
    "ita_degrees",
    "jpeg_structure",
    "laplacian_variance",
    "load_rgb",
    "noise_sigma",
    "pil_key",
    "quality_gray",
    "quality_report",
    "skin_mask",
    "skin_percent",
    "srgb_to_lab",
    "to_rgb",
]


if __name__ == "__main__":
    _decode_child()
