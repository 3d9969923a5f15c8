"""Shared test fixtures: the real datasets in ``../shared/data`` (required in CI, never silently skipped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SKINTAG_TEST_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if path.exists():
        return path
    msg = f"real data not found at {path} (set SKINTAG_TEST_DATA_DIR or place ../shared/data beside the repo)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real public datasets; fails under CI when missing, skips locally."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def ham_dir(shared_data: Path) -> Path:
    return _require(shared_data / "ham10000")


@pytest.fixture(scope="session")
def pad_dir(shared_data: Path) -> Path:
    return _require(shared_data / "pad_ufes_20")


@pytest.fixture(scope="session")
def dermamnist_dir(shared_data: Path) -> Path:
    return _require(shared_data / "dermamnist")


@pytest.fixture(scope="session")
def fitz17k_dir(shared_data: Path) -> Path:
    return _require(shared_data / "fitzpatrick17k")


@pytest.fixture(scope="session")
def isic2019_dir(shared_data: Path) -> Path:
    return _require(shared_data / "isic2019")
