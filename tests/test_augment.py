"""skintag.augment: docs/SPEC.md §3 limits and probabilities, real-image runs, and a deterministic robustness suite."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
from PIL import Image

from skintag.augment import (
    FIELD_PROBABILITIES,
    ROBUSTNESS_SUITE,
    SEVERITIES,
    apply,
    field_transform,
    robustness_transforms,
    seed_transform,
)
from skintag.errors import ConfigError
from skintag.images import decode_image, laplacian_variance

SUITE_KEYS = [
    "clean", "blur_light", "blur_heavy", "noise_light", "noise_heavy", "dark", "bright",
    "jpeg_light", "jpeg_heavy", "rotation_15", "rotation_45", "combined",
]


@pytest.fixture(scope="module")
def photos(ham_dir: Path, pad_dir: Path) -> list[Image.Image]:
    ham = sorted((ham_dir / "images").glob("*.jpg"))[:3]
    pad = sorted((pad_dir / "images").glob("*.png"))[:3]
    return [decode_image(p).image for p in [*ham, *pad]]


def _leaves(t: A.BasicTransform | A.BaseCompose) -> list[A.BasicTransform]:
    if isinstance(t, A.BaseCompose):
        return [leaf for child in t.transforms for leaf in _leaves(child)]
    return [t]


def _find(t: A.Compose, cls: type) -> A.BasicTransform:
    (hit,) = [leaf for leaf in _leaves(t) if type(leaf) is cls]
    return hit


def _group_of(t: A.Compose, cls: type) -> A.OneOf:
    for child in t.transforms:
        if isinstance(child, A.OneOf) and any(type(c) is cls for c in child.transforms):
            return child
    raise AssertionError(f"{cls.__name__} is not inside a OneOf group")


@pytest.mark.parametrize("severity", ["light", "moderate", "heavy"])
def test_severity_limits_follow_spec(severity):
    t = field_transform(severity)
    k = {"light": 3, "moderate": 5, "heavy": 9}[severity]
    bc = {"light": 0.2, "moderate": 0.3, "heavy": 0.4}[severity]
    std = {"light": 0.06, "moderate": 0.10, "heavy": 0.15}[severity]
    assert _find(t, A.MotionBlur).blur_limit == (3, k)
    assert _find(t, A.GaussianBlur).blur_limit == (3, k)
    assert _find(t, A.MedianBlur).blur_limit == (3, k)
    rbc = _find(t, A.RandomBrightnessContrast)
    assert rbc.brightness_limit == pytest.approx((-bc, bc)) and rbc.contrast_limit == pytest.approx((-bc, bc))
    assert _find(t, A.RandomGamma).gamma_limit == (60, 140)
    assert _find(t, A.GaussNoise).std_range == pytest.approx((0.01, std))
    assert _find(t, A.RGBShift).r_shift_limit == (-15, 15)
    assert _find(t, A.ImageCompression).quality_range == (40, 90)
    assert _find(t, A.Downscale).scale_range == (0.4, 0.8)
    groups = {
        "blur": _group_of(t, A.MotionBlur).p,
        "defocus_zoom": _group_of(t, A.Defocus).p,
        "exposure": _group_of(t, A.RandomGamma).p,
        "colour_cast": _group_of(t, A.RGBShift).p,
        "sensor_noise": _group_of(t, A.ISONoise).p,
        "compression": _group_of(t, A.Downscale).p,
        "shadow": _find(t, A.RandomShadow).p,
        "glare": _find(t, A.RandomSunFlare).p,
    }
    assert groups == FIELD_PROBABILITIES == {
        "blur": 0.3, "defocus_zoom": 0.2, "exposure": 0.5, "colour_cast": 0.4, "sensor_noise": 0.4,
        "compression": 0.3, "shadow": 0.15, "glare": 0.1,
    }
    assert _find(t, A.HorizontalFlip).p == 0.5 and _find(t, A.VerticalFlip).p == 0.5
    assert _find(t, A.Affine).p == 0.5 and SEVERITIES[severity].blur_limit == k


def test_unknown_severity_is_refused():
    with pytest.raises(ConfigError, match="'extreme'.*heavy"):
        field_transform("extreme")  # type: ignore[arg-type]


def test_group_rates_match_probabilities():
    """Over 400 seeded runs each group fires at its SPEC probability (±4 binomial standard errors)."""
    t = field_transform("moderate", image_size=32)
    t.save_applied_params = True
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    names = {
        "blur": {"MotionBlur", "GaussianBlur", "MedianBlur"},
        "defocus_zoom": {"Defocus", "ZoomBlur"},
        "exposure": {"RandomBrightnessContrast", "RandomGamma", "RandomToneCurve"},
        "colour_cast": {"HueSaturationValue", "RGBShift", "ColorJitter"},
        "sensor_noise": {"GaussNoise", "ISONoise", "MultiplicativeNoise"},
        "compression": {"ImageCompression", "Downscale"},
        "shadow": {"RandomShadow"},
        "glare": {"RandomSunFlare"},
    }
    n = 400
    fired: Counter[str] = Counter()
    both_flips = 0
    for random_state in range(n):
        seed_transform(t, random_state)
        applied = {name for name, _ in t(image=img)["applied_transforms"]}
        fired.update(g for g, members in names.items() if applied & members)
        both_flips += {"HorizontalFlip", "VerticalFlip"} <= applied
    for group, p in FIELD_PROBABILITIES.items():
        se = math.sqrt(p * (1 - p) / n)
        assert abs(fired[group] / n - p) < 4 * se, (group, fired[group] / n, p)
    # siblings draw independently (albumentations' own seeding would make both flips always coincide)
    assert abs(both_flips / n - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n), both_flips


@pytest.mark.parametrize("severity", ["light", "moderate", "heavy"])
def test_field_transform_runs_on_real_images_and_changes_them(photos, severity):
    t = field_transform(severity)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated-argument warnings from albumentations
        outs = [apply(t, im, random_state=i) for i, im in enumerate(photos)]
    for im, out in zip(photos, outs, strict=True):
        assert out.mode == "RGB" and out.size == im.size
        assert np.abs(np.asarray(out, dtype=np.int16) - np.asarray(im, dtype=np.int16)).mean() > 1.0
    again = [apply(t, im, random_state=i) for i, im in enumerate(photos)]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(outs, again, strict=True))


def test_heavier_severity_degrades_more(photos):
    """Mean absolute change over 8 seeded runs per image (at 256 px) grows with severity; geometry is excluded by
    comparing the photometric part only (the transform without flips/rotation)."""

    def photometric(sev: str) -> A.Compose:
        t = field_transform(sev)
        return A.Compose([c for c in t.transforms if not isinstance(c, A.HorizontalFlip | A.VerticalFlip | A.Affine)])

    small = [im.resize((256, round(256 * im.height / im.width))) for im in photos]
    change = {}
    for sev in ("light", "heavy"):
        t = photometric(sev)
        diffs = [
            np.abs(np.asarray(apply(t, im, random_state=s), dtype=np.int16) - np.asarray(im, dtype=np.int16)).mean()
            for im in small
            for s in range(8)
        ]
        change[sev] = float(np.mean(diffs))
    assert change["heavy"] > change["light"] > 0.5, change


def test_image_size_resizes_first(photos):
    out = apply(field_transform("moderate", image_size=64), photos[0], random_state=3)
    assert out.size == (64, 64)
    with pytest.raises(ConfigError, match="too small"):
        field_transform("light", image_size=4)


def test_robustness_suite_keys_and_determinism(photos):
    suite = robustness_transforms()
    assert list(suite) == list(ROBUSTNESS_SUITE) == SUITE_KEYS
    im = photos[0]
    ref = np.asarray(im, dtype=np.int16)
    out = {}
    for name, t in suite.items():
        assert all(leaf.p == 1.0 for leaf in _leaves(t)), name
        a, b = apply(t, im, random_state=7), apply(t, im, random_state=7)
        assert np.array_equal(np.asarray(a), np.asarray(b)), name
        fresh = apply(robustness_transforms()[name], im, random_state=7)
        assert np.array_equal(np.asarray(a), np.asarray(fresh)), name
        out[name] = a
    assert np.array_equal(np.asarray(out["clean"]), np.asarray(im))
    # fixed strengths: parameter-free entries give the same output whatever the random_state
    for name in ("blur_light", "blur_heavy", "dark", "bright", "jpeg_light", "jpeg_heavy", "rotation_15", "rotation_45"):
        assert np.array_equal(np.asarray(out[name]), np.asarray(apply(suite[name], im, random_state=99))), name
    mean = {k: float(np.asarray(v, dtype=np.float64).mean()) for k, v in out.items()}
    assert mean["dark"] < mean["clean"] - 50 and mean["bright"] > mean["clean"] + 30
    sharp = {k: laplacian_variance(out[k]) for k in ("clean", "blur_light", "blur_heavy")}
    assert sharp["clean"] > sharp["blur_light"] > sharp["blur_heavy"], sharp
    noise = {k: float(np.std(np.asarray(out[k], dtype=np.int16) - ref)) for k in ("noise_light", "noise_heavy")}
    assert 0.03 * 255 < noise["noise_light"] < 0.05 * 255 < noise["noise_heavy"], noise
    err = {k: np.abs(np.asarray(out[k], dtype=np.int16) - ref).mean() for k in ("jpeg_light", "jpeg_heavy")}
    assert 0 < err["jpeg_light"] < err["jpeg_heavy"]
    assert out["rotation_45"].size == im.size


def test_robustness_rotation_matches_opencv(photos):
    im = photos[0]
    out = np.asarray(apply(robustness_transforms()["rotation_15"], im), dtype=np.int16)
    import cv2

    arr = np.asarray(im)
    h, w = arr.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 15, 1.0)
    ours = cv2.warpAffine(arr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    centre = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    same = np.abs(out[centre] - ours[centre].astype(np.int16)).mean()
    flipped_sign = cv2.warpAffine(arr, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -15, 1.0), (w, h))
    other = np.abs(out[centre] - flipped_sign[centre].astype(np.int16)).mean()
    assert same < 3.0 < other, (same, other)
