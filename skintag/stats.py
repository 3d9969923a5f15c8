"""The statistics of SkinTag, in one place: Wilson intervals, AUROC, expected calibration error (one bin setting,
:data:`ECE_BINS`), the row bootstrap with percentile intervals, and the vectorised resampling behind the fairness
report. Randomness always comes in as ``random_state`` (a seed) or as a ``numpy.random.Generator``.

* :func:`wilson_interval` — the Wilson score interval for a binomial proportion, closed form and vectorised (scalars in,
  floats out). scipy's ``binomtest(...).proportion_ci(method="wilson")`` gives the same interval one proportion per
  call; a fairness report needs ~40 per threshold (the tests check the two agree).
* :func:`auroc` / :func:`auroc_sorted` — the ROC AUC by the rank (Mann-Whitney) formula, ties counted ½: the negatives'
  scores are sorted once and each positive's credit is two ``searchsorted`` look-ups. It equals
  ``sklearn.metrics.roc_auc_score`` (checked in the tests) at a tenth of its cost per call, which matters because the
  bootstrap calls it thousands of times.
* :func:`expected_calibration_error` — ECE over :data:`ECE_BINS` equal-width bins.
* :func:`bootstrap` — point estimate and percentile interval of any metric of row-aligned arrays, resampling rows
  jointly (optionally within strata), skipping resamples where the metric is undefined and counting the kept ones —
  ``scipy.stats.bootstrap`` does neither of the last two.
* :func:`bootstrap_cluster_cells` — resamples of per-group confusion counts. At a fixed threshold a row is fully
  described by its (label, prediction) cell, so a resample is a sum of unit cell counts weighted by draw
  multiplicities: one matrix product per group gives all resamples.
* :func:`bootstrap_auroc` — AUROC replicates over resampling weights: with the negatives' scores sorted once, a
  resample's AUROC is ``Σ_i w_i · (W_neg(< s_i) + ½ W_neg(= s_i)) / (n_pos · n_neg)``, computed for a batch of
  resamples with one cumulative sum — no Python loop over resamples, no re-sorting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

#: Equal-width bins of every expected calibration error in SkinTag (evaluation, model card and fairness page).
ECE_BINS = 15


def z_value(ci: float) -> float:
    """Two-sided standard-normal quantile for a central interval of mass ``ci`` (1.95996… for 0.95)."""
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    return NormalDist().inv_cdf(0.5 + ci / 2.0)


# --- Wilson -----------------------------------------------------------------------------------------------------------
def wilson_interval(
    k: np.ndarray | int, n: np.ndarray | int, ci: float = 0.95
) -> tuple[np.ndarray, np.ndarray] | tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials; NaN where ``n == 0``.

    ``centre ± half`` with ``centre = (p + z²/2n) / (1 + z²/n)`` and
    ``half = z / (1 + z²/n) · sqrt(p(1−p)/n + z²/4n²)``; the ends are exactly 0 when ``k == 0`` and 1 when ``k == n``.

    Parameters
    ----------
    k, n
        Counts; arrays broadcast. Two scalars give a pair of floats, anything else a pair of arrays.
    ci
        Interval mass (0.95).
    """
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_value(ci)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
        lo = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))  # exact ends (no rounding past the estimate)
        hi = np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
    lo = np.where(n > 0, lo, np.nan)
    hi = np.where(n > 0, hi, np.nan)
    if scalar:
        return float(lo), float(hi)
    return lo, hi


# --- thresholds -------------------------------------------------------------------------------------------------------
def sensitivity_threshold(positive_scores: np.ndarray, target: float) -> float:
    """The highest threshold ``t`` at which at least ``target`` of the positives score ``>= t``: the score of the
    ⌈target·n⌉-th highest positive (ties count as flagged). ``positive_scores`` non-empty, ``target`` in (0, 1]."""
    pos = np.sort(np.asarray(positive_scores, dtype=float))
    need = int(np.ceil(target * pos.size - 1e-9))  # positives that must score ≥ t
    return float(pos[pos.size - max(need, 1)])


