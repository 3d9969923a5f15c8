"""skintag.images: every upload case decodes to the exact outcome; quality checks and ITA give the measured values."""

from __future__ import annotations

import builtins
import hashlib
import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from skintag.errors import BadImageError
from skintag.images import (
    QUALITY_SIDE,
    QualityLimits,
    decode_image,
    ita_category,
    ita_degrees,
    laplacian_variance,
    quality_gray,
    quality_report,
)
from tests import imagecases as ic

# Words each refusal message must contain: what went wrong and what to do.
MESSAGE_WORDS = {
    "empty": ["empty", "0 bytes"],
    "not_image": ["not an image", "JPEG, PNG, WebP or HEIC"],
    "truncated": ["truncated", "corrupt", "original photo"],
    "bomb": ["decompression bomb", "pixels"],
    "too_large": ["21.0 MiB", "20 MiB limit", "lower resolution"],
    "animated": ["frames", "stills"],
}


@pytest.mark.parametrize("name", ic.CASE_NAMES)
def test_case_outcome(name):
    factory, (kind, detail) = ic.case(name)
    data = factory()
    if kind == "error":
        with pytest.raises(BadImageError) as err:
            decode_image(data)
        assert err.value.reason == detail
        for word in MESSAGE_WORDS[detail]:
            assert word in str(err.value), (name, str(err.value))
    else:
        out = decode_image(data)
        assert out.image.mode == "RGB"
        assert out.image.size == detail
        assert out.n_bytes == len(data)
        assert out.sha256 == hashlib.sha256(data).hexdigest()


def _ham_rgb() -> np.ndarray:
    return np.asarray(ic.ham_photo(), dtype=np.int16)


def test_16bit_png_is_scaled_not_clipped():
    out = decode_image(ic.png_16bit())
    assert out.original_mode == "I;16"
    row = np.asarray(out.image)[10, :, 0]
    ramp = np.linspace(0, 65535, 256).round()
    np.testing.assert_array_equal(row, np.rint(ramp * 255 / 65535).astype(np.uint8))
    assert row[0] == 0 and row[-1] == 255 and row[128] == 128
    assert len(np.unique(row)) == 256  # Pillow's plain convert("L") would clip everything above 255 to white


def test_cmyk_jpeg_colours_survive():
    out = decode_image(ic.cmyk_jpeg())
    assert (out.format, out.original_mode) == ("JPEG", "CMYK")
    diff = np.abs(np.asarray(out.image, dtype=np.int16) - _ham_rgb()).mean()
    assert diff < 4.0, diff


def test_big_photo_is_draft_decoded_and_downscaled():
    data = ic.photo_8000x6000()
    out = decode_image(data)
    assert out.original_size == (8000, 6000)
    assert out.decoded_size == (4000, 3000)  # libjpeg decoded at 1/2 scale (draft mode), not all 48 Mpx
    assert out.image.size == (2048, 1536)
    assert out.downscaled
    small = np.asarray(out.image.resize((600, 450), Image.Resampling.LANCZOS), dtype=np.int16)
    assert np.abs(small - _ham_rgb()).mean() < 6.0


def test_max_side_parameter():
    out = decode_image(ic.ham_jpeg(), max_side=300)
    assert out.image.size == (300, 225) and out.downscaled and out.original_size == (600, 450)
    assert out.decoded_size == (300, 225)  # libjpeg's 1/2 scale gives exactly the target
    assert decode_image(ic.ham_jpeg(), max_side=200).decoded_size == (300, 225)  # 1/2, never below the target
    assert decode_image(ic.ham_jpeg(), max_side=400).decoded_size == (600, 450)  # 1/2 would undershoot: full decode
    assert decode_image(ic.png_16bit(), max_side=64).image.size == (64, 16)
    assert not decode_image(ic.ham_jpeg()).downscaled


