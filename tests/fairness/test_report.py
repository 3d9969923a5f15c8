"""The fairness report against fairlearn's MetricFrame and against hand-computed confusion matrices; flags, gaps,
verdicts, reference policies and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import precision_score, roc_auc_score

from skintag.errors import ArgumentError, LabelError
from skintag.fairness import FairnessAudit, fairness_report, skin_type_groups
from skintag.fairness.report import INCONCLUSIVE, NOT_ASSESSABLE, OUTSIDE, WITHIN
from skintag.fairness.verdicts import gap_test


def _npv(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return precision_score(1 - y_true, 1 - y_pred, zero_division=np.nan)


METRICS = {
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "tnr": true_negative_rate,
    "ppv": lambda t, p: precision_score(t, p, zero_division=np.nan),
    "npv": _npv,
}


@pytest.fixture(scope="module")
def labelled(sim):
    """The simulated table with its six-type labels (unknown included) as plain strings."""
    return sim.assign(fst=skin_type_groups(sim["fitzpatrick"], "six").labels)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.73])
def test_every_rate_and_both_gaps_agree_with_fairlearn(labelled, threshold):
    y, s, g = labelled["y_true"].to_numpy(), labelled["y_score"].to_numpy(), labelled["fst"].to_numpy()
    pred = (s >= threshold).astype(int)
    rep = fairness_report(y, s, g, threshold=threshold, grouping=None, n_boot=50, auroc_n_boot=20, random_state=0)
    mf = MetricFrame(metrics=METRICS, y_true=y, y_pred=pred, sensitive_features=g)
    ours = rep.by_group
    for m in METRICS:
        np.testing.assert_allclose(ours[m].to_numpy(), mf.by_group[m].loc[ours.index].to_numpy(), rtol=0, atol=1e-15)
        assert rep.overall[m] == pytest.approx(mf.overall[m], abs=1e-15)
    for m in ("tpr", "fpr"):
        assert rep.difference()[m] == pytest.approx(mf.difference()[m], abs=1e-15)
        assert rep.ratio()[m] == pytest.approx(mf.ratio()[m], abs=1e-15)
    eod = equalized_odds_difference(y, pred, sensitive_features=g)
    assert rep.equalized_odds_difference == pytest.approx(eod, abs=1e-15)
    ci = rep.by_group_ci["tpr"]
    assert (ci["lo"] <= ours["tpr"]).all() and (ours["tpr"] <= ci["hi"]).all()
    # AUROC per group against scikit-learn
    for name in ours.index:
        m = g == name
        assert ours.at[name, "auroc"] == pytest.approx(roc_auc_score(y[m], s[m]), abs=1e-12)


def test_to_overall_reference_agrees_with_fairlearn(labelled):
    y, s, g = labelled["y_true"].to_numpy(), labelled["y_score"].to_numpy(), labelled["fst"].to_numpy()
    rep = fairness_report(y, s, g, threshold=0.4, grouping=None, reference="overall", n_boot=20, auroc_n_boot=0)
    mf = MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate}, y_true=y,
                     y_pred=(s >= 0.4).astype(int), sensitive_features=g)
    for m in ("tpr", "fpr"):
        assert rep.difference()[m] == pytest.approx(mf.difference(method="to_overall")[m], abs=1e-15)
        assert rep.ratio()[m] == pytest.approx(mf.ratio(method="to_overall")[m], abs=1e-15)
    assert rep.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(y, (s >= 0.4).astype(int), sensitive_features=g, method="to_overall"), abs=1e-15)


def test_reference_group_policy(labelled):
    rep = fairness_report(labelled["y_true"], labelled["y_score"], labelled["fst"], threshold=0.4, grouping=None,
                          reference="II", n_boot=20, auroc_n_boot=0)
    tpr = rep.by_group["tpr"]
    assert rep.difference()["tpr"] == pytest.approx((tpr - tpr["II"]).abs().max(), abs=1e-15)
    assert rep.ratio()["tpr"] == pytest.approx(np.minimum(tpr / tpr["II"], tpr["II"] / tpr).min(), abs=1e-15)
    with pytest.raises(ArgumentError, match="Unknown reference"):
        fairness_report([1, 0], [0.1, 0.2], ["a", "a"], threshold=0.5, grouping=None, reference="zz")


def test_hand_computed_confusion_matrices():
    # group a: y 1 1 1 0 0 / s .9 .6 .2 .7 .1 → at 0.5: TP 2, FN 1, FP 1, TN 1
    # group b: y 1 0 0 0   / s .5 .49 .8 .3   → at 0.5 (≥): TP 1, FN 0, FP 1, TN 2
    y = [1, 1, 1, 0, 0, 1, 0, 0, 0]
    s = [0.9, 0.6, 0.2, 0.7, 0.1, 0.5, 0.49, 0.8, 0.3]
    g = ["a"] * 5 + ["b"] * 4
    rep = fairness_report(y, s, g, threshold=0.5, grouping=None, min_positives=1, min_negatives=1, n_boot=0,
                          auroc_n_boot=0)
    bg = rep.by_group
    assert bg.loc["a", ["tp", "fn", "fp", "tn"]].tolist() == [2, 1, 1, 1]
    assert bg.loc["b", ["tp", "fn", "fp", "tn"]].tolist() == [1, 0, 1, 2]
    assert bg.loc["a", ["tpr", "fpr", "tnr", "ppv", "npv"]].tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 2, 2 / 3, 1 / 2])
    assert bg.loc["b", ["tpr", "fpr", "tnr", "ppv", "npv"]].tolist() == pytest.approx([1, 1 / 3, 2 / 3, 1 / 2, 1])
    assert rep.difference()["tpr"] == pytest.approx(1 / 3)
    assert rep.difference()["fpr"] == pytest.approx(1 / 2 - 1 / 3)
    assert rep.ratio()["tpr"] == pytest.approx(2 / 3)
    assert rep.ratio()["fpr"] == pytest.approx(2 / 3)
    assert rep.equalized_odds_difference == pytest.approx(1 / 3)
    # AUROC of a: pairs (pos, neg): .9>.7 .9>.1 .6<.7 .6>.1 .2>.1 .2<.7 → 4/6
    assert bg.at["a", "auroc"] == pytest.approx(4 / 6)
    assert rep.overall["tp"] == 3 and rep.overall["tn"] == 3
    assert rep.threshold_sweep([0.5]).loc[0, "tpr_gap"] == pytest.approx(1 / 3)


def test_wilson_columns_use_the_right_denominators(labelled):
    from scipy.stats import binomtest

    rep = fairness_report(labelled["y_true"], labelled["y_score"], labelled["fst"], threshold=0.5, n_boot=0,
                          auroc_n_boot=0, grouping=None)
    r = rep.by_group.loc["V"]
    for m, k, n in (("tpr", r.tp, r.tp + r.fn), ("fpr", r.fp, r.fp + r.tn), ("ppv", r.tp, r.tp + r.fp),
                    ("npv", r.tn, r.tn + r.fn), ("tnr", r.tn, r.fp + r.tn)):
        ci = binomtest(int(k), int(n)).proportion_ci(method="wilson")
        assert (r[f"{m}_lo"], r[f"{m}_hi"]) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_flagged_groups_are_left_out_of_gaps_unless_included():
    rng = np.random.default_rng(0)
    n = 400
    y = np.r_[rng.random(n) < 0.3, [1, 1, 0, 0, 0, 0, 0, 0]].astype(int)  # group "small": 2 positives
    s = np.r_[np.clip(0.3 + 0.4 * y[:n] + rng.normal(0, 0.2, n), 0, 1), [0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]]
    g = np.r_[np.where(np.arange(n) % 2, "a", "b"), ["small"] * 8]
    rep = fairness_report(y, s, g, threshold=0.5, grouping=None, n_boot=100, auroc_n_boot=0, random_state=1)
    bg = rep.by_group
    assert bool(bg.at["small", "tpr_insufficient"]) and not bool(bg.at["small", "fpr_insufficient"])
    assert bg.at["small", "tpr"] == 0.0  # defined, but insufficient evidence
    assert not bool(bg.at["small", "in_tpr_gap"]) and bool(bg.at["small", "in_fpr_gap"])
    assert rep.difference()["tpr"] == pytest.approx(abs(bg.at["a", "tpr"] - bg.at["b", "tpr"]))
    assert any("small" in w and "2 malignant" in w for w in rep.warnings)
    assert rep.gaps.at["tpr", "groups_left_out"] == "small"
    inc = fairness_report(y, s, g, threshold=0.5, grouping=None, n_boot=100, auroc_n_boot=0, include_flagged=True)
    mf = MetricFrame(metrics=true_positive_rate, y_true=y, y_pred=(s >= 0.5).astype(int), sensitive_features=g)
    assert inc.difference()["tpr"] == pytest.approx(mf.difference(), abs=1e-15)


def test_unknown_is_own_row_and_not_in_skin_type_gaps(sim):
    rep = fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three", n_boot=50,
                          auroc_n_boot=0)
    assert rep.groups == ("I-II", "III-IV", "V-VI", "unknown")
    assert rep.by_group.at["unknown", "n"] == int(sim.fitzpatrick.isna().sum())
    assert rep.gaps.at["tpr", "groups_left_out"] == "unknown"
    kept = fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three", n_boot=0,
                           auroc_n_boot=0, exclude_from_gaps=())
    assert kept.gaps.at["tpr", "groups_left_out"] == ""


def test_gap_test_by_hand():
    """Two groups: one comparison at the plain 95 % level — Newcombe's published example 56/70 − 48/80 has the interval
    0.0524–0.3339 (Newcombe 1998, method 10), wholly above 0.05: outside; 9/10 − 3/10 (0.1705–0.8090) likewise."""
    names = ("a", "b")
    t = gap_test(np.array([56, 48]), np.array([70, 80]), np.array([True, True]), names, tolerance=0.05)
    assert t.verdict == OUTSIDE and t.n_comparisons == 1
    assert (t.lo, t.hi) == pytest.approx((0.0524, 0.3339), abs=1e-4)  # one comparison: the largest gap's interval
    # the group order does not matter: the interval is oriented to the larger-minus-smaller difference
    t2 = gap_test(np.array([48, 56]), np.array([80, 70]), np.array([True, True]), names, tolerance=0.05)
    assert (t2.lo, t2.hi) == pytest.approx((t.lo, t.hi), abs=1e-12)
    # the same counts with tolerance 0.40: interval within ±0.40 → within tolerance
    assert gap_test(np.array([56, 48]), np.array([70, 80]), np.array([True, True]), names,
                    tolerance=0.40).verdict == WITHIN
    # tolerance 0.10: the interval spans 0.10 → inconclusive, with the cases per group that would decide (the
    # estimate 0.20 exceeds 0.10: (1.96 + 0.8416)² · (0.8·0.2 + 0.6·0.4) / (0.20 − 0.10)² = 313.9 → 314)
    t3 = gap_test(np.array([56, 48]), np.array([70, 80]), np.array([True, True]), names, tolerance=0.10)
    assert t3.verdict == INCONCLUSIVE and t3.n_needed == 314
    # three groups: three comparisons at the Bonferroni level 1 − 0.05/3
    t4 = gap_test(np.array([56, 48, 50]), np.array([70, 80, 70]), np.ones(3, bool), ("a", "b", "c"), tolerance=0.05)
    assert t4.n_comparisons == 3 and list(t4.comparisons["b"]) == ["b", "c", "c"]
    from skintag import stats

    lo, hi = stats.newcombe_interval(56, 70, 48, 80, 1 - 0.05 / 3)
    assert (t4.comparisons.at[0, "lo"], t4.comparisons.at[0, "hi"]) == pytest.approx((lo, hi), abs=1e-12)
    assert gap_test(np.array([5]), np.array([9]), np.array([True]), ("a",), tolerance=0.05).verdict == NOT_ASSESSABLE


def test_verdicts_in_a_report_follow_the_interval(sim):
    rep = fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, n_boot=300, auroc_n_boot=0,
                          tolerance={"tpr": 0.05, "fpr": 0.5}, random_state=0)
    g = rep.gaps
    assert g.at["fpr", "verdict"] == WITHIN and g.at["fpr", "difference_hi"] <= 0.5
    assert g.at["tpr", "verdict"] == OUTSIDE and g.at["tpr", "difference_lo"] > 0.05  # darker types less sensitive
    assert g.at["tpr", "difference_lo"] <= g.at["tpr", "difference"] <= g.at["tpr", "difference_hi"]
    # the verdict rests on the comparisons: 6 skin types in the TPR gap → 15 pairs
    comp = rep.comparisons
    assert g.at["tpr", "comparisons"] == 15 and (comp["metric"] == "tpr").sum() == 15
    assert (comp[comp["metric"] == "tpr"]["lo"] > 0.05).any()


def test_group_with_no_positives_is_undefined_not_zero():
    y = np.array([0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0])
    s = np.array([0.9, 0.1, 0.2, 0.8, 0.7, 0.1, 0.6, 0.3, 0.9, 0.2, 0.4, 0.1])
    g = np.array(["a"] * 3 + ["b"] * 9)
    rep = fairness_report(y, s, g, threshold=0.5, grouping=None, n_boot=50, auroc_n_boot=50, random_state=0)
    a = rep.by_group.loc["a"]
    assert math.isnan(a["tpr"]) and math.isnan(a["tpr_lo"]) and math.isnan(a["auroc"]) and math.isnan(a["auroc_lo"])
    assert "TPR undefined" in a["notes"] and "AUROC undefined" in a["notes"]
    # fairlearn reports 0 here — the misleading number this report avoids
    mf = MetricFrame(metrics=true_positive_rate, y_true=y, y_pred=(s >= 0.5).astype(int), sensitive_features=g)
    assert mf.by_group["a"] == 0.0
    assert rep.gaps.at["tpr", "verdict"] == NOT_ASSESSABLE  # b alone has ≥ 5 positives? no: 3 → nothing usable
    assert any("TPR gap cannot be assessed" in w for w in rep.warnings)


def test_group_of_one_and_single_group():
    rep = fairness_report([1, 0, 1, 0, 1, 0, 1], [0.9, 0.2, 0.8, 0.3, 0.7, 0.1, 0.4], ["a"] * 6 + ["b"],
                          threshold=0.5, grouping=None, n_boot=100, auroc_n_boot=100, random_state=0)
    b = rep.by_group.loc["b"]
    assert (b["n"], b["positives"], b["negatives"]) == (1, 1, 0)
    assert b["tpr"] == 0.0 and math.isnan(b["fpr"]) and math.isnan(b["auroc"])
    assert b["tpr_lo"] == 0.0 and b["tpr_hi"] == pytest.approx(0.7934, abs=1e-4)  # Wilson 0/1
    single = fairness_report([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], np.linspace(0, 1, 12), ["x"] * 12,
                             threshold=0.5, grouping=None, n_boot=100, auroc_n_boot=0)
    assert single.groups == ("x",)
    assert math.isnan(single.difference()["tpr"]) and single.verdicts == {"tpr": NOT_ASSESSABLE, "fpr": NOT_ASSESSABLE}
    assert math.isnan(single.equalized_odds_difference)


def test_all_unknown_skin_types():
    rep = fairness_report([1, 0] * 10, np.linspace(0, 1, 20), [None, "", -1, "unknown"] * 5, threshold=0.5,
                          grouping="six", n_boot=20, auroc_n_boot=0)
    assert rep.groups == ("unknown",)
    assert rep.by_group.at["unknown", "n"] == 20
    assert rep.verdicts["tpr"] == NOT_ASSESSABLE


def test_nan_scores_are_dropped_and_counted(sim):
    s = sim["y_score"].to_numpy().copy()
    s[[3, 10, 99]] = np.nan
    rep = fairness_report(sim.y_true, s, sim.fitzpatrick, threshold=0.5, n_boot=0, auroc_n_boot=0)
    assert rep.n_dropped == 3 and rep.n_rows == len(sim) - 3
    assert any("3 row(s) with a missing score" in w for w in rep.warnings)
    ref = fairness_report(sim.y_true.drop(index=[3, 10, 99]), sim.y_score.drop(index=[3, 10, 99]),
                          sim.fitzpatrick.drop(index=[3, 10, 99]), threshold=0.5, n_boot=0, auroc_n_boot=0)
    pd.testing.assert_frame_equal(rep.by_group, ref.by_group)
    with pytest.raises(LabelError, match="Every y_score is missing"):
        fairness_report([1, 0], [np.nan, np.nan], [1, 2], threshold=0.5)


def test_encodings_give_identical_reports(sim):
    fst = sim["fitzpatrick"]
    roman = fst.map(lambda v: ["I", "II", "III", "IV", "V", "VI"][int(v) - 1] if pd.notna(v) else "")
    strings = fst.map(lambda v: str(int(v)) if pd.notna(v) else "-1")
    reps = [fairness_report(sim.y_true, sim.y_score, enc, threshold=0.45, n_boot=0, auroc_n_boot=0)
            for enc in (fst, roman, strings)]
    for r in reps[1:]:
        pd.testing.assert_frame_equal(r.by_group, reps[0].by_group)
    coarse = fst.map(lambda v: {1: 12, 2: 12, 3: 34, 4: 34, 5: 56, 6: 56}[int(v)] if pd.notna(v) else np.nan)
    three_exact = fairness_report(sim.y_true, sim.y_score, fst, threshold=0.45, grouping="three", n_boot=0,
                                  auroc_n_boot=0)
    three_coarse = fairness_report(sim.y_true, sim.y_score, coarse, threshold=0.45, grouping="three", n_boot=0,
                                   auroc_n_boot=0)
    pd.testing.assert_frame_equal(three_exact.by_group, three_coarse.by_group)
    six_coarse = fairness_report(sim.y_true, sim.y_score, coarse, threshold=0.45, grouping="six", n_boot=0,
                                 auroc_n_boot=0)
    assert six_coarse.groups == ("unknown",) and any("coarse" in w for w in six_coarse.warnings)


def test_bad_labels_are_named():
    with pytest.raises(LabelError, match=r"row 1 \('2'\)"):
        fairness_report(["1", "2", "0"], [0.1, 0.2, 0.3], [1, 1, 1], threshold=0.5)
    with pytest.raises(ArgumentError, match="same length"):
        fairness_report([1, 0], [0.1], [1, 1], threshold=0.5)


def test_report_is_read_only(sim):
    rep = fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, n_boot=0, auroc_n_boot=0)
    with pytest.raises(AttributeError):
        rep.threshold = 0.1
    bg = rep.by_group
    bg.loc["I", "tpr"] = -1.0
    assert rep.by_group.at["I", "tpr"] != -1.0


def test_audit_reuse_matches_fresh_reports(sim):
    audit = FairnessAudit(sim.y_true, sim.y_score, sim.fitzpatrick)
    for t in (0.1, 0.35, 0.9):
        a = audit.report(t, n_boot=100, auroc_n_boot=50, random_state=4)
        b = fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=t, n_boot=100, auroc_n_boot=50,
                            random_state=4)
        pd.testing.assert_frame_equal(a.by_group, b.by_group)
        pd.testing.assert_frame_equal(a.gaps, b.gaps)


def test_sweep_matches_reports(sim):
    audit = FairnessAudit(sim.y_true, sim.y_score, sim.fitzpatrick)
    sweep = audit.threshold_sweep([0.25, 0.6])
    for i, t in enumerate((0.25, 0.6)):
        rep = audit.report(t, n_boot=0, auroc_n_boot=0)
        assert sweep.loc[i, "tpr[V]"] == rep.by_group.at["V", "tpr"]
        assert sweep.loc[i, "tpr_gap"] == pytest.approx(rep.difference()["tpr"])
        assert sweep.loc[i, "equalized_odds_difference"] == pytest.approx(rep.equalized_odds_difference)


def test_calibration_by_group_hand_check():
    y = np.array([0, 1, 1, 0, 1, 0])
    s = np.array([0.05, 0.15, 0.85, 0.95, 0.9, 0.1])
    g = np.array(["a", "a", "a", "b", "b", "b"])
    audit = FairnessAudit(y, s, g, grouping=None)
    table, ece = audit.calibration(n_bins=2)
    a = table[table["group"] == "a"].set_index("bin")
    assert a.loc[0, "n"] == 2 and a.loc[0, "mean_score"] == pytest.approx(0.10) and a.loc[0, "observed"] == 0.5
    assert a.loc[1, "n"] == 1 and a.loc[1, "observed"] == 1.0
    # ECE a = 2/3·|0.5 − 0.10| + 1/3·|1 − 0.85|
    assert ece["a"] == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.15)
    # b: bin0 {0.1:0} → |0−0.1|; bin1 {0.95:0, 0.9:1} → |0.5 − 0.925|
    assert ece["b"] == pytest.approx(1 / 3 * 0.1 + 2 / 3 * 0.425)


def test_calibration_uses_the_one_ece_of_skintag_stats(sim):
    from skintag import stats

    audit = FairnessAudit(sim.y_true, sim.y_score, sim.fitzpatrick)
    table, ece = audit.calibration()
    assert table["bin"].max() < stats.ECE_BINS and table["bin_hi"].max() == pytest.approx(1.0)
    labels = skin_type_groups(sim.fitzpatrick, "six").labels
    for g in ("I", "V", "unknown"):
        m = labels == g
        assert ece[g] == stats.expected_calibration_error(sim.y_true[m], sim.y_score[m])


def test_roc_curves_and_operating_point(sim):
    from sklearn.metrics import roc_curve

    rep = fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, n_boot=0, auroc_n_boot=0)
    curves = rep.roc_curves()
    m = (sim.fitzpatrick == 5).fillna(False).to_numpy(dtype=bool)
    fpr, tpr, _ = roc_curve(sim.y_true[m], sim.y_score[m])
    np.testing.assert_array_equal(curves["V"]["fpr"], fpr)
    np.testing.assert_array_equal(curves["V"]["tpr"], tpr)
    op = rep.operating_points().loc["V"]
    assert op["tpr"] == pytest.approx(np.mean(sim.y_score[m & (sim.y_true == 1).to_numpy()] >= 0.5))


def test_intersection_report(sim):
    rep = fairness_report(sim.y_true, sim.y_score, sim[["fitzpatrick", "sex"]], threshold=0.5, grouping="three",
                          n_boot=0, auroc_n_boot=0)
    assert rep.groups[:2] == ("I-II × female", "I-II × male")
    bg = rep.by_group
    assert list(bg.columns[:2]) == ["group_a", "group_b"]
    m = (sim.fitzpatrick.isin([5, 6]) & (sim.sex == "male") & (sim.y_true == 1)).to_numpy()
    assert bg.at["V-VI × male", "tpr"] == pytest.approx(np.mean(sim.y_score[m] >= 0.5))
    # unknown × anything is left out of skin-type gaps
    assert "unknown × female" in rep.gaps.at["tpr", "groups_left_out"]
    fnr = MetricFrame(metrics=false_negative_rate, y_true=sim.y_true, y_pred=(sim.y_score >= 0.5).astype(int),
                      sensitive_features=sim[["fitzpatrick_group", "sex"]])
    assert 1 - bg.at["V-VI × male", "tpr"] == pytest.approx(fnr.by_group.loc[("V-VI", "male")], abs=1e-15)


def test_intersection_heatmap_writes_each_cell_on_the_layer_that_colours_it(sim):
    """Each cell's text is drawn by the layer that colours it (plotly then picks a contrasting font): coloured cells by
    the colour scale, flagged cells by the grey layer, empty cells by a transparent one — once each."""
    from skintag.plots.fairness import intersection_heatmap

    part = sim.head(300)  # six types × sex on 300 rows: some cells have too few cases
    rep = fairness_report(part.y_true, part.y_score, part[["fitzpatrick", "sex"]], threshold=0.5, grouping="six",
                          n_boot=0, auroc_n_boot=0)
    coloured, grey, empty = intersection_heatmap(rep).data
    for layer in (coloured, grey, empty):
        has_text = np.array([[bool(t) for t in row] for row in layer.text])
        np.testing.assert_array_equal(has_text, ~np.isnan(np.asarray(layer.z, dtype=float)))
    counts = sum(np.array([[bool(t) for t in row] for row in layer.text], int) for layer in (coloured, grey, empty))
    assert (counts == 1).all() and np.isfinite(np.asarray(coloured.z, dtype=float)).any()
    assert np.isfinite(np.asarray(grey.z, dtype=float)).any()  # the simulation has flagged cells too


def test_report_bootstrap_is_reproducible_with_a_random_state(sim):
    audit = FairnessAudit(sim.y_true, sim.y_score, sim.fitzpatrick, grouping="six")
    a = audit.report(0.4, random_state=123, auroc_n_boot=200)
    b = FairnessAudit(sim.y_true, sim.y_score, sim.fitzpatrick, grouping="six").report(
        0.4, random_state=123, auroc_n_boot=200)
    c = audit.report(0.4, random_state=124, auroc_n_boot=200)
    cols = ["difference_lo", "difference_hi"]
    assert a.gaps[cols].equals(b.gaps[cols])
    assert a.by_group[["auroc_lo", "auroc_hi"]].equals(b.by_group[["auroc_lo", "auroc_hi"]])
    assert a.equalized_odds_ci == b.equalized_odds_ci
    assert not a.by_group[["auroc_lo", "auroc_hi"]].equals(c.by_group[["auroc_lo", "auroc_hi"]])
    assert a.gaps[cols].equals(c.gaps[cols])  # the gap intervals are closed-form: no seed involved
