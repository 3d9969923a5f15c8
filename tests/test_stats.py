"""skintag.stats: Wilson intervals, AUROC and its bootstrap, ECE, the row bootstrap and resampling by counts — against
hand computations, closed forms, scipy and scikit-learn, plus coverage simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from skintag import stats
from skintag.fairness import FairnessAudit


def test_wilson_known_numbers():
    lo, hi = stats.wilson_interval(6, 48)
    # hand computation: p = 0.125, z = 1.959964, centre = (p + z²/96) / (1 + z²/48), half = z/(1+z²/48)·sqrt(p(1-p)/48 + z²/9216)
    z = 1.959963984540054
    centre = (0.125 + z * z / 96) / (1 + z * z / 48)
    half = z / (1 + z * z / 48) * math.sqrt(0.125 * 0.875 / 48 + z * z / (4 * 48 * 48))
    assert float(lo) == pytest.approx(centre - half, abs=1e-12)
    assert float(hi) == pytest.approx(centre + half, abs=1e-12)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.0586, 0.2470)  # the "0.06-0.25"


@pytest.mark.parametrize(("k", "n"), [(0, 10), (10, 10), (1, 1), (7, 23), (150, 400), (399, 400)])
def test_wilson_matches_scipy(k, n):
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = stats.wilson_interval(k, n)
    assert float(lo) == pytest.approx(ref.low, abs=1e-12)
    assert float(hi) == pytest.approx(ref.high, abs=1e-12)
    ref90 = binomtest(k, n).proportion_ci(confidence_level=0.90, method="wilson")
    lo90, hi90 = stats.wilson_interval(k, n, ci=0.90)
    assert (float(lo90), float(hi90)) == pytest.approx((ref90.low, ref90.high), abs=1e-12)


def test_wilson_scalars_give_floats():
    lo, hi = stats.wilson_interval(10, 50)
    assert type(lo) is float and type(hi) is float
    ref = binomtest(10, 50).proportion_ci(method="wilson")
    assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert all(math.isnan(x) for x in stats.wilson_interval(0, 0))


def test_wilson_vectorised_and_undefined_for_empty():
    lo, hi = stats.wilson_interval(np.array([0, 3, 5]), np.array([0, 10, 5]))
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert hi[2] == 1.0 and 0 < lo[2] < 1


def test_wilson_coverage_simulation():
    rng = np.random.default_rng(11)
    p, n = 0.8, 60
    k = rng.binomial(n, p, size=4000)
    lo, hi = stats.wilson_interval(k, n)
    assert ((lo <= p) & (p <= hi)).mean() >= 0.93


def test_auroc_rank_formula_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = np.round(rng.random(300) + 0.4 * y, 1)  # heavy ties
    assert stats.auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert math.isnan(stats.auroc(np.zeros(5, bool), s[:5]))


def test_auroc_sorted_is_the_same_formula():
    rng = np.random.default_rng(4)
    y = rng.random(200) < 0.3
    s = np.round(rng.random(200) + 0.3 * y, 1)
    assert stats.auroc_sorted(s[y], np.sort(s[~y])) == stats.auroc(y, s)
    assert math.isnan(stats.auroc_sorted(np.array([]), np.array([0.1])))


def test_bootstrap_auroc_equals_sklearn_on_the_resampled_rows():
    """Each replicate is exactly the AUROC of a row resample (positives and negatives resampled separately)."""
    rng = np.random.default_rng(5)
    y = rng.random(120) < 0.4
    s = np.round(rng.random(120) + 0.5 * y, 2)
    reps = stats.bootstrap_auroc(y, s, 7, np.random.default_rng(42), batch=7)
    # replay the same draws: negatives' weights first, then positives', per batch
    replay = np.random.default_rng(42)
    neg_idx, pos_idx = np.flatnonzero(~y), np.flatnonzero(y)
    w_neg = stats._resample_weights(neg_idx.size, 7, replay)
    w_pos = stats._resample_weights(pos_idx.size, 7, replay)
    order_neg = neg_idx[np.argsort(s[neg_idx], kind="stable")]  # bootstrap_auroc sorts the negatives
    for b in range(7):
        rows = np.concatenate([np.repeat(order_neg, w_neg[b]), np.repeat(pos_idx, w_pos[b])])
        assert reps[b] == pytest.approx(roc_auc_score(y[rows], s[rows]), abs=1e-12)


def test_gap_interval_coverage_on_a_simulated_population():
    """1,000 simulated audits of two groups with known TPR 0.85 vs 0.65 and FPR 0.10 vs 0.20: the report's 95 %
    intervals of both gaps (Newcombe, one comparison) cover the true gaps (0.20 and 0.10) in ≥ 93 % of simulations
    (measured 94.8 % / 94.7 %; the standard error of a coverage estimate over 1,000 simulations is ≈ 0.007)."""
    rng = np.random.default_rng(2026)
    n_sim, n_pos, n_neg = 1000, 150, 350
    true = {"tpr": 0.20, "fpr": 0.10}
    tp = rng.binomial(n_pos, [0.85, 0.65], size=(n_sim, 2))
    fp = rng.binomial(n_neg, [0.10, 0.20], size=(n_sim, 2))
    groups = np.repeat(["a", "b"], n_pos + n_neg)
    y = np.tile(np.r_[np.ones(n_pos), np.zeros(n_neg)], 2).astype(int)
    hit = {m: 0 for m in true}
    for i in range(n_sim):
        pred = np.concatenate([
            np.arange(n_pos) < tp[i, 0], np.arange(n_neg) < fp[i, 0], np.arange(n_pos) < tp[i, 1],
            np.arange(n_neg) < fp[i, 1],
        ]).astype(float)
        rep = FairnessAudit(y, pred, groups, grouping=None).report(0.5, n_boot=0, auroc_n_boot=0)
        for m, t in true.items():
            lo, hi = rep.gaps.at[m, "difference_lo"], rep.gaps.at[m, "difference_hi"]
            hit[m] += lo <= t <= hi
            if i < 3:  # the interval is Newcombe's for the two groups' counts
                k = tp[i] if m == "tpr" else fp[i]
                n = n_pos if m == "tpr" else n_neg
                nlo, nhi = stats.newcombe_interval(k[0], n, k[1], n, 0.95)
                assert (lo, hi) == pytest.approx((max(0.0, nlo), nhi) if nlo + nhi >= 0 else (max(0.0, -nhi), -nlo))
    for m in true:
        assert hit[m] / n_sim >= 0.93, (m, hit[m] / n_sim)


def test_newcombe_interval_matches_the_published_examples():
    """Newcombe (1998), Table II, method 10 (hybrid score): 56/70 − 48/80 → 0.0524 to 0.3339; 9/10 − 3/10 → 0.1705 to
    0.8090; 5/56 − 0/29 → −0.0381 to 0.1926; 6/7 − 2/7 → 0.0582 to 0.8062."""
    for args, want in (((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090)),
                       ((5, 56, 0, 29), (-0.0381, 0.1926)), ((6, 7, 2, 7), (0.0582, 0.8062))):
        assert stats.newcombe_interval(*args) == pytest.approx(want, abs=1e-4)
    lo, hi = stats.newcombe_interval(np.array([56, 9]), np.array([70, 10]), np.array([48, 3]), np.array([80, 10]))
    assert lo.tolist() == pytest.approx([0.0524, 0.1705], abs=1e-4)
    assert np.isnan(stats.newcombe_interval(1, 0, 1, 2)[0])


def test_two_proportion_sample_size_by_hand():
    # (1.959964 + 0.841621)² · (0.8·0.2 + 0.6·0.4) / 0.2² = 78.5 → 79 per group
    assert stats.two_proportion_sample_size(0.8, 0.6) == 79
    # against a margin of 0.05: / 0.15² → 139.5 → 140
    assert stats.two_proportion_sample_size(0.8, 0.6, 0.05) == 140
    assert stats.two_proportion_sample_size(0.8, 0.75, 0.05) == float("inf")
    assert np.isnan(stats.two_proportion_sample_size(float("nan"), 0.5))


def test_cluster_cells_bootstrap():
    rng = np.random.default_rng(0)
    # one cluster per group: every resample is the group's total
    unit = np.array([[3, 1, 2, 4], [5, 0, 0, 5]])
    boot = stats.bootstrap_cluster_cells(unit, np.array([0, 1]), 2, 50, rng)
    assert (boot == unit[None]).all()
    # one row per cluster: the row bootstrap in distribution (binomial moments of a cell)
    rows = np.repeat(np.eye(4, dtype=np.int64), [40, 10, 30, 120], axis=0)
    boot = stats.bootstrap_cluster_cells(rows, np.zeros(len(rows), dtype=np.int64), 1, 20000, rng)
    assert (boot.sum(axis=2) == 200).all()
    assert boot[:, 0, 0].var() == pytest.approx(200 * 0.2 * 0.8, rel=0.05)
    # clusters of 4 alike rows: the variance of a share is ≈ 4× the row bootstrap's (design effect ≈ 4)
    alike = np.repeat(np.eye(4, dtype=np.int64), [10, 2, 8, 30], axis=0) * 4
    boot = stats.bootstrap_cluster_cells(alike, np.zeros(len(alike), dtype=np.int64), 1, 20000, rng)
    tpr = boot[:, 0, 0] / (boot[:, 0, 0] + boot[:, 0, 1])
    deff = stats.design_effect(tpr[:, None], np.array([10 / 12]), np.array([48]), np.array([1.0]))
    assert deff[0] == pytest.approx(4.0, rel=0.15)


def test_clustered_auroc_replicates_equal_sklearn_on_the_resampled_rows():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    n = 60
    y = rng.random(n) < 0.4
    s = np.round(rng.random(n), 2)
    cluster = np.arange(n) // 3
    reps = stats.bootstrap_auroc_clustered(y, s, cluster, 5, np.random.default_rng(9))
    replay = np.random.default_rng(9)
    w = stats._resample_weights(20, 5, replay)
    for b in range(5):
        rows = np.concatenate([np.repeat(np.flatnonzero(cluster == c), w[b, c]) for c in range(20)])
        want = roc_auc_score(y[rows], s[rows]) if 0 < y[rows].sum() < rows.size else np.nan
        assert reps[b] == pytest.approx(want, abs=1e-12, nan_ok=True)
def test_auroc_by_hand_and_undefined() -> None:
    # pairs (pos, neg): (0.35 vs 0.1) win, (0.35 vs 0.4) loss, (0.8 vs both) win -> 3 of 4
    assert stats.auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half
    assert stats.auroc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert np.isnan(stats.auroc(np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3])))


def test_ece_hand_table() -> None:
    y = np.array([0, 1, 1, 1, 0])
    s = np.array([0.1, 0.1, 0.9, 0.9, 0.5])
    # 2 bins: [0, .5) holds 0.1, 0.1 (mean conf 0.1, rate 0.5): 2/5 * 0.4; [.5, 1] holds .9, .9, .5 (conf 2.3/3, rate 2/3)
    expected = 2 / 5 * 0.4 + 3 / 5 * abs(2.3 / 3 - 2 / 3)
    assert stats.expected_calibration_error(y, s, n_bins=2) == pytest.approx(expected)
    assert expected == pytest.approx(0.22)
    # perfectly calibrated within each bin -> 0; a score of exactly 1.0 falls in the last bin
    assert stats.expected_calibration_error(np.array([0, 1, 1, 1]), np.array([0.0, 1.0, 1.0, 1.0]), n_bins=10) == 0.0


def test_ece_default_bins_are_the_evaluation_setting():
    """One bin setting: the default is the ``ece_bins`` the shipped demo bundle was evaluated with (15), and the
    default reproduces the ECE reported for its PAD-UFES-20 predictions."""
    import json
    from pathlib import Path

    import pandas as pd

    demo = Path(__file__).resolve().parents[1] / "models" / "demo"
    metrics = json.loads((demo / "eval" / "metrics.json").read_text())
    assert stats.ECE_BINS == metrics["ece_bins"] == 15
    pred = pd.read_csv(demo / "eval" / "predictions_pad_ufes_20.csv")
    reported = metrics["sets"]["pad_ufes_20"]["overall"]["ece_calibrated"]["value"]
    assert stats.expected_calibration_error(pred["y_true"], pred["y_score"]) == pytest.approx(reported, abs=1e-12)
    assert list(stats.calibration_bins(np.array([0.0, 1 / 15 - 1e-9, 1 / 15, 1.0, 1.2]))) == [0, 0, 1, 14, 14]


def test_bootstrap_reproducible_and_equal_to_a_manual_percentile_bootstrap() -> None:
    x = np.array([0.1, 0.5, 0.2, 0.9, 0.4, 0.7, 0.3, 0.8])
    est = stats.bootstrap(np.mean, x, n_boot=200, ci=0.9, random_state=11)
    again = stats.bootstrap(np.mean, x, n_boot=200, ci=0.9, random_state=11)
    other = stats.bootstrap(np.mean, x, n_boot=200, ci=0.9, random_state=12)
    assert est == again and est != other
    rng = np.random.default_rng(11)
    means = [x[rng.integers(0, x.size, x.size)].mean() for _ in range(200)]
    lo, hi = np.quantile(means, [0.05, 0.95])
    assert isinstance(est, stats.Estimate)
    assert est.value == pytest.approx(x.mean())
    assert (est.ci_low, est.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert est.n_boot_valid == 200


def test_bootstrap_skips_undefined_resamples_and_keeps_strata_sizes() -> None:
    y = np.array([0] * 9 + [1])
    s = np.linspace(0, 1, 10)
    est = stats.bootstrap(stats.auroc, y, s, n_boot=300, random_state=0)
    assert est.value == pytest.approx(1.0)
    # about (9/10)^10 = 35 % of resamples miss the single positive: undefined, skipped and counted
    assert 70 < 300 - est.n_boot_valid < 140  # binomial(300, 0.35): mean 105, sd 8
    seen = []
    stats.bootstrap(lambda a: seen.append(int(a.sum())) or 0.0, y, n_boot=50, random_state=1, strata=y)
    assert set(seen) == {1}  # resampling within strata keeps exactly one positive
    d = stats.bootstrap(np.mean, np.array([1.0]), n_boot=0).to_dict()
    assert d["value"] == 1.0 and d["ci_low"] is None and d["n_boot_valid"] == 0


def test_cluster_bootstrap_resamples_whole_patients() -> None:
    # 40 patients with 5 identical rows each: row resampling treats 200 rows as independent and gives an interval
    # about sqrt(5) ≈ 2.2 times too narrow; the cluster bootstrap resamples 40 patients. Measured width ratio
    # 2.14-2.31 over data seeds 0-9; asserted > 1.6 (margin ≥ 0.54).
    from skintag.stats import bootstrap, cluster_members

    rng = np.random.default_rng(0)
    patient_y = rng.integers(0, 2, 40)
    y = np.repeat(patient_y, 5)
    patients = np.repeat([f"P{i}" for i in range(40)], 5)
    rows = bootstrap(np.mean, y, n_boot=2000, random_state=1)
    clustered = bootstrap(np.mean, y, n_boot=2000, random_state=1, clusters=patients)
    assert rows.value == clustered.value == y.mean()
    ratio = (clustered.ci_high - clustered.ci_low) / (rows.ci_high - rows.ci_low)
    assert ratio > 1.6
    # equal-size clusters: exactly a bootstrap over the 40 patient-level values with the same random draws
    per_patient = bootstrap(np.mean, patient_y, n_boot=2000, random_state=1)
    assert (per_patient.ci_low, per_patient.ci_high) == (clustered.ci_low, clustered.ci_high)
    members = cluster_members(np.array(["b", "a", "b", None, None, ""], dtype=object))
    assert [m.tolist() for m in members] == [[0, 2], [1], [3], [4], [5]]


def test_bootstrap_without_clusters_is_unchanged_by_the_cluster_code() -> None:
    from skintag.stats import bootstrap

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = bootstrap(np.mean, y, n_boot=500, random_state=4, strata=y)
    singletons = bootstrap(np.mean, y, n_boot=500, random_state=4, strata=y, clusters=np.arange(300))
    assert (a.ci_low, a.ci_high) == (singletons.ci_low, singletons.ci_high)


def test_sensitivity_threshold_is_the_calibration_modules_unweighted_rule() -> None:
    """One rule for "the highest threshold reaching a sensitivity": the fairness engine's sorted shortcut
    (:func:`skintag.stats.sensitivity_threshold`) agrees with the model's weighted chooser at unit weights, ties
    included, and reaches the target by the smallest margin."""
    from skintag.model.calibration import threshold_for_sensitivity
    from skintag.stats import sensitivity_threshold

    rng = np.random.default_rng(4)
    for n in (1, 7, 50, 333):
        y = np.r_[np.ones(n), np.zeros(40)].astype(int)
        p = np.round(rng.random(n + 40), 2)  # rounded: many ties
        for target in (0.01, 0.5, 0.9, 0.95, 1.0):
            t = sensitivity_threshold(p[y == 1], target)
            assert t == threshold_for_sensitivity(y, p, target), (n, target)
            assert np.mean(p[y == 1] >= t) >= target - 1e-12
            above = p[y == 1][p[y == 1] > t]
            if above.size:
                assert np.mean(p[y == 1] >= above.min()) < target  # any higher threshold misses it
