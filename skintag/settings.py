"""Application settings, built once from the environment and passed down (no global state)."""

from __future__ import annotations

import math
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
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"Environment variable {name}={raw!r} is not a number") from exc
    if not math.isfinite(value):
        raise ConfigError(f"Environment variable {name}={raw!r} is not a finite number")
    return value


def _env_int(name: str, default: int) -> int:
    """An integer environment variable (``"2000"``; ``"2e3"`` and ``"2000.0"`` too, being whole numbers)."""
    value = _env_float(name, float(default))
    if value != int(value):
        raise ConfigError(f"Environment variable {name}={os.environ.get(name)!r} is not a whole number")
    return int(value)


def _env_list(name: str) -> tuple[str, ...]:
    """A comma-separated environment variable as a tuple of its non-empty, stripped items."""
    return tuple(x.strip() for x in os.environ.get(name, "").split(",") if x.strip())


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    """Refuse ``value`` outside [lo, hi], naming the setting and its environment variable ``SKINTAG_<NAME>``."""
    if not lo <= value <= hi:
        raise ConfigError(f"Setting {name}={value} (environment variable SKINTAG_{name.upper()}) is out of range; "
                          f"expected a number from {lo:g} to {hi:g}")


def _env_flag(name: str) -> bool:
    """A yes/no environment variable: unset, "", 0, false, no → False; 1, true, yes → True; else ConfigError."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(f"Environment variable {name}={raw!r} is not a yes/no value; expected 1/0, true/false or yes/no")


#: (lowest, highest) accepted value of each numeric setting, checked when :class:`Settings` is built.
RANGES: dict[str, tuple[float, float]] = {
    "max_upload_mb": (0.01, 200.0),
    "max_pixels": (10_000, 500_000_000),
    "shap_max_evals": (20, 100_000),
    "decode_timeout_s": (0.5, 600.0),
    "api_port": (1, 65535),
    "api_threads": (1, 64),
    "api_max_shap_evals": (20, 100_000),
    "caselog_busy_timeout_s": (0.1, 600.0),
}


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
    decode_timeout_s : an upload's decode runs in a child process stopped after this many seconds
        (``SKINTAG_DECODE_TIMEOUT_S``; see :func:`skintag.images.decode_image_bounded`).
    Every numeric setting is range-checked when built (:data:`RANGES`); the error names the variable.
    api_host, api_port : where ``python -m skintag.api`` listens (default 127.0.0.1:8000). Bound to anything but a
        loopback address, the API refuses to start without API keys.
    api_keys_file : a file of API key hashes, one ``sha256:<64 hex>`` per line (``#`` comments; see
        :mod:`skintag.api.security`); with ``api_key_hashes``, the keys the API accepts. None and empty = no keys.
    api_key_hashes : more key hashes in the same form (``SKINTAG_API_KEY_HASHES``, comma-separated).
    api_cors_origins : origins allowed to call the API from a browser; empty = CORS off.
    api_threads : CPU-bound requests (triage, explanations, fairness) one API process runs at a time (1-64).
    api_max_shap_evals : the largest SHAP budget the API accepts (20-100000).
    caselog_url : SQLAlchemy URL of the case log (``SKINTAG_CASELOG_URL``, e.g.
        ``postgresql+psycopg://user:password@host/db``); None = ``<app_data_dir>/caselog.sqlite3``.
    caselog_busy_timeout_s : how long a case-log writer waits for another's lock before retrying (0.1-600 s).
    trusted_keys : PEM files of the Ed25519 public keys whose bundle signatures this deployment trusts
        (``SKINTAG_TRUSTED_KEYS``, separated by ``os.pathsep``); when set, a bundle must carry a matching signature
        (see :mod:`skintag.model.signing`).
    require_signed_bundle : refuse an unsigned bundle even without trusted keys (``SKINTAG_REQUIRE_SIGNED_BUNDLE=1``).
    """

    data_dir: Path = field(default_factory=default_data_dir)
    model_dir: Path = field(default_factory=default_model_dir)
    app_data_dir: Path = field(default_factory=default_app_data_dir)
    max_upload_mb: float = 20.0
    max_pixels: int = 50_000_000
    shap_max_evals: int = 300
    decode_timeout_s: float = 10.0
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_keys_file: Path | None = None
    api_key_hashes: tuple[str, ...] = ()
    api_cors_origins: tuple[str, ...] = ()
    api_threads: int = 4
    api_max_shap_evals: int = 2000
    caselog_url: str | None = None
    caselog_busy_timeout_s: float = 30.0
    trusted_keys: tuple[Path, ...] = ()
    require_signed_bundle: bool = False

    def __post_init__(self) -> None:
        for key in self.trusted_keys:
            if not Path(key).is_file():
                raise ConfigError(f"Trusted key {key} (environment variable SKINTAG_TRUSTED_KEYS) is not a file; "
                                  "expected the PEM public key a bundle publisher gave you")
        for name, (lo, hi) in RANGES.items():
            _check_range(name, getattr(self, name), lo, hi)
        if not self.api_host.strip():
            raise ConfigError("api_host (SKINTAG_API_HOST) is empty; expected a host name or address such as 127.0.0.1")

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from ``SKINTAG_*`` environment variables, falling back to the defaults."""
        return cls(
            data_dir=default_data_dir(),
            model_dir=default_model_dir(),
            app_data_dir=default_app_data_dir(),
            max_upload_mb=_env_float("SKINTAG_MAX_UPLOAD_MB", 20.0),
            max_pixels=_env_int("SKINTAG_MAX_PIXELS", 50_000_000),
            shap_max_evals=_env_int("SKINTAG_SHAP_MAX_EVALS", 300),
            decode_timeout_s=_env_float("SKINTAG_DECODE_TIMEOUT_S", 10.0),
            api_host=os.environ.get("SKINTAG_API_HOST") or "127.0.0.1",
            api_port=_env_int("SKINTAG_API_PORT", 8000),
            api_keys_file=Path(os.environ["SKINTAG_API_KEYS_FILE"]).expanduser()
            if os.environ.get("SKINTAG_API_KEYS_FILE") else None,
            api_key_hashes=_env_list("SKINTAG_API_KEY_HASHES"),
            api_cors_origins=_env_list("SKINTAG_API_CORS_ORIGINS"),
            api_threads=_env_int("SKINTAG_API_THREADS", 4),
            api_max_shap_evals=_env_int("SKINTAG_API_MAX_SHAP_EVALS", 2000),
            caselog_url=os.environ.get("SKINTAG_CASELOG_URL") or None,
            caselog_busy_timeout_s=_env_float("SKINTAG_CASELOG_BUSY_TIMEOUT_S", 30.0),
            trusted_keys=tuple(Path(p).expanduser() for p in os.environ.get("SKINTAG_TRUSTED_KEYS", "").split(os.pathsep)
                               if p.strip()),
            require_signed_bundle=_env_flag("SKINTAG_REQUIRE_SIGNED_BUNDLE"),
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