# --- AUROC ------------------------------------------------------------------------------------------------------------
def auroc_sorted(pos: np.ndarray, neg_sorted: np.ndarray) -> float:
    """ROC AUC from the positives' scores and the negatives' scores *sorted ascending*; NaN when a class is absent."""
    pos = np.asarray(pos, dtype=float)
    neg_sorted = np.asarray(neg_sorted, dtype=float)
    if pos.size == 0 or neg_sorted.size == 0:
        return float("nan")
    below = np.searchsorted(neg_sorted, pos, side="left")
    ties = np.searchsorted(neg_sorted, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (pos.size * neg_sorted.size))


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a binary score (``y_true == 1`` is positive), ties counted ½; NaN when ``y_true`` holds one class
    only (undefined, never 0 or 0.5)."""
    pos = np.asarray(y_true) == 1
    s = np.asarray(score, dtype=float)
    return auroc_sorted(s[pos], np.sort(s[~pos]))


#: Most resample × row cells one bootstrap batch holds (an int64 array of this many cells is 80 MB; a batch keeps about
#: four): batches of 200 resamples up to 50,000 rows, fewer above, so that a million-row group stays near 400 MB.
BATCH_CELLS = 10_000_000


def batch_size(n: int, batch: int = 200) -> int:
    """Resamples per batch for ``n`` rows: ``batch``, lowered so that ``batch × n ≤`` :data:`BATCH_CELLS`. Up to
    50,000 rows the batches (and so the random draws, and every result) are those of a fixed batch of 200."""
    return max(1, min(int(batch), BATCH_CELLS // max(int(n), 1)))


def _resample_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) multiplicities of n rows drawn with replacement (rows of a multinomial with equal cells)."""
    idx = rng.integers(0, n, size=(n_boot, n), dtype=np.int64)
    idx += (np.arange(n_boot, dtype=np.int64) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n)


def bootstrap_auroc(
    y: np.ndarray, score: np.ndarray, n_boot: int, rng: np.random.Generator, *, batch: int = 200
) -> np.ndarray:
    """Bootstrap replicates of one group's AUROC, resampling positives and negatives separately (so every replicate is
    defined). Returns ``n_boot`` values (all NaN when a class is absent)."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=float)
    pos = s[y]
    neg = np.sort(s[~y])
    n_pos, n_neg = pos.size, neg.size
    if n_pos == 0 or n_neg == 0 or n_boot <= 0:
        return np.full(max(n_boot, 0), np.nan)
    left = np.searchsorted(neg, pos, side="left")
    right = np.searchsorted(neg, pos, side="right")
    out = np.empty(n_boot)
    batch = batch_size(max(n_pos, n_neg), batch)
    for start in range(0, n_boot, batch):  # batches bound memory; each batch is fully vectorised
        b = min(batch, n_boot - start)
        w_neg = _resample_weights(n_neg, b, rng)
        cum = np.zeros((b, n_neg + 1), dtype=np.int64)
        np.cumsum(w_neg, axis=1, out=cum[:, 1:])
        credit2 = cum[:, left] + cum[:, right]  # twice (below + ½ tied), kept integral
        w_pos = _resample_weights(n_pos, b, rng)
        out[start : start + b] = np.einsum("bi,bi->b", w_pos, credit2) / (2.0 * n_pos * n_neg)
    return out


# --- calibration ------------------------------------------------------------------------------------------------------
def calibration_bins(score: np.ndarray, n_bins: int = ECE_BINS) -> np.ndarray:
    """Bin index of each score over ``n_bins`` equal-width bins of [0, 1]: [0, 1/n), …, [(n-1)/n, 1] (a score of
    exactly 1 falls in the last bin; scores outside [0, 1] are clipped)."""
    score = np.clip(np.asarray(score, dtype=float), 0.0, 1.0)
    return np.minimum((score * n_bins).astype(int), n_bins - 1)


def expected_calibration_error(y_true: np.ndarray, score: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """ECE of a binary probability: sum over equal-width bins (:func:`calibration_bins`) of
    (bin share) × |mean score − observed rate|; empty bins add 0; NaN without rows."""
    y_true = np.asarray(y_true, dtype=float)
    if y_true.size == 0:
        return float("nan")
    score = np.clip(np.asarray(score, dtype=float), 0.0, 1.0)
    idx = calibration_bins(score, n_bins)
    conf = np.bincount(idx, weights=score, minlength=n_bins)
    obs = np.bincount(idx, weights=y_true, minlength=n_bins)
    return float(np.abs(conf - obs).sum() / y_true.size)


# --- bootstrap --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A metric value with a percentile bootstrap confidence interval.

    ``n_boot_valid`` counts the resamples in which the metric was defined (e.g. both classes present for an AUC).
    """

    value: float
    ci_low: float
    ci_high: float
    n_boot_valid: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in asdict(self).items()}


