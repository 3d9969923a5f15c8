"""Gap verdicts with a stated error rate: pairwise signed differences with Newcombe intervals, Bonferroni-simultaneous.

The method: for a rate (TPR or FPR) and the groups in the gap, every comparison the reference policy names is a signed
difference of two independent proportions — all pairs of groups for ``between_groups``, each group against the named
reference group, or each group against the overall rate (``r_g − r_all = (1 − w_g)(r_g − r_rest)`` with ``w_g`` the
group's share of the denominator, so it is the group against the other groups pooled, scaled). Each difference gets
Newcombe's hybrid score interval (:func:`skintag.stats.newcombe_interval`) at the Bonferroni level ``1 − α/m`` for
``m`` comparisons, so all ``m`` intervals hold together with probability ≥ ``1 − α``. Then, with tolerance ``δ``:

* **outside tolerance** when some interval lies wholly beyond ±δ — if no true gap exceeds δ this happens with
  probability ≤ α (family-wise), whatever the group sizes;
* **within tolerance** when every interval lies inside [−δ, δ] (an equivalence statement, as in two one-sided tests);
* **inconclusive** otherwise.

Equivalently, the simultaneous intervals give one interval for the largest true gap ``D = max |difference|``:
``[max(0, max(lo, −hi)), max(hi, −lo)]`` over the comparisons; outside ⇔ its lower end > δ, within ⇔ its upper end ≤ δ.
It always contains the max − min estimate. An inconclusive verdict comes with the cases per group that would decide it
at 80 % power (:func:`skintag.stats.two_proportion_sample_size` at the Bonferroni level).

The max − min point estimate (fairlearn's ``difference``) is kept as the headline; the percentile bootstrap of max − min
is not used for verdicts because the max − min of noisy rates is biased upward and its interval excludes 0 even when
all groups are alike. With patient clusters the counts entering the intervals are effective counts (Rao & Scott 1992:
``k`` and ``n`` divided by the design effect measured by resampling patients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from skintag import stats

WITHIN, OUTSIDE, INCONCLUSIVE, NOT_ASSESSABLE = "within tolerance", "outside tolerance", "inconclusive", "not assessable"
METHOD = (
    "pairwise signed differences between groups with Newcombe hybrid-score intervals, Bonferroni-simultaneous over "
    "the comparisons (family-wise error ≤ 1 − ci); outside tolerance when an interval lies wholly beyond the tolerance, "
    "within when all lie inside it, else inconclusive with the cases per group that would decide (80 % power)"
)
POWER = 0.8


@dataclass(frozen=True)
class GapTest:
    """The verdict of one gap and what it rests on."""

    verdict: str
    lo: float  # simultaneous interval of the largest true gap (max over comparisons of |difference|)
    hi: float
    n_comparisons: int
    n_needed: float  # cases per group (malignant for TPR, benign for FPR) that would decide an inconclusive verdict
    comparisons: pd.DataFrame  # one row per comparison: a, b, difference, lo, hi


def _pairs(use: np.ndarray, reference: str, ref_idx: int | None) -> list[tuple[int, int]]:
    idx = [int(i) for i in np.flatnonzero(use)]
    if reference == "overall":
        return [(i, -1) for i in idx]  # -1: the other groups pooled
    if ref_idx is not None:
        return [(i, ref_idx) for i in idx if i != ref_idx] if ref_idx in idx else []
    return [(a, b) for n, a in enumerate(idx) for b in idx[n + 1:]]


def gap_test(
    k: np.ndarray,
    n: np.ndarray,
    use: np.ndarray,
    names: tuple[str, ...],
    *,
    tolerance: float,
    ci: float = 0.95,
    reference: str = "between_groups",
    ref_idx: int | None = None,
) -> GapTest:
    """Verdict on one rate's gap from per-group (effective) counts ``k`` of ``n``; ``use`` marks the groups in it."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    pairs = _pairs(np.asarray(use, dtype=bool) & (n > 0), reference, ref_idx)
    empty = pd.DataFrame(columns=["a", "b", "difference", "lo", "hi"])
    if not pairs or (reference == "overall" and len(pairs) < 2):
        return GapTest(NOT_ASSESSABLE, float("nan"), float("nan"), 0, float("nan"), empty)
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    used = np.flatnonzero(np.asarray(use, dtype=bool) & (n > 0))
    if reference == "overall":
        k_all, n_all = k[used].sum(), n[used].sum()
        k2, n2 = k_all - k[a], n_all - n[a]
        scale = 1.0 - n[a] / n_all
    else:
        k2, n2 = k[b], n[b]
        scale = np.ones(a.size)
    m = a.size
    level = 1.0 - (1.0 - ci) / m
    lo, hi = stats.newcombe_interval(k[a], n[a], k2, n2, level)
    p1, p2 = k[a] / n[a], k2 / n2
    d = scale * (p1 - p2)
    lo, hi = scale * np.asarray(lo), scale * np.asarray(hi)
    outside = (lo > tolerance) | (hi < -tolerance)
    inside = (lo >= -tolerance) & (hi <= tolerance)
    verdict = OUTSIDE if outside.any() else WITHIN if inside.all() else INCONCLUSIVE
    # a simultaneous interval for the largest true gap D = max |difference|: every comparison's interval holds, so
    # D ≥ each comparison's distance from 0 that its interval proves, and D ≤ the largest |bound|
    big_lo = float(max(0.0, np.max(np.maximum(lo, -hi))))
    big_hi = float(np.max(np.maximum(hi, -lo)))
    n_needed = float("nan")
    if verdict == INCONCLUSIVE:
        alpha = (1.0 - ci) / m
        need = np.array([stats.two_proportion_sample_size(float(x), float(y), tolerance / float(s), alpha=alpha,
                                                          power=POWER) for x, y, s in zip(p1, p2, scale, strict=True)])
        beyond = np.abs(d) > tolerance
        n_needed = float(need[beyond].min()) if beyond.any() else float(need.max())
    table = pd.DataFrame({
        "a": [names[i] for i in a],
        "b": ["other groups" if x < 0 else names[x] for x in b],
        "difference": d, "lo": lo, "hi": hi,
    })
    return GapTest(verdict, big_lo, big_hi, m, n_needed, table)
