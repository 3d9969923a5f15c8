"""Application settings, built once from the environment and passed down (no global state)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skintag.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """``$SKINTAG_DATA_DIR`` if set, else ``../shared/data`` beside the repository, else ``./data``."""
    env = os.environ.get("SKINTAG_DATA_DIR")
    if env:
        return Path(env).expanduser()
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else REPO_ROOT / "data"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"Environment variable {name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class Settings:
    """Runtime settings of the app and library.

    Attributes
    ----------
    data_dir : folder holding the datasets (one sub-folder per dataset, as in ``../shared/data``).
    model_dir : the model bundle the app serves (default: the embedded ``models/demo``).
    app_data_dir : the only folder the app writes to (caches); uploads are never written anywhere.
    max_upload_mb : uploads larger than this are refused.
    max_pixels : images with more pixels are refused as decompression bombs.
    shap_max_evals : default SHAP budget (model evaluations per explanation).
    """

    data_dir: Path = field(default_factory=default_data_dir)
    model_dir: Path = REPO_ROOT / "models" / "demo"
    app_data_dir: Path = REPO_ROOT / ".skintag"
    max_upload_mb: float = 20.0
    max_pixels: int = 50_000_000
    shap_max_evals: int = 300

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``SKINTAG_*`` environment variables, falling back to the defaults."""
        env = os.environ
        return cls(
            data_dir=default_data_dir(),
            model_dir=Path(env.get("SKINTAG_MODEL_DIR", str(REPO_ROOT / "models" / "demo"))).expanduser(),
            app_data_dir=Path(env.get("SKINTAG_APP_DATA_DIR", str(REPO_ROOT / ".skintag"))).expanduser(),
            max_upload_mb=_env_float("SKINTAG_MAX_UPLOAD_MB", 20.0),
            max_pixels=int(_env_float("SKINTAG_MAX_PIXELS", 50_000_000)),
            shap_max_evals=int(_env_float("SKINTAG_SHAP_MAX_EVALS", 300)),
        )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def read_yaml(path: Path, label: str, missing: str) -> Any:
    """The YAML document in ``path`` (``None`` if it is empty).

    Raises
    ------
    ConfigError
        ``missing`` if there is no such file; ``<label> is not valid YAML: ...`` if it does not parse.
    """
    if not path.is_file():
        raise ConfigError(missing)
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label} is not valid YAML: {exc}") from exc
