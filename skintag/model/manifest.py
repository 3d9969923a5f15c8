"""Model bundle manifest: reading it needs no torch, so the app frame can show the model badge cheaply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skintag.errors import ModelBundleError

MANIFEST_NAME = "manifest.json"


def read_json_object(path: Path, label: str, missing: str) -> dict[str, Any]:
    """The JSON object held by ``path``.

    Raises
    ------
    ModelBundleError
        ``missing`` if there is no such file; ``<label> is not valid JSON: ...`` if it does not parse;
        ``<label> must hold a JSON object, found <type>`` if it holds another JSON value.
    """
    if not path.is_file():
        raise ModelBundleError(missing)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelBundleError(f"{label} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelBundleError(f"{label} must hold a JSON object, found {type(data).__name__}")
    return data


def read_manifest(bundle_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a bundle directory without verifying hashes or loading any model.

    Raises
    ------
    ModelBundleError
        If the directory or its manifest is missing or not valid JSON.
    """
    path = Path(bundle_dir) / MANIFEST_NAME
    return read_json_object(
        path, str(path), missing=f"No model bundle at {Path(bundle_dir)}: {MANIFEST_NAME} is missing"
    )
