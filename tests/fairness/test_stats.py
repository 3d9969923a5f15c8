"""Wilson intervals, bootstrap resampling by counts, AUROC and its bootstrap — against closed forms, scipy and
scikit-learn, plus a coverage simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from skintag.fairness import FairnessAudit, stats


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


def test_bootstrap_cells_keep_group_sizes_and_match_binomial_moments():
    cells = np.array([[40, 10, 30, 120], [5, 5, 2, 8]])
    boot = stats.bootstrap_cells(cells, 20000, np.random.default_rng(1))
    assert boot.shape == (20000, 2, 4)
    assert (boot.sum(axis=2) == cells.sum(axis=1)).all()
    # a row resample of n rows puts Binomial(n, cell share) rows in each cell
    share = cells[0] / cells[0].sum()
    assert boot[:, 0].mean(axis=0) == pytest.approx(cells[0], rel=0.02)
    assert boot[:, 0].var(axis=0) == pytest.approx(200 * share * (1 - share), rel=0.05)


def test_bootstrap_is_reproducible_with_a_seed(sim):
    audit = FairnessAudit(sim.y_true, sim.y_score, sim.fitzpatrick, grouping="six")
    a = audit.report(0.4, random_state=123, auroc_n_boot=200)
    b = FairnessAudit(sim.y_true, sim.y_score, sim.fitzpatrick, grouping="six").report(
        0.4, random_state=123, auroc_n_boot=200)
    c = audit.report(0.4, random_state=124, auroc_n_boot=200)
    cols = ["difference_lo", "difference_hi", "ratio_lo", "ratio_hi"]
    assert a.gaps[cols].equals(b.gaps[cols])
    assert a.by_group[["auroc_lo", "auroc_hi"]].equals(b.by_group[["auroc_lo", "auroc_hi"]])
    assert a.equalized_odds_ci == b.equalized_odds_ci
    assert not a.gaps[cols].equals(c.gaps[cols])


def test_gap_interval_coverage_on_a_simulated_population():
    """1,000 simulated audits of two groups with known TPR 0.85 vs 0.65 and FPR 0.10 vs 0.20: the 95 % bootstrap
    intervals of both gaps cover the true gaps (0.20 and 0.10) in ≥ 93 % of simulations (expected ≈ 95 %; the
    standard error of a coverage estimate over 1,000 simulations is ≈ 0.007).

    The resampling runs through the same functions and seeds as :meth:`FairnessAudit.report` (checked exactly for the
    first simulations), vectorised over simulations so the test takes about a second."""
    rng = np.random.default_rng(2026)
    n_sim, n_boot, n_pos, n_neg = 1000, 1000, 150, 350
    true = {"tpr": 0.20, "fpr": 0.10}
    tp = rng.binomial(n_pos, [0.85, 0.65], size=(n_sim, 2))
    fp = rng.binomial(n_neg, [0.10, 0.20], size=(n_sim, 2))
    cells = np.stack([tp, n_pos - tp, fp, n_neg - fp], axis=2)  # (sim, group, 4)
    lo_hi = {m: np.empty((n_sim, 2)) for m in true}
    for i in range(n_sim):
        gen = np.random.default_rng(np.random.SeedSequence(i).spawn(2)[0])  # the report's gap stream
        rates = stats.rates_from_cells(stats.bootstrap_cells(cells[i], n_boot, gen))
        for m in true:
            diff, _ = stats.gap_stats(rates[m], None, None)
            lo_hi[m][i] = stats.percentile_interval(diff, 0.95)
    # the same numbers through the public report, from rows built to have these counts
    groups = np.repeat(["a", "b"], n_pos + n_neg)
    y = np.tile(np.r_[np.ones(n_pos), np.zeros(n_neg)], 2).astype(int)
    for i in range(3):
        pred = np.concatenate([
            np.arange(n_pos) < tp[i, 0], np.arange(n_neg) < fp[i, 0], np.arange(n_pos) < tp[i, 1],
            np.arange(n_neg) < fp[i, 1],
        ]).astype(float)
        rep = FairnessAudit(y, pred, groups, grouping=None).report(0.5, n_boot=n_boot, auroc_n_boot=0, random_state=i)
        for m in true:
            assert (rep.gaps.at[m, "difference_lo"], rep.gaps.at[m, "difference_hi"]) == tuple(lo_hi[m][i])
    for m, t in true.items():
        coverage = np.mean((lo_hi[m][:, 0] <= t) & (t <= lo_hi[m][:, 1]))
        assert coverage >= 0.93, (m, coverage)
