"""Classification metrics of the model built on :mod:`skintag.stats`: accuracy, one-vs-rest macro AUC over the classes
present, and sensitivity/specificity at a threshold. The AUROC, the ECE and the bootstrap live in :mod:`skintag.stats`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skintag.stats import auroc


def accuracy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Share of rows whose arg-max class (column index of ``probs``) equals ``y_true``."""
    y_true = np.asarray(y_true, dtype=int)
    return float(np.mean(np.argmax(np.asarray(probs), axis=1) == y_true))


def macro_auc_ovr(y_true: np.ndarray, probs: np.ndarray, classes: Sequence[int] | None = None) -> float:
    """Mean of the one-vs-rest ROC AUCs of the classes present in ``y_true`` (MedMNIST's multi-class AUC).

    Parameters
    ----------
    y_true : class ids (column indices of ``probs``).
    probs : (N, C) class probabilities (or scores); columns of absent classes are ignored.
    classes : classes to average over; default: those present in ``y_true``. A listed class absent from ``y_true``
        has no AUC and makes the result NaN.
    """
    y_true = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    cls = sorted(int(c) for c in np.unique(y_true)) if classes is None else [int(c) for c in classes]
    if len(cls) < 2:
        return float("nan")
    return float(np.mean([auroc(y_true == c, probs[:, c]) for c in cls]))


def sensitivity_specificity(y_true: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    """(sensitivity, specificity) of the rule ``score >= threshold``; NaN for a rate without positives/negatives."""
    y_true = np.asarray(y_true, dtype=int)
    pred = np.asarray(score, dtype=float) >= threshold
    pos, neg = y_true == 1, y_true == 0
    sens = float(pred[pos].mean()) if pos.any() else float("nan")
    spec = float((~pred[neg]).mean()) if neg.any() else float("nan")
    return sens, spec
