"""The fairness report: per-group rates with intervals, evidence flags, TPR/FPR gaps with verdicts that have a stated
error rate (:mod:`skintag.fairness.verdicts`), and the equalized-odds difference — shaped like fairlearn's
``MetricFrame`` and agreeing with it exactly.

:class:`FairnessAudit` does the threshold-independent work once (validation, grouping, NaN handling, per-group sorted
scores, AUROC and its bootstrap); :meth:`FairnessAudit.report` then answers a new threshold in milliseconds, because
a group's confusion counts at threshold ``t`` are ``searchsorted`` look-ups on its sorted positive and negative scores,
and the confusion counts are sufficient statistics for every rate, for the closed-form Wilson/Newcombe intervals and,
per patient, for the patient bootstrap of clustered data (see :mod:`skintag.stats`). fairlearn's ``MetricFrame`` computes the same numbers by splitting the rows per
metric and per group, which takes about a second on 50,000 rows and about as long per bootstrap resample — fine as the
reference in the tests, too slow behind a live slider. :func:`fairness_report` is the one-shot entry point.

A prediction is positive when ``score >= threshold`` (the same rule the model bundle's operating points use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from skintag import stats
from skintag.errors import ArgumentError, LabelError
from skintag.fairness.groups import UNKNOWN, Grouped, resolve_groups
from skintag.fairness.verdicts import INCONCLUSIVE, METHOD, NOT_ASSESSABLE, OUTSIDE, WITHIN, gap_test

__all__ = ["INCONCLUSIVE", "METHOD", "NOT_ASSESSABLE", "OUTSIDE", "WITHIN", "FairnessAudit", "FairnessReport",
           "fairness_report"]

RATES: tuple[str, ...] = ("tpr", "fpr", "tnr", "ppv", "npv")
RATE_NAMES = {
    "tpr": "Sensitivity (TPR)",
    "fpr": "False-positive rate (FPR)",
    "tnr": "Specificity (TNR)",
    "ppv": "PPV",
    "npv": "NPV",
    "auroc": "AUROC",
}
GAP_METRICS: tuple[str, ...] = ("tpr", "fpr")
REFERENCE_POLICIES: tuple[str, ...] = ("between_groups", "overall")
#: AUROC resamples touch every row (unlike the rate gaps, which resample four counts per group), so by default their
#: number is capped at this many row-resamples in total: 200 resamples at 50,000 rows, the full ``n_boot`` below 10,000.
AUROC_BOOT_BUDGET = 10_000_000
AUROC_MIN_BOOT = 200


#: ``progress(fraction done in [0, 1], words)``: how a long computation reports how far it is.
Progress = Callable[[float, str], None]


def default_auroc_n_boot(n_boot: int, n_rows: int) -> int:
    """AUROC resamples used when none are given: ``n_boot`` capped by :data:`AUROC_BOOT_BUDGET` (at least 200)."""
    if n_boot <= 0:
        return 0
    return int(min(n_boot, max(AUROC_MIN_BOOT, AUROC_BOOT_BUDGET // max(n_rows, 1))))


def _streams(random_state: int | None) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the gap bootstrap and the AUROC bootstrap, both derived from ``random_state``."""
    gap, auroc = np.random.SeedSequence(random_state).spawn(2)
    return np.random.default_rng(gap), np.random.default_rng(auroc)


