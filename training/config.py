"""Pipeline configuration: read a YAML file, fill defaults, validate, resolve paths.

A config is plain data (a nested dict) so that it can be hashed, copied into the run directory and written into the
bundle manifest. Relative paths in it are resolved against the repository root, so a command gives the same result from
any working directory.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from skintag.errors import ConfigError
from skintag.model.heads import XGB_DEFAULTS
from skintag.settings import REPO_ROOT, default_data_dir, read_yaml

STAGES: tuple[str, ...] = ("prepare", "embed", "finetune", "heads", "calibrate", "evaluate", "export")

#: the heads' XGBoost defaults less ``random_state``, which a config does not set (the head's own default applies)
_XGB_DEFAULTS: dict[str, Any] = {k: v for k, v in XGB_DEFAULTS.items() if k != "random_state"}

DEFAULTS: dict[str, Any] = {
    "name": None,
    "version": "0.1.0",
    "run_dir": None,
    "seed": 0,
    "threads": None,
    "data": {
        "root": None,
        "datasets": None,
        "require_images": True,
        "limit_per_split": None,
        "split": {"use_official": False, "val_frac": 0.15, "test_frac": 0.15, "near_duplicate_threshold": None},
    },
    "backbone": {"source": None, "config": None, "preprocessing": None, "revision": None},
    "embed": {"batch_size": 64, "tta": "none"},
    "finetune": {
        "enabled": True,
        "unfreeze_layers": 4,
        "epochs": 10,
        "batch_size": 8,
        "effective_batch_size": 32,
        "lr_backbone": 1e-5,
        "lr_head": 1e-4,
        "weight_decay": 0.01,
        "warmup_epochs": 0,
        "grad_clip": 1.0,
        "class_weight_power": 1.0,
        "label_smoothing": 0.0,
        "head_hidden": 256,
        "head_dropout": 0.1,
        "augment": "moderate",
        "early_stopping_metric": "malignant_auc",
        "patience": 3,
    },
    "heads": {
        "xgb_binary": dict(_XGB_DEFAULTS),
        "xgb_condition": dict(_XGB_DEFAULTS),
        "early_stopping_rounds": 50,
        "sample_weights": "fairness",
        "family": "xgboost",
        "select_metric": "val_accuracy",
        # runs of this config but the training length / backbone size whose fine-tuned backbones may join this run's
        # as an ensemble (one head per backbone, probabilities averaged): a candidate beside this backbone alone,
        # chosen on validation like the head family
        "ensemble_runs": [],
        "ensemble": "auto",  # auto: the ensemble and this backbone alone are both candidates; always: the ensemble only
    },
    "calibrate": {
        "method": "isotonic",
        "operating_points": {"sensitivity_95": 0.95},
        "default_operating_point": "sensitivity_95",
    },
    "domains": {
        "primary": "dermoscopic",
        "others": {},
        "methods": {},
        "folds": 5,
        "targets": {"moderate_sensitivity": 0.95, "high_specificity": 0.90},
        "critical_conditions": [0],
        "detector_quantile": 0.99,
    },
    "evaluate": {"n_boot": 1000, "ci": 0.95, "ece_bins": 15, "external": [], "external_limit": None, "lodo": False},
    "export": {
        "out_dir": None,
        "license": "unspecified",
        "thresholds": {"moderate": 0.30, "high": 0.60},
        "known_limits": [],
        "compared_runs": [],  # runs of this config but the training length / backbone size, compared on validation
        # with compared runs, a run (this one or a compared one) is eligible only if its domain detector recognises at
        # least this share of every domain's own validation images (calibrate stage); the rest alarm too often to ship
        "min_detector_recognition": 0.90,
    },
}

_AUGMENT_CHOICES = ("none", "small", "light", "moderate", "heavy")
_ES_METRICS = ("malignant_auc", "macro_auc", "accuracy")


def _merge(base: dict[str, Any], override: dict[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"Unknown config key {where}{key!r}; expected one of {sorted(base)}")
        if key in ("xgb_binary", "xgb_condition"):  # any xgboost.XGBClassifier argument
            if not isinstance(value, dict):
                raise ConfigError(f"Config key {where}{key!r} must be a mapping of XGBoost parameters")
            out[key] = {**base[key], **value}
        elif isinstance(base[key], dict) and key not in ("config", "operating_points", "thresholds", "preprocessing",
                                                         "others", "methods", "targets"):
            if not isinstance(value, dict):
                raise ConfigError(f"Config key {where}{key!r} must be a mapping, found {type(value).__name__}")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def resolve_path(value: str | Path) -> Path:
    """A config path: absolute as given, relative ones against the repository root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path)


