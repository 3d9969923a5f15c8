"""Application settings, built once from the environment and passed down (no global state)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skintag.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
#: Where an installed wheel carries the repository's non-Python files (the demo bundle, data cards, the category map,
#: the app's entry and pages, .streamlit/config.toml), laid out as in the repository. Absent in a source checkout.
SHIPPED_DIR = PACKAGE_DIR / "_shipped"
#: True when skintag runs from a source checkout (or an editable install of one), False from an installed wheel.
FROM_SOURCE = not SHIPPED_DIR.is_dir()
#: The project root: the source checkout, or the current directory when skintag runs from an installed wheel (relative
#: paths in training configs resolve against it).
REPO_ROOT = PACKAGE_DIR.parent if FROM_SOURCE else Path.cwd()


def shipped(relative: str) -> Path:
    """A file or folder that ships with skintag, named by its path in the repository (``"models/demo"``,
    ``"data_cards"``, ``"configs/categories.yaml"``, ``"streamlit_app.py"``): the checkout's copy when run from source,
    else the installed wheel's copy under ``skintag/_shipped/``."""
    return (PACKAGE_DIR.parent if FROM_SOURCE else SHIPPED_DIR) / relative


def default_data_dir() -> Path:
    """``$SKINTAG_DATA_DIR`` if set; else, in a source checkout, ``../shared/data`` beside it if present; else
    ``data/`` under the project root (the current directory for an installed package)."""
    env = os.environ.get("SKINTAG_DATA_DIR")
    if env:
        return Path(env).expanduser()
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if FROM_SOURCE and shared.is_dir() else REPO_ROOT / "data"


def default_model_dir() -> Path:
    """``$SKINTAG_MODEL_DIR`` if set, else the embedded demo bundle (``models/demo``, shipped inside the wheel)."""
    env = os.environ.get("SKINTAG_MODEL_DIR")
    return Path(env).expanduser() if env else shipped("models/demo")


def default_app_data_dir() -> Path:
    """``$SKINTAG_APP_DATA_DIR`` if set; else ``.skintag/`` in a source checkout; else the user's cache folder
    (``$XDG_CACHE_HOME/skintag``, default ``~/.cache/skintag``) for an installed package."""
    env = os.environ.get("SKINTAG_APP_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if FROM_SOURCE:
        return REPO_ROOT / ".skintag"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "skintag"


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
    model_dir : the model bundle the app serves (default: the embedded ``models/demo``, see :func:`default_model_dir`).
    app_data_dir : the only folder the app writes to (caches); uploads are never written anywhere
        (see :func:`default_app_data_dir`).
    max_upload_mb : uploads larger than this are refused.
    max_pixels : images with more pixels are refused as decompression bombs.
    shap_max_evals : default SHAP budget (model evaluations per explanation).
    """

    data_dir: Path = field(default_factory=default_data_dir)
    model_dir: Path = field(default_factory=default_model_dir)
    app_data_dir: Path = field(default_factory=default_app_data_dir)
    max_upload_mb: float = 20.0
    max_pixels: int = 50_000_000
    shap_max_evals: int = 300

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``SKINTAG_*`` environment variables, falling back to the defaults."""
        return cls(
            data_dir=default_data_dir(),
            model_dir=default_model_dir(),
            app_data_dir=default_app_data_dir(),
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
