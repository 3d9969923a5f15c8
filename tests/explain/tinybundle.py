"""One tiny model bundle per test process, shared by the triage, explanation and page tests (building one takes
several seconds on 2 cores). Built with skintag.model.testing.build_tiny_bundle into a temporary folder removed at exit."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_CACHE: dict[str, Path] = {}


def tiny_bundle_dir(data_dir: Path) -> Path:
    """Directory of a tiny bundle trained on real photos under ``data_dir`` (built on first use)."""
    key = str(Path(data_dir).resolve())
    if key not in _CACHE:
        import torch

        from skintag.model.testing import build_tiny_bundle

        torch.set_num_threads(1)
        root = Path(tempfile.mkdtemp(prefix="skintag_tiny_"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _CACHE[key] = build_tiny_bundle(root / "bundle", data_dir=data_dir)
    return _CACHE[key]
