"""The mitigation what-if: fitted on one patient-grouped part, reported on the other; the sensitivity-floor thresholds
by hand and the equalized-odds method against fairlearn's ThresholdOptimizer used directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.postprocessing import ThresholdOptimizer

from skintag.errors import ArgumentError, LabelError
from skintag.fairness import mitigation_whatif, skin_type_groups
from skintag.fairness.mitigation import ANALYSIS_NOTE, ScoreAsProbability, patient_split


@pytest.fixture(scope="module")
def patients(sim):
    return np.arange(len(sim)) // 2  # two images per simulated patient


def test_split_keeps_patients_whole_and_every_group_on_both_sides(sim, patients):
    labels = skin_type_groups(sim.fitzpatrick, "three").labels
    fit = patient_split(labels, patients, 0.5, random_state=0)
    both = set(patients[fit]) & set(patients[~fit])
    assert not both
    for g in ("I-II", "III-IV", "V-VI"):
        assert fit[labels == g].any() and (~fit[labels == g]).any()
    assert 0.45 < fit.mean() < 0.55


def test_sensitivity_floor_thresholds_by_hand(sim, patients):
    res = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.6, grouping="three",
                            sensitivity_floor=0.9, clusters=patients, random_state=3)
    labels = skin_type_groups(sim.fitzpatrick, "three").labels
    y, s = sim.y_true.to_numpy() == 1, sim.y_score.to_numpy()
    fit = patient_split(labels, patients, 0.5, random_state=3)
    for g in ("I-II", "III-IV", "V-VI"):
        t = res.thresholds[g]
        pos = s[fit & y & (labels == g)]
        assert (pos >= t).mean() >= 0.9  # the floor holds on the fitting part …
        assert (pos > t).mean() < 0.9  # … and no higher threshold (better specificity) would hold it
        ev = ~fit & (labels == g)
        assert res.table.at[g, "tpr_after"] == pytest.approx((s[ev & y] >= t).mean(), abs=1e-12)
        assert res.table.at[g, "fpr_after"] == pytest.approx((s[ev & ~y] >= t).mean(), abs=1e-12)
        assert res.table.at[g, "tpr_before"] == pytest.approx((s[ev & y] >= 0.6).mean(), abs=1e-12)
        assert res.table.at[g, "tpr_after"] >= 0.8  # held out: near the floor, far above the 0.6 threshold's
    assert res.table.at["unknown", "tpr_after"] == res.table.at["unknown", "tpr_before"]
    assert res.skipped == ("unknown",)
    s_ = res.summary
    assert s_.at["sensitivity", "after"] > s_.at["sensitivity", "before"]  # the floor raises sensitivity here …
    assert s_.at["specificity", "after"] < s_.at["specificity", "before"]  # … at a cost in specificity, said in words
    assert res.words.startswith(f"On the {res.eval_rows} held-out rows: sensitivity")
    assert "fewer cancers missed per 100 malignant" in res.words and "more benign lesions referred" in res.words
    assert res.eval_rows + res.fit_rows == len(sim) and "split by patients" in res.split


def test_equalized_odds_equals_a_direct_threshold_optimizer_run(sim):
    res = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three",
                            method="equalized_odds", random_state=3)
    labels = skin_type_groups(sim.fitzpatrick, "three").labels
    y = sim.y_true.to_numpy()
    s = sim.y_score.to_numpy()
    fit = patient_split(labels, None, 0.5, random_state=3)
    known = labels != "unknown"
    opt = ThresholdOptimizer(estimator=ScoreAsProbability(), constraints="equalized_odds", prefit=True,
                             predict_method="predict_proba", objective="balanced_accuracy_score")
    opt.fit(pd.DataFrame({"score": s[fit & known]}), y[fit & known], sensitive_features=labels[fit & known])
    pred = np.asarray(opt.predict(pd.DataFrame({"score": s[known]}), sensitive_features=labels[known],
                                  random_state=3))
    ev = ~fit[known]
    for g in ("I-II", "III-IV", "V-VI"):
        sel = ev & (labels[known] == g)
        assert res.table.at[g, "tpr_after"] == pytest.approx(pred[sel & (y[known] == 1)].mean(), abs=1e-12)
        assert res.table.at[g, "fpr_after"] == pytest.approx(pred[sel & (y[known] == 0)].mean(), abs=1e-12)
    assert res.note == ANALYSIS_NOTE and "ThresholdOptimizer" in res.method


def test_is_seeded(sim):
    a = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three", random_state=3)
    b = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three", random_state=3)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_needs_two_usable_groups():
    with pytest.raises(LabelError, match="at least two groups"):
        mitigation_whatif([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.3], [1, 1, 6, 6], threshold=0.5)


def test_the_rule_before_may_be_one_threshold_per_row(sim, patients):
    """``threshold`` per row (an image-domain or out-of-fold rule): the 'before' rates count each held-out row at its
    own threshold, by hand; a constant array gives exactly the scalar's result; a group that is not optimised keeps its
    rows' thresholds."""
    kw = {"grouping": "three", "sensitivity_floor": 0.9, "clusters": patients, "random_state": 3}
    scalar = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.6, **kw)
    same = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=np.full(len(sim), 0.6), **kw)
    pd.testing.assert_frame_equal(scalar.table, same.table)
    per_row = np.where(np.arange(len(sim)) % 3 == 0, 0.3, 0.7)
    res = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=per_row, **kw)
    labels = skin_type_groups(sim.fitzpatrick, "three").labels
    y, s = sim.y_true.to_numpy() == 1, sim.y_score.to_numpy()
    ev = ~patient_split(labels, patients, 0.5, random_state=3)
    for g in ("I-II", "III-IV", "V-VI"):
        m = ev & (labels == g) & y
        assert res.table.at[g, "tpr_before"] == pytest.approx(np.mean(s[m] >= per_row[m]))
    assert "unknown" in res.skipped and np.isnan(res.table.at["unknown", "threshold_after"])  # it keeps both
    with pytest.raises(ArgumentError, match="one per row"):
        mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=per_row[:10], **kw)