def test_exif_orientation_applied():
    out = decode_image(ic.exif_rotated_jpeg())
    assert out.exif_transposed and out.original_size == (600, 450) and out.image.size == (450, 600)
    arr = np.asarray(out.image, dtype=np.int16)
    m = ic.MARKER_SIZE
    top_right = arr[5 : m - 5, 450 - m + 5 : 445].reshape(-1, 3).mean(axis=0)
    top_left = arr[5 : m - 5, 5 : m - 5].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > 230 and top_right[1] < 30 and top_right[2] < 30, top_right
    assert not (top_left[0] > 200 and top_left[1] < 50), top_left
    # orientation 6 = the stored picture rotated 90° clockwise
    expected = np.asarray(Image.open(io.BytesIO(ic.exif_rotated_jpeg())).transpose(Image.Transpose.ROTATE_270))
    assert np.abs(arr - expected.astype(np.int16)).mean() < 1.0


def test_heic_webp_palette_decode_to_the_photo():
    for factory, fmt, mode, tol in [
        (ic.heic_photo, "HEIF", "RGB", 6.0),
        (ic.webp_photo, "WEBP", "RGB", 6.0),
        (ic.palette_png, "PNG", "P", 6.0),
    ]:
        out = decode_image(factory())
        assert (out.format, out.original_mode) == (fmt, mode)
        diff = np.abs(np.asarray(out.image, dtype=np.int16) - _ham_rgb()).mean()
        assert diff < tol, (fmt, diff)


def test_mpo_uses_the_primary_picture():
    out = decode_image(ic.mpo_jpeg())
    assert out.format == "MPO" and out.image.size == (600, 450)
    assert np.abs(np.asarray(out.image, dtype=np.int16) - _ham_rgb()).mean() < 4.0


def test_rgba_is_composited_on_white():
    out = decode_image(ic.rgba_png_transparent())
    assert out.alpha_composited and out.original_mode == "RGBA"
    arr = np.asarray(out.image)
    assert tuple(arr[40, 25]) == (120, 80, 60)
    assert tuple(arr[40, 75]) == (255, 255, 255)


def test_real_pad_rgba_photo_keeps_its_pixels():
    data = ic.rgba_png_pad()
    out = decode_image(data)
    src = Image.open(io.BytesIO(data))
    assert src.mode == "RGBA" and out.alpha_composited
    alpha = np.asarray(src)[..., 3]
    opaque = alpha == 255
    np.testing.assert_array_equal(np.asarray(out.image)[opaque], np.asarray(src)[..., :3][opaque])


def test_sources_path_str_and_file_object(tmp_path):
    data = ic.ham_jpeg()
    path = ic.real_image_path(ic.HAM_IMAGE)
    a = decode_image(path)
    b = decode_image(str(path))
    c = decode_image(io.BytesIO(data))
    assert a.sha256 == b.sha256 == c.sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(BadImageError) as err:
        decode_image(path, max_bytes=1000)
    assert err.value.reason == "too_large" and str(path) in str(err.value)
    with pytest.raises(BadImageError) as err:
        decode_image(tmp_path / "missing.jpg")
    assert err.value.reason == "not_found"


def test_pixel_limit_is_a_parameter():
    with pytest.raises(BadImageError) as err:
        decode_image(ic.ham_jpeg(), max_pixels=100_000)
    assert err.value.reason == "bomb" and "600×450 = 270,000 pixels" in str(err.value)


def test_decoding_never_writes_to_disk(monkeypatch):
    real_open = builtins.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(ch in mode for ch in "wax+"):
            raise AssertionError(f"decode_image tried to write {file!r}")
        return real_open(file, mode, *args, **kwargs)

    def no_temp(*args, **kwargs):
        raise AssertionError("decode_image tried to create a temporary file")

    ok_cases = [(n, f) for n, f, (kind, _) in ic.CASES if kind == "ok"]
    payloads = [(n, f()) for n, f in ok_cases]  # build fixtures (cached) before guarding
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(tempfile, "mkstemp", no_temp)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temp)
    for _name, data in payloads:
        decode_image(data)


# ------------------------------------------------------------------------------------------------------------ quality


@pytest.fixture(scope="module")
def real_photos(ham_dir: Path, pad_dir: Path) -> dict[str, list[Image.Image]]:
    ham = [decode_image(p).image for p in sorted((ham_dir / "images").glob("*.jpg"))]
    pad = [decode_image(p).image for p in sorted((pad_dir / "images").glob("*.png"))]
    assert len(ham) == 60 and len(pad) == 249
    return {"ham10000": ham, "pad_ufes_20": pad}


