"""skintag.metrics: hand-computed values and cross-checks against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skintag.metrics import (
    Estimate,
    accuracy,
    binary_auc,
    bootstrap,
    expected_calibration_error,
    macro_auc_ovr,
    sensitivity_specificity,
)


def test_accuracy_by_hand() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    assert accuracy(np.array([0, 1, 1, 0]), probs) == pytest.approx(0.75)


def test_binary_auc_by_hand_and_undefined() -> None:
    # pairs (pos, neg): (0.35 vs 0.1) win, (0.35 vs 0.4) loss, (0.8 vs both) win -> 3 of 4
    assert binary_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half
    assert binary_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert np.isnan(binary_auc(np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3])))


def test_binary_auc_equals_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.random(500) + 0.3 * y, 1)  # coarse scores: many ties
    assert binary_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


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


def test_ece_hand_table() -> None:
    y = np.array([0, 1, 1, 1, 0])
    s = np.array([0.1, 0.1, 0.9, 0.9, 0.5])
    # 2 bins: [0, .5) holds 0.1, 0.1 (mean conf 0.1, rate 0.5): 2/5 * 0.4; [.5, 1] holds .9, .9, .5 (conf 2.3/3, rate 2/3)
    expected = 2 / 5 * 0.4 + 3 / 5 * abs(2.3 / 3 - 2 / 3)
    assert expected_calibration_error(y, s, n_bins=2) == pytest.approx(expected)
    assert expected == pytest.approx(0.22)
    # perfectly calibrated within each bin -> 0; a score of exactly 1.0 falls in the last bin
    assert expected_calibration_error(np.array([0, 1, 1, 1]), np.array([0.0, 1.0, 1.0, 1.0]), n_bins=10) == 0.0


def test_bootstrap_reproducible_and_equal_to_a_manual_percentile_bootstrap() -> None:
    x = np.array([0.1, 0.5, 0.2, 0.9, 0.4, 0.7, 0.3, 0.8])
    est = bootstrap(np.mean, x, n_boot=200, ci=0.9, seed=11)
    again = bootstrap(np.mean, x, n_boot=200, ci=0.9, seed=11)
    other = bootstrap(np.mean, x, n_boot=200, ci=0.9, seed=12)
    assert est == again and est != other
    rng = np.random.default_rng(11)
    stats = [x[rng.integers(0, x.size, x.size)].mean() for _ in range(200)]
    lo, hi = np.quantile(stats, [0.05, 0.95])
    assert isinstance(est, Estimate)
    assert est.value == pytest.approx(x.mean())
    assert (est.ci_low, est.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert est.n_boot_valid == 200


def test_bootstrap_skips_undefined_resamples_and_keeps_strata_sizes() -> None:
    y = np.array([0] * 9 + [1])
    s = np.linspace(0, 1, 10)
    est = bootstrap(binary_auc, y, s, n_boot=300, seed=0)
    assert est.value == pytest.approx(1.0)
    # about (9/10)^10 = 35 % of resamples miss the single positive: undefined, skipped and counted
    assert 70 < 300 - est.n_boot_valid < 140  # binomial(300, 0.35): mean 105, sd 8
    seen = []
    bootstrap(lambda a: seen.append(int(a.sum())) or 0.0, y, n_boot=50, seed=1, strata=y)
    assert set(seen) == {1}  # resampling within strata keeps exactly one positive
    d = bootstrap(np.mean, np.array([1.0]), n_boot=0).to_dict()
    assert d["value"] == 1.0 and d["ci_low"] is None and d["n_boot_valid"] == 0
