"""Shared fixtures of the model tests: one tiny bundle per session (built from real images), copied where altered."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    from skintag.model.testing import build_tiny_bundle

    torch.set_num_threads(1)
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny", data_dir=shared_data)


@pytest.fixture
def bundle_copy(tiny_bundle_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny bundle that a test may alter."""
    return Path(shutil.copytree(tiny_bundle_dir, tmp_path / "copy"))


@pytest.fixture(scope="session")
def real_images(ham_dir: Path, pad_dir: Path) -> list:
    from PIL import Image

    paths = sorted((ham_dir / "images").glob("*.jpg"))[:6] + sorted((pad_dir / "images").glob("*.png"))[:2]
    images = []
    for p in paths:
        with Image.open(p) as im:
            images.append(im.convert("RGB"))
    return images