@pytest.mark.parametrize("dataset", ["ham10000", "pad_ufes_20"])
def test_every_real_photo_passes(real_photos, dataset):
    reports = [quality_report(im) for im in real_photos[dataset]]
    failing = [(i, r.problems) for i, r in enumerate(reports) if r.verdict != "pass"]
    assert not failing
    blur = np.array([r["blur"].value for r in reports])
    assert blur.min() >= QualityLimits().blur_warn


@pytest.mark.parametrize("dataset", ["ham10000", "pad_ufes_20"])
def test_degraded_copies_are_rejected(real_photos, dataset):
    for im in real_photos[dataset][::7]:
        blurred = quality_report(im.filter(ImageFilter.GaussianBlur(0.015 * max(im.size))))
        assert blurred["blur"].verdict == "reject" and blurred["blur"].value < 4.0
        assert blurred.verdict == "reject"
        dark = quality_report(ImageEnhance.Brightness(im).enhance(0.15))
        assert dark["brightness"].verdict == "reject" and dark["brightness"].value < 35
        flat = quality_report(ImageEnhance.Contrast(im).enhance(0.05))
        assert flat["contrast"].verdict == "reject" and flat["contrast"].value < 4.0


def test_mildly_blurred_photo_warns_before_rejecting(real_photos):
    im = real_photos["ham10000"][0]
    values = [quality_report(im.filter(ImageFilter.GaussianBlur(s)))["blur"].value for s in (0.0, 1.0, 2.0, 4.0, 8.0)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False)), values  # monotone in blur strength
    verdicts = [quality_report(im.filter(ImageFilter.GaussianBlur(s)))["blur"].verdict for s in (0.0, 8.0)]
    assert verdicts == ["pass", "reject"]


def test_brightness_bands_on_uniform_gray():
    def check(level: int):
        return quality_report(Image.new("RGB", (400, 300), (level,) * 3))["brightness"]

    assert (check(128).verdict, check(128).value) == ("pass", 128.0)
    assert (check(50).verdict, check(50).value) == ("warn", 50.0)
    assert (check(30).verdict, check(30).value) == ("reject", 30.0)
    assert (check(235).verdict, check(240).verdict, check(250).verdict) == ("warn", "warn", "reject")
    assert "too dark" in check(30).message and "measured 30.0" in check(30).message and "35–245" in check(30).message
    assert "overexposed" in check(250).message
    flat = quality_report(Image.new("RGB", (400, 300), (128,) * 3))
    assert flat["contrast"].value == 0.0 and flat["blur"].value == 0.0 and flat.verdict == "reject"


def test_min_side_and_model_relaxation(dermamnist_dir: Path):
    ham = ic.ham_photo()
    assert quality_report(ham.resize((200, 150)))["min_side"].verdict == "warn"
    assert quality_report(ham.resize((80, 60)))["min_side"].verdict == "reject"
    tiny = decode_image(next((dermamnist_dir / "images").glob("*.jpg"))).image
    assert tiny.size == (28, 28)
    default = quality_report(tiny)
    assert default["min_side"].verdict == "reject" and default.verdict == "reject"
    relaxed = QualityLimits.for_model(28)
    # the minimum side drops to the model's input; the blur check stays on whatever the model's size
    assert (relaxed.min_side_warn, relaxed.min_side_reject, relaxed.blur_warn, relaxed.blur_reject) == (28, 28, 6.0, 4.0)
    assert quality_report(tiny, limits=relaxed)["min_side"].verdict == "pass"
    assert quality_report(tiny, limits=relaxed)["blur"].verdict == "pass"
    assert quality_report(tiny.crop((0, 0, 27, 27)), limits=relaxed)["min_side"].verdict == "reject"  # under 28 px
    big = QualityLimits.for_model(384)
    assert (big.min_side_warn, big.min_side_reject, big.blur_warn) == (224, 96, 6.0)  # relaxes only, never tightens


