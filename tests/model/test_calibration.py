"""Calibrator (isotonic / Platt) against scikit-learn, JSON round trips, and operating-point thresholds by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve

from skintag.errors import ConfigError, ModelBundleError
from skintag.model.calibration import LOGIT_EPS, Calibrator, threshold_for_sensitivity


@pytest.fixture(scope="module")
def scores_labels() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    # overconfident raw scores: logits are 3x the true log-odds. Given y the logit l0 = 3(y - 1/2) + N(0, 1.5^2)
    # has true log-odds 2 * 1.5 / 1.5^2 * l0 = (4/3) l0, so the reported logit 3 * l0 needs a Platt slope of 4/9.
    s = 1 / (1 + np.exp(-3.0 * (3.0 * (y - 0.5) + rng.normal(0, 1.5, 400))))
    w = rng.uniform(0.5, 2.0, 400)
    return s, y, w


def test_isotonic_matches_sklearn_and_round_trips_json(scores_labels):
    s, y, w = scores_labels
    cal = Calibrator("isotonic").fit(s, y, sample_weight=w)
    ref = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(s, y, sample_weight=w)
    grid = np.r_[-0.5, np.linspace(0, 1, 1001), 1.5, s]  # includes out-of-range and the fitting points
    np.testing.assert_allclose(cal.predict(grid), ref.predict(grid), atol=1e-12)
    restored = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(restored.predict(grid), cal.predict(grid))
    assert cal.to_dict()["x_thresholds"] == ref.X_thresholds_.tolist()


def test_isotonic_is_monotone_and_in_unit_interval(scores_labels):
    s, y, _ = scores_labels
    out = Calibrator("isotonic").fit(s, y).predict(np.linspace(-1, 2, 5000))
    assert np.all(np.diff(out) >= 0)
    assert out.min() >= 0 and out.max() <= 1
    assert out[0] < out[-1]  # informative scores: not a constant map


def test_platt_matches_sklearn_logistic_on_logit(scores_labels):
    s, y, w = scores_labels
    cal = Calibrator("platt").fit(s, y, sample_weight=w)
    c = np.clip(s, LOGIT_EPS, 1 - LOGIT_EPS)
    assert (c != s).any()  # the clipping is exercised
    logit = np.log(c / (1 - c)).reshape(-1, 1)
    ref = LogisticRegression(C=np.inf, max_iter=1000).fit(logit, y, sample_weight=w)
    np.testing.assert_allclose(cal.predict(s), ref.predict_proba(logit)[:, 1], atol=1e-9)
    restored = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(restored.predict(s), cal.predict(s))
    # overconfident inputs: Platt shrinks the logits towards the true slope 4/9 (sampling noise with n=400)
    assert cal.to_dict()["slope"] == pytest.approx(4 / 9, abs=0.12)


def test_calibration_reduces_log_loss(scores_labels):
    s, y, _ = scores_labels

    def nll(p):
        p = np.clip(p, 1e-9, 1 - 1e-9)
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    for method in ("isotonic", "platt"):
        assert nll(Calibrator(method).fit(s, y).predict(s)) < nll(s)


def test_calibrator_errors():
    with pytest.raises(ConfigError, match="Unknown calibration method 'beta'"):
        Calibrator("beta")
    with pytest.raises(ConfigError, match="not fitted"):
        Calibrator().predict([0.5])
    with pytest.raises(ConfigError, match="both classes"):
        Calibrator().fit([0.1, 0.2], [1, 1])
    with pytest.raises(ModelBundleError, match="format version 99"):
        Calibrator.from_dict({"format_version": 99, "method": "platt"})
    with pytest.raises(ModelBundleError, match="non-decreasing"):
        Calibrator.from_dict(
            {"format_version": 1, "method": "isotonic", "x_thresholds": [0, 1], "y_thresholds": [1, 0]}
        )


def test_threshold_for_sensitivity_by_hand():
    # positives scored 0.9, 0.8, 0.7, 0.6, 0.2; negatives anywhere
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.95, 0.5, 0.1])
    assert threshold_for_sensitivity(y, p, 0.8) == 0.6  # 4 of 5 positives >= 0.6
    assert threshold_for_sensitivity(y, p, 0.81) == 0.2  # needs all 5
    assert threshold_for_sensitivity(y, p, 0.2) == 0.9
    assert threshold_for_sensitivity(y, p, 0.21) == 0.8
    # ties: two positives at 0.7 count together
    y2, p2 = np.array([1, 1, 1, 1]), np.array([0.9, 0.7, 0.7, 0.1])
    assert threshold_for_sensitivity(y2, p2, 0.5) == 0.7
    # weights: the 0.2 positive weighs as much as the other four together
    w = np.array([1, 1, 1, 1, 4, 1, 1, 1])
    assert threshold_for_sensitivity(y, p, 0.5, sample_weight=w) == 0.6  # 4/8 reached at 0.6
    assert threshold_for_sensitivity(y, p, 0.51, sample_weight=w) == 0.2
    # floating point: 0.95 * 100 is 95.00000000000001, still 95 positives suffice
    y3 = np.ones(100, int)
    p3 = np.linspace(1, 0.01, 100)
    assert threshold_for_sensitivity(y3, p3, 0.95) == pytest.approx(p3[94])
    with pytest.raises(ConfigError, match="no positive"):
        threshold_for_sensitivity([0, 0], [0.1, 0.2])


def test_threshold_for_sensitivity_matches_roc_curve():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.uniform(size=500) * 0.5 + 0.4 * y, 2)  # rounded: many ties
    for target in (0.5, 0.9, 0.95, 0.99):
        fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
        expected = thr[np.argmax(tpr >= target)]  # highest threshold reaching the target
        t = threshold_for_sensitivity(y, p, target)
        assert t == pytest.approx(expected)
        assert np.mean(p[y == 1] >= t) >= target
