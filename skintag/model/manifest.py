"""Model bundle manifest: reading it needs no torch, so the app frame can show the model badge cheaply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skintag.errors import ModelBundleError

MANIFEST_NAME = "manifest.json"


def read_manifest(bundle_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a bundle directory without verifying hashes or loading any model.

    Raises
    ------
    ModelBundleError
        If the directory or its manifest is missing or not valid JSON.
    """
    path = Path(bundle_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelBundleError(f"No model bundle at {Path(bundle_dir)}: {MANIFEST_NAME} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelBundleError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data
