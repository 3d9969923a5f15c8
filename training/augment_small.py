"""Augmentation for very small images (DermaMNIST's 28 px).

docs/SPEC.md §3's field-condition transforms (blur up to 9 px, JPEG 40, shadows, glare) erase a 28-px lesion, so tiny images
get a light geometric + colour variant instead: flips and 90° rotations (dermoscopy has no canonical orientation), a
small affine jitter with reflected borders, and brightness/contrast/saturation/hue jitter. Larger images use
``skintag.augment.field_transform`` at the configured severity.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def small_image_transform(random_state: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """An albumentations pipeline for tiny RGB uint8 images (H×W×3 → H×W×3), seeded for reproducibility."""
    import albumentations as A
    import cv2

    pipeline = A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=1.0),
            A.Affine(
                scale=(0.9, 1.1),
                translate_percent=(-0.08, 0.08),
                rotate=(-20, 20),
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.7,
            ),
            A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.03, p=0.8),
        ],
        seed=random_state,
    )

    def apply(image: np.ndarray) -> np.ndarray:
        return pipeline(image=image)["image"]

    apply.pipeline = pipeline  # type: ignore[attr-defined]
    return apply


def make_transform(kind: str, random_state: int | None = None) -> Callable[[np.ndarray], np.ndarray] | None:
    """The training-time transform for ``finetune.augment``: "none", "small", or a field severity."""
    if kind == "none":
        return None
    if kind == "small":
        return small_image_transform(random_state)
    from skintag.augment import field_transform

    pipeline = field_transform(kind)
    if random_state is not None and hasattr(pipeline, "set_random_seed"):
        pipeline.set_random_seed(random_state)

    def apply(image: np.ndarray) -> np.ndarray:
        return pipeline(image=image)["image"]

    apply.pipeline = pipeline  # type: ignore[attr-defined]
    return apply
