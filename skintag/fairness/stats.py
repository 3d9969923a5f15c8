"""Statistics behind the fairness report, vectorised so the threshold slider stays live.

* :func:`wilson_interval` — the Wilson score interval for a binomial proportion (closed form, vectorised).
* :func:`bootstrap_cells` — resamples of per-group confusion counts. At a fixed threshold a row is fully described by
  its (label, prediction) cell, so resampling rows within a group with replacement is *exactly* a multinomial draw of the
  group's n rows over its four cell frequencies: one ``Generator.multinomial`` call per group gives all resamples.
* :func:`auroc_by_group` / :func:`bootstrap_auroc` — AUROC by the rank formula, and its bootstrap over resampling
  weights: with the negatives' scores sorted once, a resample's AUROC is
  ``Σ_i w_i · (W_neg(< s_i) + ½ W_neg(= s_i)) / (n_pos · n_neg)``, computed for a batch of resamples with one cumulative
  sum — no Python loop over resamples, no re-sorting.

scipy's ``binomtest(...).proportion_ci(method="wilson")`` gives the same Wilson interval but one proportion per call; a
report needs ~40 per threshold, hence the closed form here (the tests check it against scipy).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def z_value(ci: float) -> float:
    """Two-sided standard-normal quantile for a central interval of mass ``ci`` (1.95996… for 0.95)."""
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    return NormalDist().inv_cdf(0.5 + ci / 2.0)


def wilson_interval(k: np.ndarray | int, n: np.ndarray | int, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes in ``n`` trials (arrays broadcast); NaN where ``n == 0``.

    ``centre ± half`` with ``centre = (p + z²/2n) / (1 + z²/n)`` and
    ``half = z / (1 + z²/n) · sqrt(p(1−p)/n + z²/4n²)``.
    """
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
    return lo, hi


def bootstrap_cells(cells: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Resampled confusion counts, stratified by group.

    Parameters
    ----------
    cells
        (G, 4) integer counts per group: TP, FN, FP, TN.
    n_boot
        Number of resamples.
    rng
        The random generator (seeded by the caller).

    Returns
    -------
    np.ndarray
        (n_boot, G, 4) counts; each group keeps its size, as in row resampling within groups.
    """
    cells = np.asarray(cells, dtype=np.int64)
    out = np.zeros((n_boot, cells.shape[0], 4), dtype=np.int64)
    for g, row in enumerate(cells):  # a loop over groups (≤ a few dozen), never over resamples
        n = int(row.sum())
        if n > 0:
            out[:, g, :] = rng.multinomial(n, row / n, size=n_boot)
    return out


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


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank (Mann-Whitney) formula, ties counted ½; NaN when one class is absent."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    neg = np.sort(s[~y])
    pos = s[y]
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (n_pos * n_neg))


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
    for start in range(0, n_boot, batch):  # batches bound memory; each batch is fully vectorised
        b = min(batch, n_boot - start)
        w_neg = _resample_weights(n_neg, b, rng)
        cum = np.zeros((b, n_neg + 1), dtype=np.int64)
        np.cumsum(w_neg, axis=1, out=cum[:, 1:])
        credit2 = cum[:, left] + cum[:, right]  # twice (below + ½ tied), kept integral
        w_pos = _resample_weights(n_pos, b, rng)
        out[start : start + b] = np.einsum("bi,bi->b", w_pos, credit2) / (2.0 * n_pos * n_neg)
    return out


def percentile_interval(samples: np.ndarray, ci: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along ``axis``, ignoring NaN replicates (NaN when all are NaN)."""
    a = (1.0 - ci) / 2.0
    samples = np.asarray(samples, dtype=float)
    finite = np.isfinite(samples).any(axis=axis)
    safe = np.where(np.isfinite(samples).any(axis=axis, keepdims=True), samples, 0.0)
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanquantile(safe, [a, 1.0 - a], axis=axis)
    return np.where(finite, lo, np.nan), np.where(finite, hi, np.nan)