def percentile_interval(samples: np.ndarray, ci: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along ``axis``, ignoring NaN replicates (NaN when all are NaN)."""
    a = (1.0 - ci) / 2.0
    samples = np.asarray(samples, dtype=float)
    finite = np.isfinite(samples).any(axis=axis)
    safe = np.where(np.isfinite(samples).any(axis=axis, keepdims=True), samples, 0.0)
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanquantile(safe, [a, 1.0 - a], axis=axis)
    return np.where(finite, lo, np.nan), np.where(finite, hi, np.nan)


def cluster_members(clusters: np.ndarray) -> list[np.ndarray]:
    """Row positions of each cluster, in order of first appearance; a missing id (NaN/None/"") is its own cluster."""
    ids = pd.Series(np.asarray(clusters, dtype=object))
    missing = ids.isna() | (ids.astype(str).str.strip() == "")
    ids = ids.astype(str).where(~missing, "\x00row" + pd.Series(np.arange(len(ids))).astype(str))
    codes, _ = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, bounds) if len(order) else []


def bootstrap(
    metric: Callable[..., float],
    *arrays: np.ndarray,
    n_boot: int = 1000,
    ci: float = 0.95,
    random_state: int | None = 0,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> Estimate:
    """Point estimate and percentile bootstrap interval of ``metric(*arrays)``, resampling rows jointly.

    Parameters
    ----------
    metric
        Function of the row-aligned arrays returning a float (NaN when undefined on a resample).
    arrays
        Row-aligned arrays (1-D or 2-D).
    n_boot
        Number of resamples; ``0`` gives the point estimate with NaN bounds.
    ci
        Coverage of the interval (0.95 → 2.5th and 97.5th percentiles).
    random_state
        Seed of ``numpy.random.default_rng``: equal seeds give equal intervals.
    strata
        Optional labels; rows are resampled within each stratum (keeps group sizes fixed).
    clusters
        Optional cluster ids (e.g. patient ids), one per row: whole clusters are resampled with all their rows (the
        cluster bootstrap), within each stratum when ``strata`` is also given (a cluster must then lie in one
        stratum). Missing ids (NaN/None) make a row its own cluster. Use it whenever rows of one patient are not
        independent.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"bootstrap: arrays must have the same length, got {[len(a) for a in arrays]}")
    value = float(metric(*arrays))
    if n == 0 or n_boot <= 0:
        return Estimate(value, float("nan"), float("nan"), 0)
    rng = np.random.default_rng(random_state)
    units = cluster_members(clusters if clusters is not None else np.arange(n))
    unit_of_row = np.empty(n, dtype=np.int64)
    for u, rows in enumerate(units):
        unit_of_row[rows] = u
    if strata is None:
        groups = [np.arange(len(units))]
    else:
        strata = np.asarray(strata)
        groups = [np.unique(unit_of_row[strata == s]) for s in np.unique(strata)]
    reps = np.empty(n_boot)
    for b in range(n_boot):
        drawn = np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups])
        idx = drawn if clusters is None else np.concatenate([units[u] for u in drawn])
        reps[b] = metric(*(a[idx] for a in arrays))
    lo, hi = percentile_interval(reps, ci)
    return Estimate(value, float(lo), float(hi), int((~np.isnan(reps)).sum()))


# --- rates and gaps from confusion counts -----------------------------------------------------------------------------
def rates_from_cells(cells: np.ndarray) -> dict[str, np.ndarray]:
    """TPR, FPR, TNR, PPV, NPV from (..., 4) TP/FN/FP/TN counts; NaN where the denominator is 0."""
    cells = np.asarray(cells, dtype=float)
    tp, fn, fp, tn = cells[..., 0], cells[..., 1], cells[..., 2], cells[..., 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "tpr": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "fpr": np.where(fp + tn > 0, fp / (fp + tn), np.nan),
            "tnr": np.where(fp + tn > 0, tn / (fp + tn), np.nan),
            "ppv": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "npv": np.where(tn + fn > 0, tn / (tn + fn), np.nan),
        }