def _as_labels(y_true: Sequence[Any] | np.ndarray | pd.Series) -> np.ndarray:
    y = pd.to_numeric(pd.Series(np.asarray(y_true, dtype=object)), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        rows = np.flatnonzero(bad)
        raw = np.asarray(y_true, dtype=object)
        shown = ", ".join(f"row {int(r)} ({raw[r]!r})" for r in rows[:5])
        raise LabelError(f"y_true must be 0 or 1 in every row; {rows.size} row(s) are not: {shown}")
    return y.astype(bool)


@dataclass(frozen=True, eq=False)
class FairnessReport:
    """A read-only fairness report at one threshold (build it with :func:`fairness_report` or
    :meth:`FairnessAudit.report`).

    The MetricFrame-like parts: :attr:`overall` (Series), :attr:`by_group` (DataFrame, one row per group, "unknown" its
    own row), :meth:`difference` / :meth:`ratio` (Series over the gap metrics "tpr" and "fpr") with
    :attr:`difference_ci` (simultaneous intervals of the largest true gap). Per rate ``r`` in TPR, FPR, TNR, PPV, NPV
    and AUROC, ``by_group`` has ``r``, ``r_lo``, ``r_hi`` (Wilson intervals for rates — on effective counts when
    patients are resampled — bootstrap for AUROC), the confusion counts, ``ece``; undefined values are NaN and
    ``notes`` says why. ``<m>_insufficient`` (TPR, FPR, AUROC, PPV, NPV, ECE) flag numbers from fewer than the minimum
    cases (a flagged AUROC has no interval); ``in_tpr_gap`` / ``in_fpr_gap`` say which groups the gaps use.
    :attr:`gaps` holds difference (max − min), its interval, ratio, the tolerance, the verdict, the number of
    comparisons and ``n_needed`` per gap; :attr:`comparisons` the pairwise intervals. Every DataFrame/Series attribute
    returns a copy.
    """

    threshold: float
    grouping: str | None
    grouping_title: str
    reference: str
    ci: float
    n_boot: int
    auroc_n_boot: int
    min_positives: int
    min_negatives: int
    include_flagged: bool
    random_state: int | None
    n_rows: int
    n_dropped: int
    equalized_odds_difference: float
    equalized_odds_ci: tuple[float, float]
    warnings: tuple[str, ...]
    _by_group: pd.DataFrame = field(repr=False)
    _overall: pd.Series = field(repr=False)
    _gaps: pd.DataFrame = field(repr=False)
    _audit: FairnessAudit = field(repr=False)
    _comparisons: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    thresholds_by_domain: dict[str, float] | None = None
    rule: str = ""
    clustered: bool = False
    n_clusters: int = 0
    #: provenance, settings, intersections, mitigation and the attribute grid attached by :meth:`with_context`
    context: Mapping[str, Any] = field(default_factory=dict, repr=False)
    method: str = METHOD

    def with_context(self, **context: Any) -> FairnessReport:
        """A copy carrying more context for the exports: ``provenance`` (see
        :func:`skintag.fairness.provenance.provenance`), ``settings`` (page-level settings such as cohort filters),
        ``intersections`` (name → :class:`FairnessReport`), ``mitigation`` (a ``MitigationResult``) and
        ``attributes`` (the grid of :func:`skintag.fairness.multi.audit_attributes`)."""
        return replace(self, context={**self.context, **context})

    @property
    def comparisons(self) -> pd.DataFrame:
        """The pairwise comparisons behind the verdicts: metric, a, b, signed difference and its simultaneous
        interval."""
        return self._comparisons.copy()

    # --- MetricFrame-shaped accessors -----------------------------------------------------------------------------
    @property
    def by_group(self) -> pd.DataFrame:
        return self._by_group.copy()

    @property
    def overall(self) -> pd.Series:
        return self._overall.copy()

    @property
    def gaps(self) -> pd.DataFrame:
        return self._gaps.copy()

    def difference(self) -> pd.Series:
        """TPR and FPR gap (max − min between the included groups, or to the reference) as a Series."""
        return self._gaps["difference"].copy()

    def ratio(self) -> pd.Series:
        """TPR and FPR ratio (min / max, or the smallest ratio to the reference) as a Series."""
        return self._gaps["ratio"].copy()

    @property
    def difference_ci(self) -> pd.DataFrame:
        return self._gaps[["difference_lo", "difference_hi"]].rename(columns=lambda c: c.split("_")[1]).copy()

    @property
    def by_group_ci(self) -> dict[str, pd.DataFrame]:
        """Per rate, a DataFrame (index = group) with columns ``lo`` and ``hi``."""
        return {
            m: self._by_group[[f"{m}_lo", f"{m}_hi"]].set_axis(["lo", "hi"], axis=1).copy()
            for m in (*RATES, "auroc")
        }

    @property
    def n_needed(self) -> dict[str, float]:
        """Per gap, the cases per group that would decide an inconclusive verdict (NaN when decided)."""
        return {str(k): float(v) for k, v in self._gaps["n_needed"].items()}

    @property
    def verdicts(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._gaps["verdict"].items()}

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(str(g) for g in self._by_group.index)

    @property
    def audit(self) -> FairnessAudit:
        """The precomputed audit this report came from (for curves at other thresholds)."""
        return self._audit

    # --- curves ---------------------------------------------------------------------------------------------------
    def roc_curves(self) -> dict[str, pd.DataFrame]:
        """Per-group ROC curves (columns fpr, tpr, threshold); groups with one class only are absent."""
        return self._audit.roc_curves()

    def operating_points(self) -> pd.DataFrame:
        """(fpr, tpr) of every group at this report's threshold."""
        return self._by_group[["fpr", "tpr"]].copy()

    def calibration(self, n_bins: int = stats.ECE_BINS) -> tuple[pd.DataFrame, pd.Series]:
        """Reliability table by group and ECE per group (see :meth:`FairnessAudit.calibration`)."""
        return self._audit.calibration(n_bins=n_bins, ci=self.ci)

    def threshold_sweep(self, thresholds: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
        """TPR/FPR per group and the gaps over a grid of thresholds (see :meth:`FairnessAudit.threshold_sweep`)."""
        return self._audit.threshold_sweep(
            thresholds, min_positives=self.min_positives, min_negatives=self.min_negatives,
            include_flagged=self.include_flagged,
        )

    # --- exports --------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from skintag.fairness.export import report_to_dict

        return report_to_dict(self)

    def to_json(self, path: str | None = None) -> str:
        from skintag.fairness.export import report_to_json

        return report_to_json(self, path)

    def to_csv(self, path: str | None = None) -> str:
        from skintag.fairness.export import report_to_csv

        return report_to_csv(self, path)

    def to_markdown(self, path: str | None = None) -> str:
        from skintag.fairness.export import report_to_markdown

        return report_to_markdown(self, path)


class FairnessAudit:
    """Threshold-independent precomputation for fast fairness reports at any threshold.

    Parameters
    ----------
    y_true
        0/1 labels (1 = malignant). Anything else raises :class:`LabelError` naming the rows.
    y_score
        Scores (e.g. calibrated P(malignant)); rows with a NaN score are dropped and counted in the warnings.
    groups
        One group column, a DataFrame of one or two columns (two = intersection), or a :class:`Grouped`.
    grouping
        "six", "three" or "binary" to parse a Fitzpatrick column, ``None`` to use the column as is; for two columns a
        single value applies to the first column, or pass a tuple.
    """

    def __init__(
        self,
        y_true: Sequence[Any] | np.ndarray | pd.Series,
        y_score: Sequence[float] | np.ndarray | pd.Series,
        groups: Sequence[Any] | np.ndarray | pd.Series | pd.DataFrame | Grouped,
        *,
        grouping: str | None | tuple[str | None, str | None] = "six",
        clusters: Sequence[Any] | np.ndarray | pd.Series | None = None,
        domains: Sequence[Any] | np.ndarray | pd.Series | None = None,
    ) -> None:
        score = pd.to_numeric(pd.Series(np.asarray(y_score, dtype=object)), errors="coerce").to_numpy(dtype=float)
        y = _as_labels(y_true)
        grouped = resolve_groups(groups, grouping)
        if not (len(y) == len(score) == len(grouped.labels)):
            raise ArgumentError(
                f"y_true, y_score and groups must have the same length; got {len(y)}, {len(score)}, {len(grouped.labels)}"
            )
        if len(y) == 0:
            raise LabelError("No rows to audit: y_true is empty")
        warnings = list(grouped.warnings)
        if np.isinf(score).any():
            raise LabelError(f"y_score holds infinite values in rows {np.flatnonzero(np.isinf(score))[:5].tolist()}")
        nan = np.isnan(score)
        self.n_dropped = int(nan.sum())
        if self.n_dropped:
            rows = np.flatnonzero(nan)
            warnings.append(
                f"{self.n_dropped} row(s) with a missing score were left out (first rows: {rows[:5].tolist()})."
            )
        keep = ~nan
        if not keep.any():
            raise LabelError("Every y_score is missing (NaN); nothing to audit")
        self.rows = np.flatnonzero(keep)  # positions in the caller's rows, for drill-down
        self.y = y[keep]
        self.score = score[keep]
        self.labels = grouped.labels[keep]
        for name, arr in (("clusters", clusters), ("domains", domains)):
            if arr is not None and len(arr) != len(y):
                raise ArgumentError(f"{name} must have one value per row ({len(y)}), got {len(arr)}")
        self.domains = None if domains is None else np.asarray(domains, dtype=object)[keep].astype(str)
        self.grouping = grouping if isinstance(grouping, str) or grouping is None else "/".join(map(str, grouping))
        self.grouping_title = grouped.title
        self.group_names: tuple[str, ...] = tuple(g for g in grouped.order if g in set(self.labels.tolist()))
        self.parts = None
        if grouped.parts is not None:
            lookup = dict(zip(grouped.order, grouped.parts, strict=True))
            self.parts = tuple(lookup[g] for g in self.group_names)
        self.warnings = tuple(warnings)
        first = grouping[0] if isinstance(grouping, tuple) else grouping
        skin = first in ("six", "three", "binary")
        #: groups left out of the gaps by default: unknown skin type (alone or as an intersection's first part)
        self.unknown_skin = np.array(
            [skin and (g == UNKNOWN if self.parts is None else self.parts[i][0] == UNKNOWN)
             for i, g in enumerate(self.group_names)], dtype=bool,
        )
        index = {g: i for i, g in enumerate(self.group_names)}
        self.codes = pd.Categorical(self.labels, categories=list(index)).codes.astype(np.int64)
        self._pos: list[np.ndarray] = []
        self._neg: list[np.ndarray] = []
        for g in range(len(self.group_names)):
            m = self.codes == g
            self._pos.append(np.sort(self.score[m & self.y]))
            self._neg.append(np.sort(self.score[m & ~self.y]))
        self._pos_all = np.sort(self.score[self.y])
        self._neg_all = np.sort(self.score[~self.y])
        self.n = np.bincount(self.codes, minlength=len(self.group_names))
        self.positives = np.array([p.size for p in self._pos])
        self.negatives = np.array([q.size for q in self._neg])
        self.auroc = np.array([stats.auroc_sorted(p, q) for p, q in zip(self._pos, self._neg, strict=True)])
        self.auroc_overall = stats.auroc_sorted(self._pos_all, self._neg_all)
        self.ece = np.array([stats.expected_calibration_error(self.y[self.codes == g], self.score[self.codes == g])
                             for g in range(len(self.group_names))])
        self._set_clusters(None if clusters is None else np.asarray(clusters, dtype=object)[keep])
        self._auroc_boot: dict[tuple[int, int | None], np.ndarray] = {}
        self._roc: dict[str, pd.DataFrame] | None = None

    def _set_clusters(self, clusters: np.ndarray | None) -> None:
        """Units for the patient bootstrap: one per (group, patient); a missing id is its own patient."""
        G = len(self.group_names)
        self._unit: np.ndarray | None = None
        self._unit_group = np.zeros(0, dtype=np.int64)
        self.n_clusters = 0
        self.clusters_per_group = np.zeros(G, dtype=np.int64)
        self.mean_cluster_size = np.ones(G)
        if clusters is None:
            return
        ids = pd.Series(clusters, dtype=object)
        missing = (ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy()
        key = ids.astype(str).where(~missing, "\x00row" + pd.Series(np.arange(ids.size)).astype(str))
        patient, _ = pd.factorize(key)
        unit, _ = pd.factorize(pd.Series(self.codes.astype(str)) + "\x1f" + key)
        self._patient = patient.astype(np.int64)
        self._unit = unit.astype(np.int64)
        first = np.zeros(unit.max() + 1, dtype=np.int64)
        first[unit] = self.codes
        self._unit_group = first
        self.clusters_per_group = np.bincount(first, minlength=G)
        self.n_clusters = int(patient.max()) + 1
        with np.errstate(divide="ignore", invalid="ignore"):
            self.mean_cluster_size = np.where(self.clusters_per_group > 0, self.n / self.clusters_per_group, 1.0)

    def rows_of(self, group: str) -> np.ndarray:
        """Positions (in the rows given to the audit) of the rows of ``group``."""
        if group not in self.group_names:
            raise ArgumentError(f"Unknown group {group!r}; groups: {list(self.group_names)}")
        return self.rows[self.codes == self.group_names.index(group)]

    def threshold_for_sensitivity(self, target: float) -> float:
        """The highest threshold at which the overall sensitivity is at least ``target`` (a positive's score)."""
        if not 0.0 < target <= 1.0:
            raise ArgumentError(f"target sensitivity must be in (0, 1], got {target}")
        pos = self._pos_all
        if pos.size == 0:
            raise ArgumentError("No malignant cases: no threshold reaches a sensitivity")
        return stats.sensitivity_threshold(pos, target)

    def _excluded(self, exclude_from_gaps: Sequence[str] | None) -> np.ndarray:
        if exclude_from_gaps is None:
            return self.unknown_skin.copy()
        return np.array([g in set(exclude_from_gaps) for g in self.group_names], dtype=bool)

    # --- counts ---------------------------------------------------------------------------------------------------
    def cells(self, threshold: float) -> np.ndarray:
        """(G, 4) TP, FN, FP, TN per group at ``threshold`` (positive when ``score >= threshold``)."""
        out = np.empty((len(self.group_names), 4), dtype=np.int64)
        for g, (p, q) in enumerate(zip(self._pos, self._neg, strict=True)):
            fn = np.searchsorted(p, threshold, side="left")
            tn = np.searchsorted(q, threshold, side="left")
            out[g] = (p.size - fn, fn, q.size - tn, tn)
        return out

    def cells_grid(self, thresholds: np.ndarray) -> np.ndarray:
        """(T, G, 4) counts for many thresholds at once."""
        t = np.asarray(thresholds, dtype=float)
        out = np.empty((t.size, len(self.group_names), 4), dtype=np.int64)
        for g, (p, q) in enumerate(zip(self._pos, self._neg, strict=True)):
            fn = np.searchsorted(p, t, side="left")
            tn = np.searchsorted(q, t, side="left")
            out[:, g] = np.stack([p.size - fn, fn, q.size - tn, tn], axis=1)
        return out

    def auroc_bootstrap(self, n_boot: int, random_state: int | None, progress: Progress | None = None) -> np.ndarray:
        """(n_boot, G + 1) AUROC replicates per group and overall (last column); computed once per (n_boot, random_state).

        Each group's resamples run in batches of at most :data:`skintag.stats.BATCH_CELLS` resample-rows, so a
        million-row audit stays within a few hundred MB; ``progress(fraction, words)`` is called after each group (the
        groups' share of the work is their share of the rows)."""
        key = (int(n_boot), random_state)
        if key not in self._auroc_boot:  # with random_state None: drawn once per audit, then reused
            rng = _streams(random_state)[1]
            cols = []
            total, done = 2 * max(int(self.y.size), 1), 0
            for g in range(len(self.group_names)):
                m = self.codes == g
                cols.append(self._auroc_reps(m, n_boot, rng))
                done += int(self.n[g])
                if progress is not None:
                    progress(done / total, f"AUROC intervals: group {g + 1} of {len(self.group_names)}")
            cols.append(self._auroc_reps(np.ones(self.y.size, dtype=bool), n_boot, rng))
            if progress is not None:
                progress(1.0, "AUROC intervals: all rows")
            self._auroc_boot[key] = np.stack(cols, axis=1)
        return self._auroc_boot[key]

    def _auroc_reps(self, m: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        if self._unit is None:  # rows resampled, positives and negatives separately
            return stats.bootstrap_auroc(self.y[m], self.score[m], n_boot, rng)
        return stats.bootstrap_auroc_clustered(self.y[m], self.score[m], self._patient[m], n_boot, rng)

    # --- the report -----------------------------------------------------------------------------------------------
    def _thresholds(self, threshold: float | Mapping[str, float]) -> tuple[float | np.ndarray, float, dict | None]:
        """(per-row thresholds or one number, the number shown, per-domain thresholds or None)."""
        if isinstance(threshold, Mapping):
            rule = {str(k): float(v) for k, v in threshold.items()}
            if any(not np.isfinite(v) for v in rule.values()):
                raise ArgumentError(f"thresholds must be finite numbers, got {rule}")
            if self.domains is None and set(rule) != {"*"}:
                raise ArgumentError("Per-domain thresholds need the audit's domain of every row (domains=...)")
            dom = self.domains if self.domains is not None else np.full(self.y.size, "*", dtype=object)
            per_row = np.array([rule.get(str(d), rule.get("*", np.nan)) for d in dom], dtype=float)
            if np.isnan(per_row).any():
                missing = sorted({str(d) for d, t in zip(dom, per_row, strict=True) if np.isnan(t)})
                raise ArgumentError(f"No threshold for the domain(s) {missing}; the rule covers {sorted(rule)}")
            values = set(per_row.tolist())
            shown = float(per_row[0]) if len(values) == 1 else float("nan")
            return (shown if len(values) == 1 else per_row), shown, rule
        t = float(threshold)
        if not np.isfinite(t):
            raise ArgumentError(f"threshold must be a finite number, got {threshold!r}")
        return t, t, None

    def _cells_at(self, thr: float | np.ndarray) -> np.ndarray:
        if np.ndim(thr) == 0:
            return self.cells(float(thr))
        cell = np.where(self.y, 0, 2) + (self.score < thr)
        return np.bincount(self.codes * 4 + cell, minlength=len(self.group_names) * 4).reshape(-1, 4)

    def _unit_cells(self, thr: float | np.ndarray) -> np.ndarray:
        """(U, 4) confusion counts of each (group, patient) unit."""
        cell = np.where(self.y, 0, 2) + (self.score < thr)
        return np.bincount(self._unit * 4 + cell, minlength=self._unit_group.size * 4).reshape(-1, 4)

    def _design_effects(self, thr: float | np.ndarray, cells: np.ndarray, n_boot: int,
                        random_state: int | None) -> dict[str, np.ndarray]:
        """Per rate, the design effect of each group from resampling patients within groups (1 without clusters)."""
        G = len(self.group_names)
        if self._unit is None or n_boot <= 0:
            return {r: np.ones(G) for r in RATES}
        rng = _streams(random_state)[0]
        boot = stats.bootstrap_cluster_cells(self._unit_cells(thr), self._unit_group, G, n_boot, rng)
        rates_b = stats.rates_from_cells(boot)
        rates = stats.rates_from_cells(cells)
        out = {}
        for r in RATES:
            _, n = _counts(cells, r)
            out[r] = stats.design_effect(rates_b[r], rates[r], n, self.mean_cluster_size)
        return out

    def report(
        self,
        threshold: float | Mapping[str, float],
        *,
        min_positives: int = 5,
        min_negatives: int = 5,
        n_boot: int = 1000,
        auroc_n_boot: int | None = None,
        ci: float = 0.95,
        tolerance: float | Mapping[str, float] = 0.05,
        include_flagged: bool = False,
        reference: str = "between_groups",
        exclude_from_gaps: Sequence[str] | None = None,
        random_state: int | None = None,
        rule: str | None = None,
        progress: Progress | None = None,
    ) -> FairnessReport:
        """The fairness report at ``threshold``; see :func:`fairness_report` for the parameters."""
        thr, shown, by_domain = self._thresholds(threshold)
        tol = _tolerances(tolerance)
        if reference not in REFERENCE_POLICIES and reference not in self.group_names:
            raise ArgumentError(
                f"Unknown reference {reference!r}; expected one of {REFERENCE_POLICIES} or a group name "
                f"{list(self.group_names)}"
            )
        names = self.group_names
        G = len(names)
        cells = self._cells_at(thr)
        rates = stats.rates_from_cells(cells)
        total = cells.sum(axis=0)
        overall_rates = stats.rates_from_cells(total)
        tpr_flag = self.positives < min_positives
        fpr_flag = self.negatives < min_negatives
        flags = {
            "tpr": tpr_flag, "fpr": fpr_flag, "tnr": fpr_flag, "auroc": tpr_flag | fpr_flag,
            "ppv": tpr_flag | fpr_flag | (cells[:, 0] + cells[:, 2] < min_positives),
            "npv": tpr_flag | fpr_flag | (cells[:, 3] + cells[:, 1] < min_negatives),
            "ece": tpr_flag | fpr_flag,
        }
        excluded = self._excluded(exclude_from_gaps)
        deff = self._design_effects(thr, cells, n_boot, random_state)

        # per-group table
        table: dict[str, Any] = {
            "n": self.n, "positives": self.positives, "negatives": self.negatives,
            "tp": cells[:, 0], "fn": cells[:, 1], "fp": cells[:, 2], "tn": cells[:, 3],
        }
        overall: dict[str, Any] = {
            "n": int(self.n.sum()), "positives": int(self.positives.sum()), "negatives": int(self.negatives.sum()),
            "tp": int(total[0]), "fn": int(total[1]), "fp": int(total[2]), "tn": int(total[3]),
        }
        effective: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for r in RATES:
            k, n = _counts(cells, r)
            effective[r] = (k / deff[r], n / deff[r])
            lo, hi = stats.wilson_interval(*effective[r], ci)
            table[r], table[f"{r}_lo"], table[f"{r}_hi"] = rates[r], lo, hi
            k_all, n_all = effective[r][0].sum(), effective[r][1].sum()
            olo, ohi = stats.wilson_interval(k_all, n_all, ci)
            overall[r], overall[f"{r}_lo"], overall[f"{r}_hi"] = float(overall_rates[r]), float(olo), float(ohi)
        a_boot = auroc_n_boot if auroc_n_boot is not None else default_auroc_n_boot(n_boot, int(self.y.size))
        if a_boot > 0:
            boot = self.auroc_bootstrap(a_boot, random_state, progress)
            alo, ahi = stats.percentile_interval(boot, ci, axis=0)
        else:
            alo = ahi = np.full(G + 1, np.nan)
        # an AUROC from fewer than the minimum cases is flagged and gets no interval (never "1.000 (1.000–1.000)")
        table["auroc"] = self.auroc
        table["auroc_lo"] = np.where(flags["auroc"], np.nan, alo[:G])
        table["auroc_hi"] = np.where(flags["auroc"], np.nan, ahi[:G])
        enough = self.positives.sum() >= min_positives and self.negatives.sum() >= min_negatives
        overall["auroc"] = self.auroc_overall
        overall["auroc_lo"], overall["auroc_hi"] = (float(alo[G]), float(ahi[G])) if enough else (np.nan, np.nan)
        table["ece"] = self.ece
        for m in ("tpr", "fpr", "auroc", "ppv", "npv", "ece"):
            table[f"{m}_insufficient"] = flags[m]
        in_gap = {
            "tpr": ~excluded & (include_flagged | ~tpr_flag) & np.isfinite(rates["tpr"]),
            "fpr": ~excluded & (include_flagged | ~fpr_flag) & np.isfinite(rates["fpr"]),
        }
        table["in_tpr_gap"] = in_gap["tpr"]
        table["in_fpr_gap"] = in_gap["fpr"]
        table["notes"] = [
            _notes(cells[g], self.positives[g], self.negatives[g], min_positives, min_negatives, names[g] == UNKNOWN)
            for g in range(G)
        ]
        if self._unit is not None:
            table["patients"] = self.clusters_per_group
        by_group = pd.DataFrame(table, index=pd.Index(list(names), name="group"))
        if self.parts is not None:
            by_group.insert(0, "group_b", [p[1] for p in self.parts])
            by_group.insert(0, "group_a", [p[0] for p in self.parts])

        # gaps: max − min point estimates (fairlearn's), verdicts from simultaneous pairwise intervals
        ref_idx = names.index(reference) if reference in names else None
        gap_rows = {}
        comparisons = []
        warnings = list(self.warnings)
        for m in GAP_METRICS:
            use = in_gap[m].copy()
            if ref_idx is not None:
                use[ref_idx] = np.isfinite(rates[m][ref_idx])
            sub_ref = None if ref_idx is None else int(use[:ref_idx].sum())
            point_overall = None if reference != "overall" else np.asarray(overall_rates[m])
            diff, ratio = stats.gap_stats(rates[m][use], point_overall, sub_ref)
            test = gap_test(*effective[m], use, names, tolerance=tol[m], ci=ci,
                            reference="overall" if reference == "overall" else "between_groups",
                            ref_idx=ref_idx)
            if test.comparisons.size:
                comparisons.append(test.comparisons.assign(metric=m))
            used = [names[g] for g in np.flatnonzero(use)]
            left_out = [names[g] for g in np.flatnonzero(~use)]
            gap_rows[m] = {
                "difference": float(diff), "difference_lo": test.lo, "difference_hi": test.hi,
                "ratio": float(ratio), "tolerance": tol[m], "verdict": test.verdict,
                "n_needed": test.n_needed, "comparisons": test.n_comparisons,
                "groups_used": ", ".join(used), "groups_left_out": ", ".join(left_out),
            }
            if test.verdict == NOT_ASSESSABLE:
                warnings.append(
                    f"The {m.upper()} gap cannot be assessed: fewer than two groups have enough "
                    f"{'positives' if m == 'tpr' else 'negatives'} (≥ {min_positives if m == 'tpr' else min_negatives})."
                )
            elif test.verdict == INCONCLUSIVE and np.isfinite(test.n_needed):
                warnings.append(
                    f"The {m.upper()} gap is inconclusive: the evidence cannot tell whether it is within "
                    f"{tol[m]:.2f}. About {int(test.n_needed):,} {'malignant' if m == 'tpr' else 'benign'} cases per "
                    "group would decide it (80 % power)."
                )
        gaps = pd.DataFrame.from_dict(gap_rows, orient="index")
        gaps.index.name = "metric"
        diffs = np.array([gap_rows[m]["difference"] for m in GAP_METRICS])
        if np.isfinite(diffs).any():
            worst = GAP_METRICS[int(np.nanargmax(diffs))]
            eod = float(np.nanmax(diffs))
            eod_ci = (gap_rows[worst]["difference_lo"], gap_rows[worst]["difference_hi"])
        else:
            eod, eod_ci = float("nan"), (float("nan"), float("nan"))
        warnings.extend(_small_group_sentences(by_group, min_positives, min_negatives, include_flagged))
        comp = (pd.concat(comparisons, ignore_index=True)[["metric", "a", "b", "difference", "lo", "hi"]]
                if comparisons else pd.DataFrame(columns=["metric", "a", "b", "difference", "lo", "hi"]))
        return FairnessReport(
            threshold=shown, grouping=self.grouping, grouping_title=self.grouping_title, reference=reference,
            ci=ci, n_boot=int(n_boot), auroc_n_boot=int(a_boot), min_positives=int(min_positives),
            min_negatives=int(min_negatives), include_flagged=bool(include_flagged), random_state=random_state,
            n_rows=int(self.y.size), n_dropped=self.n_dropped, equalized_odds_difference=eod,
            equalized_odds_ci=(float(eod_ci[0]), float(eod_ci[1])), warnings=tuple(warnings), _by_group=by_group,
            _overall=pd.Series(overall, name="overall", dtype=object), _gaps=gaps, _audit=self,
            _comparisons=comp, thresholds_by_domain=by_domain, rule=rule or _rule_words(shown, by_domain),
            clustered=self._unit is not None, n_clusters=self.n_clusters,
        )

    # --- threshold-independent views -------------------------------------------------------------------------------
    def roc_curves(self) -> dict[str, pd.DataFrame]:
        """ROC curve per group (scikit-learn's ``roc_curve``); groups with a single class are left out. Cached."""
        from sklearn.metrics import roc_curve

        if self._roc is not None:
            return {g: c.copy() for g, c in self._roc.items()}
        out = {}
        for g, name in enumerate(self.group_names):
            m = self.codes == g
            if self.positives[g] and self.negatives[g]:
                fpr, tpr, thr = roc_curve(self.y[m], self.score[m])
                out[name] = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})
        self._roc = out
        return {g: c.copy() for g, c in out.items()}

    def calibration(self, n_bins: int = stats.ECE_BINS, ci: float = 0.95) -> tuple[pd.DataFrame, pd.Series]:
        """Reliability curve by group over ``n_bins`` equal-width bins of the score in [0, 1].

        Returns
        -------
        table : rows (group, bin) with n, mean_score, observed (fraction malignant) and its Wilson interval;
            empty bins are left out.
        ece : Series, expected calibration error per group (:func:`skintag.stats.expected_calibration_error`).
        """
        b = stats.calibration_bins(self.score, n_bins)
        G = len(self.group_names)
        key = self.codes * n_bins + b
        cnt = np.bincount(key, minlength=G * n_bins).reshape(G, n_bins)
        s_sum = np.bincount(key, weights=self.score, minlength=G * n_bins).reshape(G, n_bins)
        y_sum = np.bincount(key, weights=self.y.astype(float), minlength=G * n_bins).reshape(G, n_bins)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_s = s_sum / cnt
            obs = y_sum / cnt
        lo, hi = stats.wilson_interval(y_sum, cnt, ci)
        gi, bi = np.nonzero(cnt)
        table = pd.DataFrame({
            "group": np.asarray(self.group_names, dtype=object)[gi], "bin": bi,
            "bin_lo": bi / n_bins, "bin_hi": (bi + 1) / n_bins, "n": cnt[gi, bi],
            "mean_score": mean_s[gi, bi], "observed": obs[gi, bi], "observed_lo": lo[gi, bi], "observed_hi": hi[gi, bi],
        })
        ece = [stats.expected_calibration_error(self.y[self.codes == g], self.score[self.codes == g], n_bins)
               for g in range(G)]
        return table, pd.Series(ece, index=pd.Index(self.group_names, name="group"), name="ece")

    def threshold_sweep(
        self,
        thresholds: Sequence[float] | np.ndarray | None = None,
        *,
        min_positives: int = 5,
        min_negatives: int = 5,
        include_flagged: bool = False,
        exclude_from_gaps: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """TPR and FPR per group (wide: ``tpr[<group>]``, ``fpr[<group>]``) plus the between-group gaps and the
        equalized-odds difference, for each threshold of a grid (default 0.05 … 0.95 by 0.05)."""
        t = np.round(np.arange(0.05, 0.951, 0.05), 4) if thresholds is None else np.asarray(thresholds, dtype=float)
        rates = stats.rates_from_cells(self.cells_grid(t))
        keep = ~self._excluded(exclude_from_gaps)
        out: dict[str, Any] = {"threshold": t}
        for m, flag in (("tpr", self.positives < min_positives), ("fpr", self.negatives < min_negatives)):
            for g, name in enumerate(self.group_names):
                out[f"{m}[{name}]"] = rates[m][:, g]
            use = keep & (include_flagged | ~flag)
            out[f"{m}_gap"] = stats.gap_stats(rates[m][:, use], None, None)[0]
        out["equalized_odds_difference"] = np.fmax(out["tpr_gap"], out["fpr_gap"])
        return pd.DataFrame(out)


def _tolerances(tolerance: float | Mapping[str, float]) -> dict[str, float]:
    if isinstance(tolerance, Mapping):
        unknown = set(tolerance) - set(GAP_METRICS)
        if unknown:
            raise ArgumentError(f"tolerance keys must be among {GAP_METRICS}, got {sorted(unknown)}")
        tol = {m: float(tolerance.get(m, 0.05)) for m in GAP_METRICS}
    else:
        tol = {m: float(tolerance) for m in GAP_METRICS}
    for m, v in tol.items():
        if not 0.0 <= v <= 1.0:
            raise ArgumentError(f"tolerance for {m} must be in [0, 1], got {v}")
    return tol


def _counts(cells: np.ndarray, rate: str) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator counts of a rate from (..., 4) TP/FN/FP/TN."""
    tp, fn, fp, tn = (cells[..., i] for i in range(4))
    return {"tpr": (tp, tp + fn), "fpr": (fp, fp + tn), "tnr": (tn, fp + tn), "ppv": (tp, tp + fp),
            "npv": (tn, tn + fn)}[rate]


def _rule_words(threshold: float, by_domain: Mapping[str, float] | None) -> str:
    if by_domain and len(set(by_domain.values())) > 1:
        return "malignant when score ≥ the threshold of the row's domain: " + ", ".join(
            f"{d} {t:.4f}" for d, t in by_domain.items())
    return f"malignant when score ≥ {threshold:.4f}"


def _notes(cells: np.ndarray, pos: int, neg: int, min_pos: int, min_neg: int, unknown: bool) -> str:
    tp, fn, fp, tn = (int(x) for x in cells)
    notes = []
    if pos == 0:
        notes.append("TPR undefined: no malignant cases")
    elif pos < min_pos:
        notes.append(f"TPR: insufficient evidence ({pos} malignant < {min_pos})")
    if neg == 0:
        notes.append("FPR/TNR undefined: no benign cases")
    elif neg < min_neg:
        notes.append(f"FPR: insufficient evidence ({neg} benign < {min_neg})")
    if tp + fp == 0:
        notes.append("PPV undefined: no positive predictions")
    if tn + fn == 0:
        notes.append("NPV undefined: no negative predictions")
    if pos == 0 or neg == 0:
        notes.append("AUROC undefined: one class only")
    if unknown:
        notes.append("skin type not recorded")
    return "; ".join(notes)


def _small_group_sentences(by_group: pd.DataFrame, min_pos: int, min_neg: int, include_flagged: bool) -> list[str]:
    out = []
    action = "kept in the gaps because flagged groups were included" if include_flagged else "left out of the gap"
    for name, row in by_group.iterrows():
        if row["tpr_insufficient"]:
            out.append(
                f"Group {name} has only {int(row['positives'])} malignant case(s) (fewer than {min_pos}): its "
                f"sensitivity is insufficient evidence and is {action}."
            )
        if row["fpr_insufficient"]:
            out.append(
                f"Group {name} has only {int(row['negatives'])} benign case(s) (fewer than {min_neg}): its "
                f"false-positive rate is insufficient evidence and is {action}."
            )
    return out


def fairness_report(
    y_true: Sequence[Any] | np.ndarray | pd.Series,
    y_score: Sequence[float] | np.ndarray | pd.Series,
    groups: Sequence[Any] | np.ndarray | pd.Series | pd.DataFrame | Grouped,
    *,
    threshold: float | Mapping[str, float],
    grouping: str | None | tuple[str | None, str | None] = "six",
    clusters: Sequence[Any] | np.ndarray | pd.Series | None = None,
    domains: Sequence[Any] | np.ndarray | pd.Series | None = None,
    rule: str | None = None,
    min_positives: int = 5,
    min_negatives: int = 5,
    n_boot: int = 1000,
    auroc_n_boot: int | None = None,
    ci: float = 0.95,
    tolerance: float | Mapping[str, float] = 0.05,
    include_flagged: bool = False,
    reference: str = "between_groups",
    exclude_from_gaps: Sequence[str] | None = None,
    random_state: int | None = None,
    progress: Progress | None = None,
) -> FairnessReport:
    """Fairness of a binary score across groups at one threshold.

    Parameters
    ----------
    y_true, y_score, groups, grouping
        See :class:`FairnessAudit`.
    threshold
        A row is predicted malignant when ``y_score >= threshold``; a mapping ``{domain: threshold}`` applies each
        row's domain's threshold (``domains`` gives the rows' domains; the key ``"*"`` covers any other domain).
    clusters
        Optional patient (cluster) id per row. With it, every interval resamples patients within groups: rates and
        gap comparisons use Wilson/Newcombe intervals on effective counts (Rao-Scott: counts divided by the design
        effect that ``n_boot`` patient resamples measure), AUROC a patient bootstrap. Without it rows are
        independent.
    domains
        Optional domain per row, for a per-domain ``threshold``.
    rule
        Words for the decision rule (e.g. "triage refers: MODERATE or above"); default: the threshold in words.
    min_positives, min_negatives
        A group with fewer malignant (benign) cases has its TPR (FPR) flagged as insufficient evidence and left out of
        the TPR (FPR) gap unless ``include_flagged``; its AUROC, PPV, NPV and ECE are flagged too (and its AUROC gets
        no interval), and PPV (NPV) is also flagged with fewer than that many positive (negative) predictions.
    n_boot
        Patient resamples for the design effects when ``clusters`` is given (rows need none: the gap verdicts come from
        closed-form intervals, see :mod:`skintag.fairness.verdicts`); also the default AUROC resamples.
    auroc_n_boot
        Resamples for the AUROC intervals (positives and negatives resampled separately within each group). Default:
        ``n_boot`` capped so that resamples × rows ≤ 10 million (200 resamples at 50,000 rows; see
        :func:`default_auroc_n_boot`). Computed once per audit and seed, reused at every threshold.
    ci
        Interval mass (0.95).
    tolerance
        Largest acceptable gap, one number or ``{"tpr": ..., "fpr": ...}``. Verdicts (:mod:`skintag.fairness.verdicts`):
        "outside tolerance" when a simultaneous pairwise interval lies wholly beyond it (false-alarm rate ≤ 1 − ci
        when no gap exceeds it), "within tolerance" when all lie inside it, "inconclusive" otherwise (with the cases
        per group that would decide, ``gaps["n_needed"]``), "not assessable" with fewer than two usable groups.
    include_flagged
        Keep insufficient-evidence groups in the gaps.
    reference
        "between_groups" (max − min, min / max; fairlearn's default), "overall" (each group against the overall rate;
        fairlearn's ``to_overall``) or a group name (each group against that group).
    exclude_from_gaps
        Groups never used in the gaps. Default: groups of unknown skin type for skin-type groupings ("unknown", or
        "unknown × …" in an intersection — not a skin type), none otherwise; such a group still has its own row.
    random_state
        Seed for the bootstraps; the same seed gives the same intervals.
    progress
        Optional ``progress(fraction, words)`` called as the AUROC bootstrap (the long part on a large file) advances.

    Returns
    -------
    FairnessReport
        With all groups flagged-free and nothing excluded, ``report.equalized_odds_difference`` equals
        ``fairlearn.metrics.equalized_odds_difference(y_true, y_score >= threshold, sensitive_features=groups)``.
    """
    audit = FairnessAudit(y_true, y_score, groups, grouping=grouping, clusters=clusters, domains=domains)
    return audit.report(
        threshold, min_positives=min_positives, min_negatives=min_negatives, n_boot=n_boot,
        auroc_n_boot=auroc_n_boot, ci=ci, tolerance=tolerance, include_flagged=include_flagged, reference=reference,
        exclude_from_gaps=exclude_from_gaps, random_state=random_state, rule=rule, progress=progress,
    )
