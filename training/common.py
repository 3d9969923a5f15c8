"""Helpers shared by the pipeline stages: threads and seeds, the backbone and preprocessing a config asks for,
image decoding, label bookkeeping."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from skintag.taxonomy import MALIGNANT_IDS, N_CONDITIONS

if TYPE_CHECKING:  # pragma: no cover
    from transformers import SiglipVisionModel

    from skintag.model.backbone import Preprocessing

MALIGNANT_LIST: list[int] = sorted(MALIGNANT_IDS)


def setup_torch(cfg: dict[str, Any]) -> None:
    """Apply ``threads`` (CPU threads for torch) and seed python, numpy and torch from the config's ``seed``."""
    import torch

    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
        os.environ.setdefault("OMP_NUM_THREADS", str(cfg["threads"]))
    random_state = int(cfg["seed"])
    random.seed(random_state)
    np.random.seed(random_state)
    torch.manual_seed(random_state)


def initial_backbone(cfg: dict[str, Any]) -> SiglipVisionModel:
    """The backbone a run starts from: a seeded fresh model (``source: scratch``) or pretrained weights."""
    from skintag.model.backbone import load_backbone, new_backbone

    bb = cfg["backbone"]
    if bb["source"] == "scratch":
        return new_backbone(bb["config"], random_state=int(cfg["seed"]))
    return load_backbone(bb["source"], revision=bb.get("revision"))


def make_preprocessing(cfg: dict[str, Any], backbone: SiglipVisionModel | None = None) -> Preprocessing:
    """Preprocessing from ``backbone.preprocessing`` or, when absent, SigLIP's (0.5 mean/std, bicubic) at the
    backbone's image size."""
    from skintag.model.backbone import Preprocessing

    spec = cfg["backbone"].get("preprocessing")
    if spec:
        return Preprocessing.from_manifest(dict(spec))
    if backbone is not None:
        size = int(backbone.config.image_size)
    elif cfg["backbone"].get("config"):
        size = int(cfg["backbone"]["config"]["image_size"])
    else:
        size = 224
    return Preprocessing(image_size=size)


def open_rgb(path: str | Path) -> Image.Image:
    """Decode an image file exactly as the app decodes an upload (:func:`skintag.images.load_rgb`, the one decoder:
    EXIF orientation, any mode to RGB, transparency flattened onto white, longer side at most 2048 px)."""
    from skintag.images import load_rgb

    return load_rgb(path).image


def present_classes(condition_ids: np.ndarray) -> list[int]:
    """Sorted condition ids that occur in ``condition_ids``."""
    return sorted(int(c) for c in np.unique(condition_ids))


def class_weights(condition_ids: np.ndarray, power: float) -> np.ndarray:
    """Per-class weights (length 10) ∝ (1 / frequency) ** power, scaled so that the mean weight over the samples is 1.
    Absent classes get 0."""
    counts = np.bincount(np.asarray(condition_ids, dtype=int), minlength=N_CONDITIONS).astype(float)
    w = np.zeros(N_CONDITIONS)
    present = counts > 0
    w[present] = (counts[present].sum() / counts[present]) ** float(power)
    mean = float((w * counts).sum() / counts.sum())
    return w / mean
