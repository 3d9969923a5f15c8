"""SkinTag models: the model bundle (``load_bundle``, ``save_bundle``, ``ModelBundle``), the SigLIP backbone, heads
and calibration.

Importing this package is cheap: nothing here imports torch, transformers or xgboost until a name that needs them is
used (module ``__getattr__``), so pages that only read a manifest (``skintag.model.manifest.read_manifest``) stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from skintag.model.backbone import Preprocessing, load_backbone, new_backbone
    from skintag.model.bundle import ModelBundle, Prediction, load_bundle, save_bundle
    from skintag.model.calibration import Calibrator, threshold_for_sensitivity
    from skintag.model.domains import DomainDecision, DomainDetector, DomainSpec
    from skintag.model.heads import LogisticHead, XGBHead
    from skintag.model.manifest import read_manifest

_EXPORTS = {
    "load_bundle": "skintag.model.bundle",
    "save_bundle": "skintag.model.bundle",
    "ModelBundle": "skintag.model.bundle",
    "Prediction": "skintag.model.bundle",
    "Preprocessing": "skintag.model.backbone",
    "new_backbone": "skintag.model.backbone",
    "load_backbone": "skintag.model.backbone",
    "XGBHead": "skintag.model.heads",
    "LogisticHead": "skintag.model.heads",
    "Calibrator": "skintag.model.calibration",
    "threshold_for_sensitivity": "skintag.model.calibration",
    "read_manifest": "skintag.model.manifest",
    "DomainSpec": "skintag.model.domains",
    "DomainDecision": "skintag.model.domains",
    "DomainDetector": "skintag.model.domains",
}

__all__ = [
    "Calibrator",
    "DomainDecision",
    "DomainDetector",
    "DomainSpec",
    "LogisticHead",
    "ModelBundle",
    "Prediction",
    "Preprocessing",
    "XGBHead",
    "load_backbone",
    "load_bundle",
    "new_backbone",
    "read_manifest",
    "save_bundle",
    "threshold_for_sensitivity",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'skintag.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
