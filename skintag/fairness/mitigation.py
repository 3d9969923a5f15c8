"""Mitigation what-if: what fairlearn's ``ThresholdOptimizer`` (equalized odds) would do to the per-group rates.

This is analysis, not a deployable fix: the post-processed classifier needs each person's group (skin type) at
prediction time and randomises between two thresholds for some groups, so two people with the same score can get
different answers. The page labels it so. The score is fed to ``ThresholdOptimizer`` through a small prefit
estimator whose ``predict_proba`` returns the score itself, so fairlearn sees exactly the model's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from skintag.errors import LabelError
from skintag.fairness.groups import Grouped, resolve_groups
from skintag.fairness.report import FairnessAudit

ANALYSIS_NOTE = (
    "Analysis only: equalized-odds post-processing (fairlearn ThresholdOptimizer) uses each person's skin type at "
    "prediction time and randomises between thresholds for some groups; it is not how SkinTag makes predictions."
)


class ScoreAsProbability(ClassifierMixin, BaseEstimator):
    """A prefit scikit-learn estimator whose input is the score column and whose P(positive) is that score."""

    def __init__(self) -> None:
        self.classes_ = np.array([0, 1])  # fitted from the start: it has nothing to learn

    def fit(self, X: Any, y: Any = None) -> ScoreAsProbability:
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        s = np.asarray(X, dtype=float).reshape(-1)
        return np.column_stack([1.0 - s, s])

    def predict(self, X: Any) -> np.ndarray:
        return (np.asarray(X, dtype=float).reshape(-1) >= 0.5).astype(int)


@dataclass(frozen=True)
class MitigationResult:
    """Before/after per group, the gaps before/after, and the groups the optimiser could not use."""

    table: pd.DataFrame
    summary: pd.DataFrame
    skipped: tuple[str, ...]
    note: str = ANALYSIS_NOTE


def mitigation_whatif(
    y_true: Sequence[Any] | np.ndarray | pd.Series,
    y_score: Sequence[float] | np.ndarray | pd.Series,
    groups: Sequence[Any] | np.ndarray | pd.Series | pd.DataFrame | Grouped,
    *,
    threshold: float,
    grouping: str | None | tuple[str | None, str | None] = "six",
    min_positives: int = 5,
    min_negatives: int = 5,
    objective: str = "balanced_accuracy_score",
    grid_size: int = 1000,
    random_state: int = 0,
) -> MitigationResult:
    """Fit fairlearn's ``ThresholdOptimizer(constraints="equalized_odds")`` on the scores and compare rates.

    Groups with fewer than ``min_positives`` malignant or ``min_negatives`` benign cases (and "unknown" for skin-type
    groupings) are not given to the optimiser — their thresholds would be fitted to noise — and keep the original
    threshold; they are listed in ``skipped``. Predictions of the post-processed classifier are drawn with
    ``random_state`` (it randomises), so the result is reproducible.

    Returns
    -------
    MitigationResult
        ``table``: per group, TPR and FPR before (at ``threshold``) and after; ``summary``: TPR gap, FPR gap,
        equalized-odds difference, overall sensitivity and specificity, before and after (over the optimised groups).
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    audit = FairnessAudit(y_true, y_score, resolve_groups(groups, grouping), grouping=grouping)
    before = audit.report(threshold, min_positives=min_positives, min_negatives=min_negatives, n_boot=0,
                          auroc_n_boot=0)
    bg = before.by_group
    usable = (bg["positives"] >= min_positives) & (bg["negatives"] >= min_negatives) & ~audit.unknown_skin
    use_names = [str(g) for g in bg.index[usable]]
    skipped = tuple(str(g) for g in bg.index[~usable])
    if len(use_names) < 2:
        raise LabelError(
            "The mitigation what-if needs at least two groups with enough malignant and benign cases "
            f"(≥ {min_positives} and ≥ {min_negatives}); usable: {use_names or 'none'}"
        )
    m = np.isin(audit.labels, use_names)
    X = pd.DataFrame({"score": audit.score[m]})
    y = audit.y[m].astype(int)
    sf = audit.labels[m]
    opt = ThresholdOptimizer(
        estimator=ScoreAsProbability(), constraints="equalized_odds", objective=objective, prefit=True,
        predict_method="predict_proba", grid_size=grid_size,
    )
    opt.fit(X, y, sensitive_features=sf)
    after_pred = np.asarray(opt.predict(X, sensitive_features=sf, random_state=random_state), dtype=bool)
    before_pred = audit.score[m] >= threshold
    rows = []
    for name in bg.index:
        name = str(name)
        row = {"group": name, "n": int(bg.at[name, "n"]), "optimised": name in use_names,
               "tpr_before": float(bg.at[name, "tpr"]), "fpr_before": float(bg.at[name, "fpr"])}
        if name in use_names:
            g = sf == name
            row["tpr_after"] = _rate(after_pred[g], y[g] == 1)
            row["fpr_after"] = _rate(after_pred[g], y[g] == 0)
        else:
            row["tpr_after"], row["fpr_after"] = row["tpr_before"], row["fpr_before"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("group")
    opt_rows = table[table["optimised"]]
    summary = pd.DataFrame({
        "before": _summary(opt_rows["tpr_before"], opt_rows["fpr_before"], before_pred, y),
        "after": _summary(opt_rows["tpr_after"], opt_rows["fpr_after"], after_pred, y),
    })
    return MitigationResult(table=table, summary=summary, skipped=skipped)


def _rate(pred: np.ndarray, mask: np.ndarray) -> float:
    return float(pred[mask].mean()) if mask.any() else float("nan")


def _summary(tpr: pd.Series, fpr: pd.Series, pred: np.ndarray, y: np.ndarray) -> pd.Series:
    tpr_gap = float(tpr.max() - tpr.min())
    fpr_gap = float(fpr.max() - fpr.min())
    return pd.Series({
        "tpr_gap": tpr_gap, "fpr_gap": fpr_gap, "equalized_odds_difference": max(tpr_gap, fpr_gap),
        "sensitivity": _rate(pred, y == 1), "specificity": 1.0 - _rate(pred, y == 0),
    })