def test_blur_measure_matches_hand_laplacian_and_is_resolution_independent():
    ham = ic.ham_photo()
    gray = quality_gray(ham).astype(np.float64)
    assert max(gray.shape) == QUALITY_SIDE
    p = np.pad(gray, 1, mode="reflect")  # OpenCV's default border (BORDER_REFLECT_101)
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]
    assert laplacian_variance(ham) == pytest.approx(lap.var(), rel=1e-9)
    values = [laplacian_variance(ham.resize((s, s * 3 // 4), Image.Resampling.LANCZOS)) for s in (400, 600, 1600, 3200)]
    assert max(values) / min(values) < 1.10, values


def test_report_overall_verdict_and_dict():
    report = quality_report(ImageEnhance.Brightness(ic.ham_photo()).enhance(0.3))
    assert report["brightness"].verdict == "warn"
    assert report.verdict == "warn"
    d = report.to_dict()
    assert d["verdict"] == "warn" and [c["name"] for c in d["checks"]] == [
        "min_side", "blur", "noise", "skin", "brightness", "contrast"]
    assert report.problems[0].name == "brightness" and report.messages == [report["brightness"].message]
    with pytest.raises(KeyError):
        report["nope"]


# ---------------------------------------------------------------------------------------------------------------- ITA


def _lab_by_hand(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB (D65) → CIELAB with the textbook formulas, independent of OpenCV."""
    c = np.array(rgb) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    x, y, z = m @ c / np.array([0.95047, 1.0, 1.08883])

    def f(t: float) -> float:
        return math.cbrt(t) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


@pytest.mark.parametrize(
    ("rgb", "category"),
    [
        ((233, 196, 170), "very light"),
        ((224, 172, 138), "light"),
        ((198, 150, 110), "intermediate"),
        ((198, 134, 66), "tan"),
        ((141, 85, 36), "brown"),
        ((90, 56, 37), "dark"),
    ],
)
def test_ita_on_known_colours(rgb, category):
    L, _, b = _lab_by_hand(rgb)
    expected = math.degrees(math.atan((L - 50) / b))
    img = Image.new("RGB", (20, 10), rgb)
    got = ita_degrees(img)
    assert got == pytest.approx(expected, abs=0.5)
    assert ita_category(got) == category == ita_category(expected)


def test_ita_mask_selects_skin():
    skin, lesion = (224, 172, 138), (60, 40, 30)
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[:, :12] = skin
    arr[:, 12:] = lesion
    mask = np.zeros((10, 20), dtype=bool)
    mask[:, :12] = True
    assert ita_degrees(arr, mask) == pytest.approx(ita_degrees(Image.new("RGB", (4, 4), skin)), abs=1e-9)
    assert ita_degrees(arr, mask) > 41 > ita_degrees(arr, ~mask)
    assert math.isnan(ita_degrees(arr, np.zeros((10, 20), dtype=bool)))
    with pytest.raises(ValueError, match="does not match"):
        ita_degrees(arr, np.ones((3, 3), dtype=bool))


def test_ita_category_boundaries():
    assert [ita_category(a) for a in (90, 55.01, 55, 41.01, 41, 28.01, 28, 10.01, 10, -29.99, -30, -80)] == [
        "very light", "very light", "light", "light", "intermediate", "intermediate", "tan", "tan", "brown",
        "brown", "dark", "dark",
    ]
    assert ita_category(float("nan")) == "unknown"


# -- one decoder for training, embedding and serving --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rgba_png_transparent", "photo_3000px_jpeg", "exif_rotated_jpeg", "png_16bit"])
def test_training_embedding_and_serving_decode_to_identical_pixels(name, tmp_path):
    from skintag.embeddings import load_image
    from skintag.images import intake
    from skintag.triage import TriageSettings
    from skintag.triage import load_image as triage_load
    from training.common import open_rgb

    data = getattr(ic, name)()
    path = tmp_path / f"{name}.{'jpg' if 'jpeg' in name else 'png'}"
    path.write_bytes(data)
    served = np.asarray(intake(data).image)
    decoded = {
        "training (open_rgb)": open_rgb(path),
        "embedding (load_image, path)": load_image(path),
        "embedding (load_image, bytes)": load_image(data),
        "triage (bytes)": triage_load(data, TriageSettings()),
        "triage (path)": triage_load(str(path), TriageSettings()),
        "in-memory PIL": intake(Image.open(io.BytesIO(data))).image,
    }
    for where, image in decoded.items():
        assert image.mode == "RGB", where
        np.testing.assert_array_equal(np.asarray(image), served, err_msg=where)
    if name == "rgba_png_transparent":  # transparency composited onto white, as a plain .convert("RGB") would not
        assert served.shape == (80, 100, 3)
        assert (served[:, 50:] == 255).all() and (served[:, :50] == (120, 80, 60)).all()
        assert not np.array_equal(np.asarray(Image.open(path).convert("RGB")), served)
    if name == "photo_3000px_jpeg":  # downscaled to the 2048 px side on every path
        assert served.shape == (1536, 2048, 3)


def test_intake_is_one_call_with_quality_and_crop():
    from skintag.images import Intake, IntakeLimits, intake

    got = intake(ic.ham_jpeg(), crop=(0.25, 0.25, 0.75, 0.75))
    assert isinstance(got, Intake) and got.accepted and got.quality.verdict == "pass"
    assert got.decoded.image.size == (600, 450) and got.image.size == (300, 225)
    assert got.describe()["scored_size"] == [300, 225] and got.describe()["quality"]["verdict"] == "pass"
    with pytest.raises(BadImageError) as info:
        intake(ic.ham_jpeg(), limits=IntakeLimits(max_bytes=1000))
    assert info.value.reason == "too_large"
    small = intake(ic.ham_jpeg(), limits=IntakeLimits(max_side=300))
    assert small.image.size == (300, 225) and small.decoded.downscaled
    dark = intake(_encode_jpeg(ImageEnhance.Brightness(ic.ham_photo()).enhance(0.1)))
    assert not dark.accepted and dark.quality["brightness"].verdict == "reject"


def _encode_jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92)
    return buf.getvalue()



# ------------------------------------------------------------------------------------------- the gate: refused pictures


@pytest.mark.parametrize("limits", [QualityLimits(), QualityLimits.for_model(28), QualityLimits.for_model(32)],
                         ids=["default", "28px-model", "32px-model"])
@pytest.mark.parametrize("name", ic.GATE_CASE_NAMES)
def test_gate_case_outcome(name, limits):
    """Noise, a radius-12 blur of a real photo, a flat colour, a tiny image, a text screenshot and a photo without
    skin colours: each is refused by exactly the checks named in ``ic.GATE_CASES``, for every model size."""
    factory, failing = next((f, fail) for n, f, fail in ic.GATE_CASES if n == name)
    report = quality_report(decode_image(factory()).image, limits=limits)
    assert report.verdict == "reject"
    assert {c.name: c.verdict for c in report.problems} == failing
    for check in report.problems:
        assert "measured" in check.message
    if name == "blur12":  # the upload is judged blurred, never "sharp enough"
        assert "blurred" in report["blur"].message and report["blur"].value < 4.0


def test_gate_values_of_the_refused_cases():
    """The measured values behind each refusal (measured here; limits: noise σ ≤ 20, skin ≥ 10 %, blur ≥ 4)."""
    values = {n: quality_report(decode_image(f()).image) for n, f, _ in ic.GATE_CASES}
    assert values["noise"]["noise"].value == pytest.approx(49.7, abs=0.1)
    assert values["blur12"]["blur"].value == pytest.approx(2.06, abs=0.05)
    assert (values["flat_colour"]["blur"].value, values["flat_colour"]["contrast"].value) == (0.0, 0.0)
    assert values["flat_colour"]["skin"].value == 100.0  # skin-coloured, yet refused: nothing to see
    assert values["tiny"]["min_side"].value == 15.0
    assert values["text_screenshot"]["skin"].value == pytest.approx(6.87, abs=0.05)
    assert values["no_skin_colour"]["skin"].value == 0.0


@pytest.mark.parametrize("image_size", [28, 224])
def test_every_real_photo_passes_the_whole_gate(real_photos, image_size):
    """All 309 real photos (60 HAM10000, 249 PAD-UFES-20) pass every check at the demo's 28 px and at 224 px, with the
    measured margins of the QualityLimits table (noise σ at most 6.9, warned above 12; skin at least 70.6 %, warned
    below 20 %), asserted with room for other CPUs' rounding."""
    limits = QualityLimits.for_model(image_size)
    reports = [quality_report(im, limits=limits) for ims in real_photos.values() for im in ims]
    assert len(reports) == 309
    assert [r.verdict for r in reports].count("pass") == 309
    # wide margins to the warning limits (measured: noise at most 6.9 against 12, skin at least 70.6 % against 20 %)
    assert max(r["noise"].value for r in reports) < limits.noise_warn - 4.0
    assert min(r["skin"].value for r in reports) > limits.skin_warn + 40.0


def _noise_by_hand(gray: np.ndarray) -> float:
    g = gray.astype(np.float64)
    c = g[1:-1, 1:-1]
    conv = (g[:-2, :-2] + g[:-2, 2:] + g[2:, :-2] + g[2:, 2:]
            - 2 * (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]) + 4 * c)
    return math.sqrt(math.pi / 2) * np.abs(conv).sum() / (6 * c.size)


def test_noise_sigma_matches_immerkaer_by_hand_and_recovers_gaussian_noise():
    from skintag.images import noise_sigma

    ham = ic.ham_photo()
    assert noise_sigma(ham) == pytest.approx(_noise_by_hand(np.asarray(ham.convert("L"))), rel=1e-9)
    assert noise_sigma(Image.new("RGB", (50, 40), (90, 90, 90))) == 0.0
    assert noise_sigma(Image.new("RGB", (2, 2))) == 0.0
    rng = np.random.default_rng(1)
    noisy = np.clip(128 + rng.normal(0, 10, (400, 400)), 0, 255).round().astype(np.uint8)
    # Gaussian noise of σ = 10 on a flat grey is estimated as σ ≈ 10 (the estimator's purpose); measured 10.0
    assert noise_sigma(Image.fromarray(noisy).convert("RGB")) == pytest.approx(10.0, abs=0.3)


@pytest.mark.parametrize(
    ("rgb", "skin"),
    [
        ((224, 172, 138), True),    # light skin: Y 183, Cb 108, Cr 157
        ((141, 85, 36), True),      # brown skin
        ((60, 38, 30), True),       # dark skin: Y 44
        ((128, 128, 128), True),    # neutral grey (phone white balance): Cb = Cr = 128
        ((255, 255, 255), False),   # paper / screenshot white: Y 255
        ((0, 0, 0), False),
        ((30, 140, 40), False),     # green: Cr 84
        ((60, 90, 200), False),     # blue: Cb 192
    ],
)
def test_skin_colour_rule_on_known_colours(rgb, skin):
    from skintag.images import SKIN_YCBCR, skin_percent

    im = Image.new("RGB", (4, 4), rgb)
    y, cb, cr = np.asarray(im.convert("YCbCr"))[0, 0].astype(int)
    by_hand = all(lo <= v <= hi for v, (lo, hi) in zip((y, cb, cr), SKIN_YCBCR.values(), strict=True))
    assert by_hand is skin
    assert skin_percent(im) == (100.0 if skin else 0.0)


def test_crop_box_and_its_outline():
    from skintag.images import CROP_COLOUR, apply_crop, crop_box, draw_crop_box

    ham = ic.ham_photo()  # 600×450
    crop = (0.25, 0.1, 0.75, 0.9)
    assert crop_box(ham.size, crop) == (150, 45, 450, 405)
    assert apply_crop(ham, crop).size == (300, 360)
    drawn = draw_crop_box(ham, crop, width=2)
    arr, orig = np.asarray(drawn), np.asarray(ham)
    assert drawn.size == ham.size and drawn is not ham
    for x, y in [(150, 45), (449, 404), (300, 45), (300, 46), (150, 200), (448, 200)]:  # on the 2-px outline
        assert tuple(arr[y, x]) == CROP_COLOUR, (x, y)
    changed = np.any(arr != orig, axis=-1)
    assert not changed[:45].any() and not changed[405:].any() and not changed[:, :150].any()
    assert not changed[:, 450:].any() and not changed[47:403, 152:448].any()  # outside the box, and its inside
    assert draw_crop_box(ham, crop).size == ham.size  # default width: 0.6 % of 600 px = 4 px
    assert tuple(np.asarray(draw_crop_box(ham, crop))[48, 300]) == CROP_COLOUR
    from skintag.errors import ArgumentError

    with pytest.raises(ArgumentError, match="Crop box"):
        crop_box(ham.size, (0.5, 0.1, 0.4, 0.9))