def validate(cfg: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Check a merged config; raise :class:`ConfigError` naming the bad key, its value and what is allowed."""
    if not cfg.get("name"):
        raise ConfigError(f"{source}: 'name' is required (the bundle name)")
    if not cfg.get("run_dir"):
        raise ConfigError(f"{source}: 'run_dir' is required (folder for every stage's outputs)")
    datasets = cfg["data"]["datasets"]
    if not datasets or not isinstance(datasets, list):
        raise ConfigError(f"{source}: data.datasets must be a non-empty list of dataset names, found {datasets!r}")
    bb = cfg["backbone"]
    if not bb.get("source"):
        raise ConfigError(f"{source}: backbone.source is required ('scratch', a local folder or a Hugging Face id)")
    if bb["source"] == "scratch" and not isinstance(bb.get("config"), dict):
        raise ConfigError(f"{source}: backbone.source 'scratch' needs backbone.config (a SiglipVisionConfig mapping)")
    ft = cfg["finetune"]
    if ft["augment"] not in _AUGMENT_CHOICES:
        raise ConfigError(f"{source}: finetune.augment={ft['augment']!r}; expected one of {_AUGMENT_CHOICES}")
    if ft["early_stopping_metric"] not in _ES_METRICS:
        raise ConfigError(
            f"{source}: finetune.early_stopping_metric={ft['early_stopping_metric']!r}; expected one of {_ES_METRICS}"
        )
    unfreeze = ft["unfreeze_layers"]
    if not (unfreeze == "all" or (isinstance(unfreeze, int) and unfreeze >= 0)):
        raise ConfigError(f"{source}: finetune.unfreeze_layers={unfreeze!r}; expected 'all' or a non-negative integer")
    if ft["effective_batch_size"] % ft["batch_size"]:
        raise ConfigError(
            f"{source}: finetune.effective_batch_size={ft['effective_batch_size']} must be a multiple of "
            f"finetune.batch_size={ft['batch_size']}"
        )
    method = cfg["calibrate"]["method"]
    if method not in ("isotonic", "platt"):
        raise ConfigError(f"{source}: calibrate.method={method!r}; expected 'isotonic' or 'platt'")
    ops = cfg["calibrate"]["operating_points"]
    if cfg["calibrate"]["default_operating_point"] not in (*ops, "screening"):
        raise ConfigError(
            f"{source}: calibrate.default_operating_point={cfg['calibrate']['default_operating_point']!r} "
            f"is not one of calibrate.operating_points {sorted(ops)}"
        )
    for name, target in ops.items():
        if not 0.0 < float(target) <= 1.0:
            raise ConfigError(f"{source}: operating point {name!r} target sensitivity {target!r} must be in (0, 1]")
    if cfg["embed"]["tta"] not in ("none", "dihedral8", "auto"):
        raise ConfigError(f"{source}: embed.tta={cfg['embed']['tta']!r}; expected 'none', 'dihedral8' or 'auto'")
    if cfg["heads"]["family"] not in ("xgboost", "logistic", "auto"):
        raise ConfigError(f"{source}: heads.family={cfg['heads']['family']!r}; expected 'xgboost', 'logistic' or 'auto'")
    if cfg["heads"]["select_metric"] not in ("val_accuracy", "val_macro_auc", "val_malignant_auc"):
        raise ConfigError(f"{source}: heads.select_metric={cfg['heads']['select_metric']!r}; expected val_accuracy, "
                          "val_macro_auc or val_malignant_auc")
    runs = cfg["heads"]["ensemble_runs"]
    if not isinstance(runs, list) or not all(isinstance(r, str) and r for r in runs) or len(set(runs)) != len(runs):
        raise ConfigError(f"{source}: heads.ensemble_runs must be a list of distinct run directories, got {runs!r}")
    if cfg["heads"]["ensemble"] not in ("auto", "always"):
        raise ConfigError(f"{source}: heads.ensemble={cfg['heads']['ensemble']!r}; expected 'auto' or 'always'")
    if cfg["heads"]["ensemble"] == "always" and not runs:
        raise ConfigError(f"{source}: heads.ensemble 'always' needs heads.ensemble_runs")
    dom = cfg["domains"]
    for name, how in dom["methods"].items():
        if how not in ("isotonic", "platt"):
            raise ConfigError(f"{source}: domains.methods.{name}={how!r}; expected 'isotonic' or 'platt'")
    overlap = sorted({d for ds in dom["others"].values() for d in ds} & set(datasets))
    if overlap or dom["primary"] in dom["others"]:
        raise ConfigError(f"{source}: domains.others must name other domains and datasets than the training data "
                          f"(overlap: {overlap or dom['primary']})")
    for key in ("moderate_sensitivity", "high_specificity"):
        if not 0.0 < float(dom["targets"].get(key, 0)) <= 1.0:
            raise ConfigError(f"{source}: domains.targets.{key} must be in (0, 1]")
    if not 0.0 <= float(cfg["export"]["min_detector_recognition"]) <= 1.0:
        raise ConfigError(f"{source}: export.min_detector_recognition must be in [0, 1]")
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config, merge it over :data:`DEFAULTS`, apply ``overrides`` and validate.

    Paths (``run_dir``, ``data.root``, ``export.out_dir``) are resolved to absolute paths.
    """
    path = Path(path)
    raw = read_yaml(path, f"Config file {path}", missing=f"Config file {path} does not exist") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must hold a mapping at the top level")
    cfg = _merge(DEFAULTS, raw, "")
    if overrides:
        cfg = _merge(cfg, overrides, "")
    return finalize(cfg, str(path))


def finalize(cfg: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate a merged config and make its paths absolute (idempotent)."""
    validate(cfg, source)
    cfg["run_dir"] = str(resolve_path(cfg["run_dir"]))
    cfg["data"]["root"] = str(resolve_path(cfg["data"]["root"]) if cfg["data"]["root"] else default_data_dir())
    out_dir = cfg["export"]["out_dir"] or Path("models") / cfg["name"]
    cfg["export"]["out_dir"] = str(resolve_path(out_dir))
    return cfg


def config_from_dict(raw: dict[str, Any]) -> dict[str, Any]:
    """Build a config from a mapping (tests and notebooks), with the same defaults and checks as :func:`load_config`."""
    return finalize(_merge(DEFAULTS, raw, ""), "config dict")


def config_hash(cfg: dict[str, Any], section: str | None = None) -> str:
    """Short sha256 of a config (or one section), used to tell whether a stage's outputs are stale."""
    part = cfg if section is None else cfg[section]
    return hashlib.sha256(json.dumps(part, sort_keys=True, default=str).encode()).hexdigest()[:16]
