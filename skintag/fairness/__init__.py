"""Fairness auditing of a binary malignancy score across skin types and other groups.

Public API: :func:`fairness_report` (one call) and :class:`FairnessAudit` (precompute once, report at many thresholds),
:class:`FairnessReport`, the grouping helpers (:func:`skin_type_groups`, :func:`age_band`, :func:`intersect`),
:func:`mitigation_whatif` (imported lazily: it needs scikit-learn and fairlearn), :func:`read_predictions` /
:func:`validate_predictions`, the bundle's decision rules (:func:`bundle_rules`), several attributes in one pass
(:func:`audit_attributes`) and cohort filters (:func:`filter_cohort`). Gap verdicts: :mod:`skintag.fairness.verdicts`. Skin types are parsed by :mod:`skintag.fitzpatrick`, the statistics live in
:mod:`skintag.stats`, the text exports in :mod:`skintag.fairness.export`; the HTML document is one layer up, in
:mod:`skintag.documents.fairness_report`. Torch-free, scikit-learn-free and streamlit-free on import.
"""

from typing import Any

from skintag.fairness.data import read_predictions, validate_predictions
from skintag.fairness.groups import (
    GROUPINGS,
    UNKNOWN,
    Grouped,
    age_band,
    column_groups,
    intersect,
    make_groups,
    skin_type_groups,
)
from skintag.fairness.multi import audit_attributes, filter_cohort
from skintag.fairness.report import FairnessAudit, FairnessReport, fairness_report
from skintag.fairness.rules import DecisionRule, bundle_rules

__all__ = [
    "DecisionRule",
    "GROUPINGS",
    "UNKNOWN",
    "FairnessAudit",
    "FairnessReport",
    "Grouped",
    "age_band",
    "audit_attributes",
    "bundle_rules",
    "filter_cohort",
    "column_groups",
    "fairness_report",
    "intersect",
    "make_groups",
    "mitigation_whatif",
    "read_predictions",
    "skin_type_groups",
    "validate_predictions",
]


def __getattr__(name: str) -> Any:
    if name == "mitigation_whatif":
        from skintag.fairness.mitigation import mitigation_whatif

        return mitigation_whatif
    raise AttributeError(f"module 'skintag.fairness' has no attribute {name!r}")