def gap_stats(rates: np.ndarray, overall: np.ndarray | None, reference: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Difference and ratio of a rate across groups along the last axis (NaN groups ignored).

    ``reference`` is None with ``overall`` None: between groups, difference ``max − min`` and ratio ``min / max``
    (fairlearn's ``between_groups``). With ``overall`` (an array broadcast to the leading axes) the comparison is to the
    overall rate, and with ``reference`` (a column index) to that group: difference ``max |r_g − r_ref|`` and ratio
    ``min(min(r_g / r_ref, r_ref / r_g))`` (fairlearn's ``to_overall``).
    """
    rates = np.asarray(rates, dtype=float)
    if rates.shape[-1] == 0:  # no usable group
        empty = np.full(rates.shape[:-1], np.nan)
        return empty, empty.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        if overall is None and reference is None:
            finite = np.isfinite(rates)
            count = finite.sum(axis=-1)
            hi = np.where(finite, rates, -np.inf).max(axis=-1)
            lo = np.where(finite, rates, np.inf).min(axis=-1)
            diff = np.where(count >= 2, hi - lo, np.nan)
            ratio = np.where((count >= 2) & (hi > 0), lo / hi, np.nan)  # 0/0 is undefined, as in fairlearn
            return diff, ratio
        ref = np.asarray(overall, dtype=float)[..., None] if reference is None else rates[..., reference : reference + 1]
        finite = np.isfinite(rates) & np.isfinite(ref)
        count = finite.sum(axis=-1)
        d = np.where(finite, np.abs(rates - ref), -np.inf).max(axis=-1)
        r_each = np.minimum(rates / ref, ref / rates)
        r = np.where(finite, r_each, np.inf).min(axis=-1)
        need = 1 if reference is None else 2
        return np.where(count >= need, d, np.nan), np.where(count >= need, r, np.nan)


# --- differences of proportions, multiplicity, sample size ------------------------------------------------------------
def newcombe_interval(
    k1: np.ndarray | float, n1: np.ndarray | float, k2: np.ndarray | float, n2: np.ndarray | float, ci: float = 0.95
) -> tuple[np.ndarray, np.ndarray] | tuple[float, float]:
    """Newcombe's hybrid score interval for the difference of two independent proportions ``k1/n1 − k2/n2``.

    Method 10 of Newcombe (1998, *Statistics in Medicine* 17:873-890): with Wilson limits ``(l_i, u_i)`` of each
    proportion at the same ``ci``, ``lo = d − sqrt((p1 − l1)² + (u2 − p2)²)`` and ``hi = d + sqrt((u1 − p1)² +
    (p2 − l2)²)``. It stays inside [−1, 1], is never zero-width for ``n > 0``, and keeps near-nominal coverage at the
    small counts where the Wald interval fails. Counts may be non-integer (effective counts after a design-effect
    adjustment). NaN where either ``n`` is 0; arrays broadcast, two scalars give floats.
    """
    scalar = all(np.ndim(x) == 0 for x in (k1, n1, k2, n2))
    k1, n1, k2, n2 = (np.asarray(x, dtype=float) for x in (k1, n1, k2, n2))
    l1, u1 = wilson_interval(k1, n1, ci)
    l2, u2 = wilson_interval(k2, n2, ci)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        d = p1 - p2
        lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    if scalar:
        return float(lo), float(hi)
    return lo, hi


def two_proportion_sample_size(
    p1: float, p2: float, margin: float = 0.0, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Cases per group for a two-sided level-``alpha`` test to show, with probability ``power``, that two proportions
    differ by more than ``margin`` (when ``|p1 − p2| > margin``) or by less than it (when ``|p1 − p2| < margin``):
    ``n = (z_{1−α/2} + z_{power})² · (p1(1−p1) + p2(1−p2)) / (|p1 − p2| − margin)²`` (the normal-approximation formula
    of Fleiss, Levin & Paik, *Statistical Methods for Rates and Proportions*, ch. 4, against a margin). ``inf`` when
    ``|p1 − p2| == margin`` (no sample size decides), NaN for undefined inputs."""
    if not (np.isfinite(p1) and np.isfinite(p2)):
        return float("nan")
    nd = NormalDist()
    z = nd.inv_cdf(1.0 - alpha / 2.0) + nd.inv_cdf(power)
    var = p1 * (1.0 - p1) + p2 * (1.0 - p2)
    gap = abs(abs(p1 - p2) - margin)
    if gap < 1e-12:  # at the margin (up to rounding)
        return float("inf")
    var = max(var, 0.25 / 100.0)  # both rates at 0 or 1: a floor (p = 0.0025 per group), not a zero sample size
    return float(np.ceil(z * z * var / (gap * gap)))


def bootstrap_cluster_cells(
    unit_cells: np.ndarray, unit_group: np.ndarray, n_groups: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Cluster-bootstrap resamples of per-group confusion counts: whole clusters (e.g. patients) are drawn with
    replacement within each group and their counts added up.

    Parameters
    ----------
    unit_cells
        (U, 4) TP, FN, FP, TN of each cluster within a group (a patient with images in two groups is two units).
    unit_group
        (U,) group index of each unit.
    n_groups, n_boot, rng
        Number of groups, of resamples, and the generator.

    Returns
    -------
    np.ndarray
        (n_boot, G, 4) counts. Each group keeps its number of clusters (not of rows). With one row per cluster this is
        the row bootstrap within groups (a multinomial draw of the group's rows over its four cells). Vectorised: one
        (n_boot, C_g) matrix of draw multiplicities per group times the group's (C_g, 4) unit counts.
    """
    unit_cells = np.asarray(unit_cells, dtype=np.int64)
    unit_group = np.asarray(unit_group, dtype=np.int64)
    out = np.zeros((n_boot, n_groups, 4), dtype=np.int64)
    for g in range(n_groups):  # a loop over groups, never over resamples
        members = np.flatnonzero(unit_group == g)
        if members.size:  # in batches of resamples: the same draws as one (n_boot, C_g) matrix, in bounded memory
            step = batch_size(members.size, n_boot)
            for start in range(0, n_boot, step):
                w = _resample_weights(members.size, min(step, n_boot - start), rng)
                out[start : start + w.shape[0], g, :] = w @ unit_cells[members]
    return out


def design_effect(replicates: np.ndarray, p: np.ndarray, n: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Design effect of clustered proportions: bootstrap variance over the binomial variance ``p(1−p)/n``, at least 1
    (the Rao-Scott adjustment divides ``k`` and ``n`` by it). Where the binomial variance is 0 (``p`` of 0 or 1) the
    ratio is undefined and ``fallback`` is used (e.g. the mean cluster size: the worst case, all rows of a cluster
    alike). ``replicates`` is (n_boot, ...) and the others broadcast to its trailing shape."""
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    import warnings

    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a group with no defined replicate: NaN, handled below
        var_b = np.nanvar(np.asarray(replicates, dtype=float), axis=0)
        var_0 = p * (1.0 - p) / n
        deff = np.where(var_0 > 0, var_b / var_0, np.asarray(fallback, dtype=float))
    return np.where(np.isfinite(deff), np.maximum(deff, 1.0), 1.0)


def bootstrap_auroc_clustered(
    y: np.ndarray, score: np.ndarray, cluster: np.ndarray, n_boot: int, rng: np.random.Generator, *, batch: int = 200
) -> np.ndarray:
    """Cluster-bootstrap replicates of one group's AUROC: whole clusters (patients, coded ``0 … C−1``) are drawn with
    replacement and every row of a drawn cluster counts as often as its cluster was drawn. A replicate's AUROC is
    ``Σ_pos w_i (W_neg(< s_i) + ½ W_neg(= s_i)) / (W_pos · W_neg)`` from one cumulative sum of the negatives' weights,
    so a batch of resamples is one vectorised pass. NaN for a replicate that drew no positive or no negative."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=float)
    cluster = np.asarray(cluster, dtype=np.int64)
    if not y.any() or y.all() or n_boot <= 0:
        return np.full(max(n_boot, 0), np.nan)
    _, cluster = np.unique(cluster, return_inverse=True)
    n_clusters = int(cluster.max()) + 1
    order = np.argsort(s[~y], kind="stable")
    neg, neg_cl = s[~y][order], cluster[~y][order]
    pos, pos_cl = s[y], cluster[y]
    left = np.searchsorted(neg, pos, side="left")
    right = np.searchsorted(neg, pos, side="right")
    out = np.empty(n_boot)
    batch = batch_size(max(n_clusters, s.size), batch)
    for start in range(0, n_boot, batch):
        b = min(batch, n_boot - start)
        w = _resample_weights(n_clusters, b, rng)
        w_neg = w[:, neg_cl]
        cum = np.zeros((b, neg.size + 1), dtype=np.int64)
        np.cumsum(w_neg, axis=1, out=cum[:, 1:])
        w_pos = w[:, pos_cl]
        num = np.einsum("bi,bi->b", w_pos, cum[:, left] + cum[:, right]) / 2.0
        den = w_pos.sum(axis=1) * cum[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + b] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out
