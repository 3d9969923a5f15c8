"""Mitigation what-if that keeps patients safe: per-group thresholds fitted on one part of the data and reported on
the other, with the sensitivity and specificity cost in words.

Default method, ``"sensitivity_floor"`` (custom post-processing): for each group, the highest threshold whose
sensitivity on the fitting part is at least the floor the user sets — since specificity only falls as the threshold
falls, that is the threshold with the best specificity among those that hold the floor. Every group then screens at
(at least) the floor, so no group's cancers are traded for another's. ``"equalized_odds"`` runs fairlearn's
``ThresholdOptimizer(constraints="equalized_odds", objective="balanced_accuracy_score")`` for comparison; it can buy
parity by cutting sensitivity, which the words then say.

The data are split by patient (all images of a patient on one side; each group split in the same proportion) with
``random_state``; thresholds are fitted on the fitting part and every number is measured on the held-out part.

This is analysis, not a deployable fix: both methods need each person's group (e.g. skin type) at prediction time. The
score is fed to ``ThresholdOptimizer`` through a small prefit estimator whose ``predict_proba`` returns the score
itself, so fairlearn sees exactly the model's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from skintag.errors import ArgumentError, LabelError
from skintag.fairness.groups import Grouped, resolve_groups
from skintag.fairness.report import FairnessAudit
from skintag.stats import sensitivity_threshold

ANALYSIS_NOTE = (
    "Analysis only: per-group thresholds use each person's group (e.g. skin type) at prediction time; it is not how "
    "SkinTag makes predictions."
)
METHODS = {
    "sensitivity_floor": "per-group thresholds maximising specificity subject to sensitivity ≥ the floor (custom "
                         "post-processing)",
    "equalized_odds": "fairlearn ThresholdOptimizer, equalized odds, balanced-accuracy objective (randomised)",
}


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
    """Per group before/after on the held-out part, the summary, and how it was fitted."""

    table: pd.DataFrame
    summary: pd.DataFrame
    skipped: tuple[str, ...]
    method: str = METHODS["sensitivity_floor"]
    sensitivity_floor: float | None = None
    words: str = ""
    fit_rows: int = 0
    eval_rows: int = 0
    split: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)
    note: str = ANALYSIS_NOTE


def patient_split(labels: np.ndarray, clusters: np.ndarray | None, fit_fraction: float,
                  random_state: int | None) -> np.ndarray:
    """Boolean mask of the fitting rows: patients (rows without ``clusters``) shuffled within their group (the group of
    their first row) and the first ``ceil(fit_fraction · patients)`` of each group taken, so all images of a patient
    fall on one side."""
    if not 0.0 < fit_fraction < 1.0:
        raise ArgumentError(f"fit_fraction must be in (0, 1), got {fit_fraction}")
    n = len(labels)
    ids = np.arange(n).astype(str) if clusters is None else pd.Series(clusters, dtype=object).astype(str).to_numpy()
    patient, _ = pd.factorize(ids)
    first = pd.Series(np.asarray(labels)).groupby(patient).first()
    rng = np.random.default_rng(random_state)
    fit_patients: list[int] = []
    for g in sorted(set(first.tolist())):
        members = first.index[first.to_numpy() == g].to_numpy()
        members = members[rng.permutation(members.size)]
        fit_patients.extend(members[: int(np.ceil(fit_fraction * members.size))].tolist())
    return np.isin(patient, fit_patients)


def _rate(pred: np.ndarray, mask: np.ndarray) -> float:
    return float(pred[mask].mean()) if mask.any() else float("nan")


def mitigation_whatif(
    y_true: Sequence[Any] | np.ndarray | pd.Series,
    y_score: Sequence[float] | np.ndarray | pd.Series,
    groups: Sequence[Any] | np.ndarray | pd.Series | pd.DataFrame | Grouped,
    *,
    threshold: float | Sequence[float] | np.ndarray,
    grouping: str | None | tuple[str | None, str | None] = "six",
    method: str = "sensitivity_floor",
    sensitivity_floor: float = 0.9,
    clusters: Sequence[Any] | np.ndarray | pd.Series | None = None,
    fit_fraction: float = 0.5,
    min_positives: int = 5,
    min_negatives: int = 5,
    grid_size: int = 1000,
    random_state: int = 0,
) -> MitigationResult:
    """Fit per-group thresholds on a patient-grouped part of the data and compare rates on the rest.

    ``threshold`` is the rule before: one number, or one per row (e.g. each row's image-domain threshold, or its
    out-of-fold threshold in a cross-fitted set). Groups with fewer than ``min_positives`` malignant or
    ``min_negatives`` benign cases in the fitting part (and "unknown" for skin-type groupings) keep it; they are listed
    in ``skipped``.

    Returns
    -------
    MitigationResult
        ``table``: per group on the held-out part, TPR and FPR before (at ``threshold``) and after, and the fitted
        threshold; ``summary``: TPR gap, FPR gap, equalized-odds difference, overall sensitivity and specificity,
        before and after; ``words``: the sensitivity and specificity cost.
    """
    if method not in METHODS:
        raise ArgumentError(f"Unknown mitigation method {method!r}; expected one of {list(METHODS)}")
    if not 0.0 < sensitivity_floor <= 1.0:
        raise ArgumentError(f"sensitivity_floor must be in (0, 1], got {sensitivity_floor}")
    audit = FairnessAudit(y_true, y_score, resolve_groups(groups, grouping), grouping=grouping)
    y, s, labels = audit.y, audit.score, audit.labels
    cl = None if clusters is None else np.asarray(clusters, dtype=object)[audit.rows]
    fit = patient_split(labels, cl, fit_fraction, random_state)
    ev = ~fit
    names = [str(g) for g in audit.group_names]
    usable = [g for i, g in enumerate(names) if not audit.unknown_skin[i]
              and (y[fit] & (labels[fit] == g)).sum() >= min_positives
              and (~y[fit] & (labels[fit] == g)).sum() >= min_negatives]
    skipped = tuple(g for g in names if g not in usable)
    if len(usable) < 2:
        raise LabelError(
            "The mitigation what-if needs at least two groups with enough malignant and benign cases in its fitting "
            f"half (≥ {min_positives} and ≥ {min_negatives}); usable: {usable or 'none'}"
        )
    thr = np.asarray(threshold, dtype=float)
    if thr.ndim == 0:
        base = np.full(s.size, float(thr))
    elif thr.shape == (len(np.asarray(y_true)),):
        base = thr[audit.rows]
    else:
        raise ArgumentError(f"threshold must be one number or one per row ({len(np.asarray(y_true))}), got shape "
                            f"{thr.shape}")
    if not np.isfinite(base).all():
        raise ArgumentError("threshold must be finite for every row")
    before = s >= base
    after = before.copy()
    fitted: dict[str, float] = {}
    if method == "sensitivity_floor":
        for g in usable:
            t = sensitivity_threshold(s[fit & y & (labels == g)], sensitivity_floor)
            fitted[g] = t
            m = labels == g
            after[m] = s[m] >= t
    else:
        from fairlearn.postprocessing import ThresholdOptimizer

        opt = ThresholdOptimizer(estimator=ScoreAsProbability(), constraints="equalized_odds",
                                 objective="balanced_accuracy_score", prefit=True, predict_method="predict_proba",
                                 grid_size=grid_size)
        m_fit = fit & np.isin(labels, usable)
        opt.fit(pd.DataFrame({"score": s[m_fit]}), y[m_fit].astype(int), sensitive_features=labels[m_fit])
        m_ev = np.isin(labels, usable)
        after[m_ev] = np.asarray(opt.predict(pd.DataFrame({"score": s[m_ev]}), sensitive_features=labels[m_ev],
                                             random_state=random_state), dtype=bool)
    rows = []
    for g in names:
        m = ev & (labels == g)
        kept = np.unique(base[labels == g])  # a group not optimised keeps its rule (one number when it has one)
        rows.append({"group": g, "n_eval": int(m.sum()), "optimised": g in usable,
                     "threshold_after": fitted.get(g, float(kept[0]) if g not in usable and kept.size == 1
                                                   else float("nan")),
                     "tpr_before": _rate(before[m], y[m]), "fpr_before": _rate(before[m], ~y[m]),
                     "tpr_after": _rate(after[m], y[m]), "fpr_after": _rate(after[m], ~y[m])})
    table = pd.DataFrame(rows).set_index("group")
    opt_rows = table[table["optimised"]]
    summary = pd.DataFrame({
        "before": _summary(opt_rows["tpr_before"], opt_rows["fpr_before"], before[ev], y[ev]),
        "after": _summary(opt_rows["tpr_after"], opt_rows["fpr_after"], after[ev], y[ev]),
    })
    unit = "patients" if clusters is not None else "rows"
    split = (f"{int(fit.sum())} rows fitted, {int(ev.sum())} held out; split by {unit} within each group "
             f"(fit fraction {fit_fraction:g}, random_state {random_state})")
    return MitigationResult(
        table=table, summary=summary, skipped=skipped, method=METHODS[method],
        sensitivity_floor=sensitivity_floor if method == "sensitivity_floor" else None,
        words=cost_words(summary, int(ev.sum())), fit_rows=int(fit.sum()), eval_rows=int(ev.sum()), split=split,
        thresholds=fitted,
    )


def cost_words(summary: pd.DataFrame, eval_rows: int) -> str:
    """The sensitivity and specificity change on the held-out part, in words."""
    sb, sa = summary.at["sensitivity", "before"], summary.at["sensitivity", "after"]
    pb, pa = summary.at["specificity", "before"], summary.at["specificity", "after"]
    eb, ea = summary.at["equalized_odds_difference", "before"], summary.at["equalized_odds_difference", "after"]
    missed = (sb - sa) * 100
    referred = (pb - pa) * 100

    def change(x: float, more: str, fewer: str) -> str:
        return f"{abs(x):.0f} {more if x > 0 else fewer}" if round(abs(x)) >= 1 else "about the same number of"

    return (
        f"On the {eval_rows} held-out rows: sensitivity {sb:.2f} → {sa:.2f} and specificity {pb:.2f} → {pa:.2f} — "
        f"{change(missed, 'more', 'fewer')} cancers missed per 100 malignant and {change(referred, 'more', 'fewer')} "
        f"benign lesions referred per 100 benign; equalized-odds difference {eb:.2f} → {ea:.2f}."
    )


def _summary(tpr: pd.Series, fpr: pd.Series, pred: np.ndarray, y: np.ndarray) -> pd.Series:
    tpr_gap = float(tpr.max() - tpr.min())
    fpr_gap = float(fpr.max() - fpr.min())
    return pd.Series({
        "tpr_gap": tpr_gap, "fpr_gap": fpr_gap, "equalized_odds_difference": max(tpr_gap, fpr_gap),
        "sensitivity": _rate(pred, y == 1), "specificity": 1.0 - _rate(pred, y == 0),
    })
