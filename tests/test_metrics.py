"""skintag.metrics (accuracy, macro AUC, sensitivity/specificity): hand-computed values and cross-checks against
scikit-learn. AUROC, ECE and the bootstrap are tested in tests/test_stats.py."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skintag.metrics import accuracy, macro_auc_ovr, sensitivity_specificity


def test_accuracy_by_hand() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    assert accuracy(np.array([0, 1, 1, 0]), probs) == pytest.approx(0.75)




def test_macro_auc_ovr_equals_sklearn_on_present_classes() -> None:
    rng = np.random.default_rng(0)
    classes = [0, 1, 3, 4, 5, 6, 7]  # DermaMNIST's conditions inside the 10-class taxonomy
    y = rng.choice(classes, 400)
    raw = rng.random((400, len(classes))) + 0.8 * (y[:, None] == np.array(classes)[None, :])
    raw /= raw.sum(axis=1, keepdims=True)
    probs = np.zeros((400, 10))
    probs[:, classes] = raw
    expected = roc_auc_score(y, raw, multi_class="ovr", average="macro", labels=classes)
    assert macro_auc_ovr(y, probs) == pytest.approx(expected, abs=1e-12)


def test_macro_auc_ovr_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.4, 0.6], [0.2, 0.8]])
    # class 0 scores: pos {0.9, 0.3} vs neg {0.4, 0.2}: 0.9 wins twice, 0.3 beats 0.2 only -> 3/4
    # class 1 scores: pos {0.6, 0.8} vs neg {0.1, 0.7}: 0.6 beats 0.1, 0.8 beats both -> 3/4
    assert macro_auc_ovr(y, probs) == pytest.approx(0.75)
    assert np.isnan(macro_auc_ovr(np.array([1, 1]), probs[:2]))


def test_sensitivity_specificity_by_hand() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.6, 0.5, 0.2, 0.7, 0.4, 0.3, 0.1, 0.5])
    sens, spec = sensitivity_specificity(y, s, 0.5)  # >= 0.5 flagged
    assert sens == pytest.approx(3 / 4)
    assert spec == pytest.approx(3 / 5)
    sens, spec = sensitivity_specificity(np.array([0, 0]), np.array([0.2, 0.9]), 0.5)
    assert np.isnan(sens) and spec == pytest.approx(0.5)



