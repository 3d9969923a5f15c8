"""Field-condition augmentation and the fixed-strength robustness suite (docs/SPEC.md §3), built on albumentations 2.0.x.

* :func:`field_transform` — random "photo taken in a clinic corridor with a phone" degradations in three severities,
  used when fine-tuning (moderate) and for stress tests.
* :func:`robustness_transforms` / :data:`ROBUSTNESS_SUITE` — the same kinds of degradation at one fixed strength each
  (probability 1, fixed parameters), so a robustness table means the same thing from run to run.
* :func:`apply` — run a transform on a PIL image, optionally seeded for reproducibility.

albumentations (MIT) is pinned at 2.0.x on purpose: its successor package is AGPL-licensed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import albumentations as A
import cv2
import numpy as np
from PIL import Image

from skintag.errors import ConfigError

Severity = Literal["light", "moderate", "heavy"]


@dataclass(frozen=True)
class SeverityLimits:
    """The limits docs/SPEC.md §3 makes severity-dependent, plus the rotation range of the geometric part."""

    blur_limit: int  #: largest kernel of motion / Gaussian / median blur (pixels, odd)
    brightness_contrast: float  #: ± limit of brightness and of contrast change
    noise_std: float  #: largest Gaussian noise std, as a fraction of 255
    rotate: float  #: ± degrees of free rotation


SEVERITIES: dict[str, SeverityLimits] = {
    "light": SeverityLimits(blur_limit=3, brightness_contrast=0.2, noise_std=0.06, rotate=15.0),
    "moderate": SeverityLimits(blur_limit=5, brightness_contrast=0.3, noise_std=0.10, rotate=30.0),
    "heavy": SeverityLimits(blur_limit=9, brightness_contrast=0.4, noise_std=0.15, rotate=45.0),
}

#: Probability of each group of field conditions (docs/SPEC.md §3).
FIELD_PROBABILITIES: dict[str, float] = {
    "blur": 0.3,
    "defocus_zoom": 0.2,
    "exposure": 0.5,
    "colour_cast": 0.4,
    "sensor_noise": 0.4,
    "compression": 0.3,
    "shadow": 0.15,
    "glare": 0.1,
}


def _resize(image_size: int | None) -> list[A.BasicTransform]:
    if image_size is None:
        return []
    if image_size < 8:
        raise ConfigError(f"image_size={image_size} is too small for augmentation; expected at least 8 pixels")
    # Squash to the model's square input (as SigLIP's processor does), so pixel-sized limits mean the same at any input.
    return [A.Resize(image_size, image_size, interpolation=cv2.INTER_AREA)]


def field_transform(severity: Severity, *, image_size: int | None = None) -> A.Compose:
    """Random field-condition degradations of one severity.

    Parameters
    ----------
    severity : ``"light"``, ``"moderate"`` or ``"heavy"``; sets the blur kernel limit (3 / 5 / 9 px), the
        brightness/contrast limit (±0.2 / 0.3 / 0.4), the Gaussian-noise std (up to 0.06 / 0.10 / 0.15 of full scale)
        and the free rotation (±15° / 30° / 45°). Everything else follows docs/SPEC.md §3 at every severity.
    image_size : when given, the image is first resized to ``image_size``×``image_size`` (the model's input), so blur
        kernels and glare radii act at model resolution and the output has the model's size.

    Returns
    -------
    An ``albumentations.Compose``; call it as ``t(image=uint8_array)["image"]`` or use :func:`apply`.

    Notes
    -----
    In order: flips (p 0.5 each) and a free rotation with reflected borders (p 0.5; lesions have no canonical
    orientation); motion / Gaussian / median blur (p 0.3); defocus or zoom blur (p 0.2); brightness/contrast, gamma
    60-140 or a tone curve (p 0.5); colour cast — HSV shift, RGB shift ±15 or colour jitter (p 0.4); a hand/phone
    shadow (p 0.15); glare as a sun flare (p 0.1); sensor noise — Gaussian, ISO or multiplicative (p 0.4); JPEG quality
    40-90 or downscale 0.4-0.8 (p 0.3). The order follows the camera: geometry, optics, exposure, colour, light,
    sensor, compression.
    """
    if severity not in SEVERITIES:
        raise ConfigError(f"Unknown augmentation severity {severity!r}; expected one of {sorted(SEVERITIES)}")
    s = SEVERITIES[severity]
    p = FIELD_PROBABILITIES
    k = s.blur_limit
    bc = s.brightness_contrast
    flare_radius = max(8, round(0.2 * image_size)) if image_size else 80
    transforms: list[A.BasicTransform | A.BaseCompose] = [
        *_resize(image_size),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.Affine(rotate=(-s.rotate, s.rotate), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
        A.OneOf(
            [
                A.MotionBlur(blur_limit=(3, k), p=1.0),
                A.GaussianBlur(blur_limit=(3, k), sigma_limit=(0.5, max(1.0, k / 3)), p=1.0),
                A.MedianBlur(blur_limit=(3, k), p=1.0),
            ],
            p=p["blur"],
        ),
        A.OneOf(
            [A.Defocus(radius=(1, 3), alias_blur=(0.1, 0.3), p=1.0), A.ZoomBlur(max_factor=(1.0, 1.06), p=1.0)],
            p=p["defocus_zoom"],
        ),
        A.OneOf(
            [
                A.RandomBrightnessContrast(brightness_limit=(-bc, bc), contrast_limit=(-bc, bc), p=1.0),
                A.RandomGamma(gamma_limit=(60, 140), p=1.0),
                A.RandomToneCurve(scale=0.1, p=1.0),
            ],
            p=p["exposure"],
        ),
        A.OneOf(
            [
                A.HueSaturationValue(hue_shift_limit=(-10, 10), sat_shift_limit=(-20, 20), val_shift_limit=(-10, 10), p=1.0),
                A.RGBShift(r_shift_limit=(-15, 15), g_shift_limit=(-15, 15), b_shift_limit=(-15, 15), p=1.0),
                A.ColorJitter(brightness=(0.9, 1.1), contrast=(0.9, 1.1), saturation=(0.85, 1.15), hue=(-0.03, 0.03), p=1.0),
            ],
            p=p["colour_cast"],
        ),
        A.RandomShadow(
            shadow_roi=(0.0, 0.0, 1.0, 1.0), num_shadows_limit=(1, 2), shadow_dimension=5,
            shadow_intensity_range=(0.3, 0.6), p=p["shadow"],
        ),
        A.RandomSunFlare(
            flare_roi=(0.0, 0.0, 1.0, 1.0), src_radius=flare_radius, num_flare_circles_range=(3, 6), method="overlay",
            p=p["glare"],
        ),
        A.OneOf(
            [
                A.GaussNoise(std_range=(0.01, s.noise_std), per_channel=True, p=1.0),
                A.ISONoise(color_shift=(0.01, 0.05), intensity=(0.1, 0.5), p=1.0),
                A.MultiplicativeNoise(multiplier=(0.9, 1.1), per_channel=True, elementwise=True, p=1.0),
            ],
            p=p["sensor_noise"],
        ),
        A.OneOf(
            [
                A.ImageCompression(compression_type="jpeg", quality_range=(40, 90), p=1.0),
                A.Downscale(
                    scale_range=(0.4, 0.8),
                    interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
                    p=1.0,
                ),
            ],
            p=p["compression"],
        ),
    ]
    return A.Compose(transforms)


#: The fixed-strength robustness suite: name → what it does. Every entry is deterministic (probability 1, fixed
#: parameters); the noise entries draw noise, reproducibly when :func:`apply` is given a random_state.
ROBUSTNESS_SUITE: Mapping[str, str] = {
    "clean": "unchanged",
    "blur_light": "Gaussian blur σ = 1.0 px (5×5 kernel)",
    "blur_heavy": "Gaussian blur σ = 3.0 px (13×13 kernel)",
    "noise_light": "Gaussian noise std 0.04 of full scale, per channel",
    "noise_heavy": "Gaussian noise std 0.12 of full scale, per channel",
    "dark": "brightness −0.3 (of full scale)",
    "bright": "brightness +0.3 (of full scale)",
    "jpeg_light": "JPEG quality 75",
    "jpeg_heavy": "JPEG quality 30",
    "rotation_15": "rotation by 15°, reflected borders",
    "rotation_45": "rotation by 45°, reflected borders",
    "combined": "Gaussian blur σ = 1.5 px, brightness −0.2, Gaussian noise std 0.06, JPEG quality 50",
}


def _fixed_blur(sigma: float, kernel: int) -> A.GaussianBlur:
    return A.GaussianBlur(blur_limit=(kernel, kernel), sigma_limit=(sigma, sigma), p=1.0)


def _fixed_noise(std: float) -> A.GaussNoise:
    return A.GaussNoise(std_range=(std, std), per_channel=True, p=1.0)


def _fixed_brightness(delta: float) -> A.RandomBrightnessContrast:
    return A.RandomBrightnessContrast(brightness_limit=(delta, delta), contrast_limit=(0.0, 0.0), p=1.0)


def _fixed_jpeg(quality: int) -> A.ImageCompression:
    return A.ImageCompression(compression_type="jpeg", quality_range=(quality, quality), p=1.0)


def _fixed_rotation(degrees: float) -> A.Affine:
    return A.Affine(rotate=(degrees, degrees), border_mode=cv2.BORDER_REFLECT_101, p=1.0)


def robustness_transforms(*, image_size: int | None = None) -> dict[str, A.Compose]:
    """Fresh transforms for every entry of :data:`ROBUSTNESS_SUITE` (same keys, same order).

    Parameters
    ----------
    image_size : when given, each transform first resizes to ``image_size``×``image_size`` (blur σ is then in
        model pixels).
    """
    pre = _resize(image_size)
    steps: dict[str, list[A.BasicTransform]] = {
        "clean": [],
        "blur_light": [_fixed_blur(1.0, 5)],
        "blur_heavy": [_fixed_blur(3.0, 13)],
        "noise_light": [_fixed_noise(0.04)],
        "noise_heavy": [_fixed_noise(0.12)],
        "dark": [_fixed_brightness(-0.3)],
        "bright": [_fixed_brightness(0.3)],
        "jpeg_light": [_fixed_jpeg(75)],
        "jpeg_heavy": [_fixed_jpeg(30)],
        "rotation_15": [_fixed_rotation(15.0)],
        "rotation_45": [_fixed_rotation(45.0)],
        "combined": [_fixed_blur(1.5, 9), _fixed_brightness(-0.2), _fixed_noise(0.06), _fixed_jpeg(50)],
    }
    assert list(steps) == list(ROBUSTNESS_SUITE)
    return {name: A.Compose([*pre, *ts]) for name, ts in steps.items()}


def _child_seed(random_state: int, index: int) -> int:
    return int(np.random.SeedSequence([random_state, index]).generate_state(1)[0])


def seed_transform(transform: A.BasicTransform | A.BaseCompose, random_state: int) -> None:
    """Seed a transform tree so that every node draws from its own stream.

    albumentations' ``Compose.set_random_seed`` hands the *same* random_state to every child, so two siblings with the same
    probability (e.g. the horizontal and vertical flip) would always fire together; here each child gets a random_state derived
    from its parent's random_state and its position.
    """
    transform.set_random_seed(random_state)
    if isinstance(transform, A.BaseCompose):
        for i, child in enumerate(transform.transforms):
            seed_transform(child, _child_seed(random_state, i))


def apply(transform: A.BasicTransform | A.BaseCompose, image: Image.Image, *, random_state: int | None = None) -> Image.Image:
    """Run ``transform`` on a PIL image and return a new RGB PIL image.

    With ``random_state`` the result is reproducible (the transform's random state is reset, so do not share one transform
    object between threads when seeding); without it the transform's own random state is used.
    """
    if random_state is not None:
        seed_transform(transform, random_state)
    arr = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    out = transform(image=arr)["image"]
    return Image.fromarray(np.asarray(out, dtype=np.uint8))


__all__ = [
    "FIELD_PROBABILITIES",
    "ROBUSTNESS_SUITE",
    "SEVERITIES",
    "SeverityLimits",
    "apply",
    "field_transform",
    "robustness_transforms",
    "seed_transform",
]
