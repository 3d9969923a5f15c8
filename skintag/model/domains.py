"""Image domains of a model bundle: per-domain calibration, validated tier thresholds, reliability tables, honest
intervals, and the embedding-space domain detector.

A bundle (``bundle_format_version`` 2) declares its image domains (e.g. ``dermoscopic`` and ``clinical``) in the
manifest's ``domains`` table. Each domain carries its own calibrator, the thresholds that reach its target sensitivity
(MODERATE, also the screening point: a score at or above it is never LOW) and target specificity (HIGH) on that domain's
validation patients, the sensitivity / specificity those thresholds achieved out of fold, and a reliability table of
out-of-fold calibrated scores against outcomes. :func:`cross_fit_domain` fits all of it with patient-grouped K-fold
cross-fitting, so every reported number of a domain comes from patients the fold's calibrator and thresholds never saw.

The detector (:class:`DomainDetector`) is a Mahalanobis distance on the backbone embedding to each domain's training
embeddings (mean and a Ledoit-Wolf shrinkage covariance), with a per-domain threshold set on validation embeddings (a
quantile of their distances). It is stored as safetensors (means and precision matrices); nothing is pickled.

:func:`interval_for` states the interval shown beside a score: the 95 % Wilson interval of the observed malignant rate
among the domain's out-of-fold calibration images whose calibrated score fell in the same reliability bin; when that
interval does not contain the displayed score, neighbouring bins are merged toward the side of the score until it does;
if no merge contains it, the interval is widened to the score and the label says so. The returned interval therefore
always contains the displayed probability.

Nothing here imports torch; scikit-learn (fitting only) and safetensors are imported where used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skintag.errors import ConfigError, ModelBundleError
from skintag.model.calibration import Calibrator, threshold_for_sensitivity

#: The domain a bundle without a ``domains`` table (format version 1) is read as.
LEGACY_DOMAIN = "dermoscopic"
KNOWN_DOMAINS = ("dermoscopic", "clinical")
DEFAULT_TARGETS: Mapping[str, float] = {"moderate_sensitivity": 0.95, "high_specificity": 0.90}
#: Reliability bins: equal-width on the calibrated score.
RELIABILITY_BINS = 10
DETECTOR_FILE = "domains/detector.safetensors"


# -- value types -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    """Out-of-fold calibration images of one domain whose calibrated score was in [lo, hi): n images, k malignant."""

    lo: float
    hi: float
    n: int
    k: int

    @property
    def positives(self) -> int:
        return self.k

    def to_dict(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "n": self.n, "k": self.k}


@dataclass(frozen=True)
class DomainSpec:
    """One image domain of a bundle (see the module docstring). ``legacy`` marks a domain read from a version-1
    manifest (its thresholds were not chosen per domain and it has no reliability table)."""

    name: str
    thresholds: Mapping[str, float]
    calibrator: Calibrator = field(compare=False, repr=False)
    reliability: tuple[ReliabilityBin, ...] = ()
    achieved: Mapping[str, Any] = field(default_factory=dict)
    targets: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TARGETS))
    images: int | None = None
    patients: int | None = None
    prevalence: float | None = None
    legacy: bool = False
    head: str | None = None
    datasets: tuple[str, ...] = ()

    @property
    def screening(self) -> float:
        return float(self.thresholds["screening"])


@dataclass(frozen=True)
class DomainDecision:
    """What the detector says about one embedding.

    domain : the nearest known domain (smallest distance relative to its threshold), or None with no detector.
    distance, threshold : Mahalanobis distance to that domain and the domain's threshold.
    in_domain : ``distance <= threshold``.
    distances : distance to every known domain.
    """

    domain: str | None
    distance: float
    threshold: float
    in_domain: bool
    distances: Mapping[str, float] = field(default_factory=dict)


# -- thresholds --------------------------------------------------------------------------------------------------------


def threshold_for_specificity(y: Any, p: Any, target: float = 0.90) -> float:
    """The lowest threshold ``t`` such that flagging ``p >= t`` keeps specificity at least ``target``.

    Specificity = share of negatives with ``p < t``; the threshold is just above the ``ceil(target * n_neg)``-th lowest
    negative score (the next distinct score, or that score plus a hair when it is the highest).
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    if not 0 < target <= 1:
        raise ConfigError(f"target specificity must be in (0, 1], got {target}")
    neg = np.sort(p[y == 0])
    if not len(neg):
        raise ConfigError("Cannot choose a specificity threshold: no negative rows")
    need = math.ceil(target * len(neg) - 1e-9)
    v = neg[need - 1]
    above = np.unique(p[p > v])
    return float(above[0]) if len(above) else float(np.nextafter(v, np.inf))


def tier_thresholds(y: Any, p: Any, targets: Mapping[str, float], critical: Any = None) -> dict[str, float]:
    """{"screening", "moderate", "high"} on calibrated scores ``p``: MODERATE (= screening point) reaches the target
    sensitivity, HIGH the target specificity, and HIGH is kept strictly above MODERATE.

    ``critical`` (optional boolean mask of positive rows, e.g. the melanomas) must reach the target sensitivity on its
    own too: MODERATE is then the lower of the two thresholds."""
    target = float(targets["moderate_sensitivity"])
    moderate = threshold_for_sensitivity(y, p, target)
    if critical is not None and np.asarray(critical, bool).any():
        crit = np.asarray(critical, bool)
        moderate = min(moderate, threshold_for_sensitivity(np.ones(int(crit.sum())), np.asarray(p, float)[crit], target))
    high = threshold_for_specificity(y, p, float(targets["high_specificity"]))
    if high <= moderate:
        higher = np.unique(np.asarray(p, float)[np.asarray(p, float) > moderate])
        high = float(higher[0]) if len(higher) else float(np.nextafter(moderate, np.inf))
    return {"screening": float(moderate), "moderate": float(moderate), "high": float(min(high, 1.0))}


# -- reliability and intervals -----------------------------------------------------------------------------------------


def reliability_table(y: Any, p: Any, n_bins: int = RELIABILITY_BINS) -> tuple[ReliabilityBin, ...]:
    """Equal-width bins of calibrated scores ``p`` in [0, 1] with the count and malignant count of each (the last bin
    is closed at 1)."""
    y = np.asarray(y, dtype=int)
    s = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.minimum(np.searchsorted(edges, s, side="right") - 1, n_bins - 1)
    return tuple(
        ReliabilityBin(float(edges[b]), float(edges[b + 1]), int((idx == b).sum()), int(y[idx == b].sum()))
        for b in range(n_bins)
    )


def _bin_index(p: float, bins: Sequence[ReliabilityBin]) -> int:
    for i, b in enumerate(bins):
        if b.lo <= p < b.hi:
            return i
    return len(bins) - 1 if p >= bins[-1].lo else 0


def interval_for(
    p: float, reliability: Sequence[ReliabilityBin], *, domain: str | None = None, ci: float = 0.95
) -> tuple[tuple[float, float] | None, str]:
    """Interval that contains ``p`` and its plain-words label (see the module docstring for the method).

    Returns (None, reason) when the table is empty or holds no image.
    """
    from skintag.stats import wilson_interval

    bins = sorted(reliability, key=lambda b: b.lo)
    where = f"{domain} " if domain else ""
    if not bins or sum(b.n for b in bins) == 0:
        return None, f"No out-of-fold {where}calibration images are recorded, so no interval is stated."
    i = j = _bin_index(float(p), bins)
    while True:  # an empty starting bin: take the nearest non-empty neighbour
        n = sum(b.n for b in bins[i : j + 1])
        if n:
            break
        i, j = max(0, i - 1), min(len(bins) - 1, j + 1)
    note = ""
    while True:
        n = sum(b.n for b in bins[i : j + 1])
        k = sum(b.k for b in bins[i : j + 1])
        lo, hi = wilson_interval(k, n, ci)
        if lo <= p <= hi:
            break
        if p > hi and j < len(bins) - 1:
            j += 1
        elif p < lo and i > 0:
            i -= 1
        else:
            lo, hi = min(lo, p), max(hi, p)
            note = " The interval was widened to include the displayed score, which lies outside what those images showed."
            break
        note = " Neighbouring score ranges were pooled until the interval covered the displayed score."
    label = (
        f"Of {n} {where}calibration images scored {bins[i].lo:.0%}–{min(bins[j].hi, 1.0):.0%} out of fold (each by a "
        f"calibrator fitted without it), {k} ({k / n:.0%}) were malignant; {ci:.0%} Wilson interval "
        f"{lo:.0%}–{hi:.0%}.{note}"
    )
    return (float(lo), float(hi)), label


# -- cross-fitting -----------------------------------------------------------------------------------------------------


def patient_folds(y: Any, groups: Any, n_folds: int, random_state: int = 0) -> np.ndarray:
    """Fold number per row: stratified by label, whole patients (``groups``; None/NaN = the row alone) per fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y, dtype=int)
    g = np.asarray([f"row{i}" if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v)
                    for i, v in enumerate(groups)])
    folds = np.full(len(y), -1)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y, g)):
        folds[test] = f
    return folds


def _rate_ci(flags: np.ndarray, groups: np.ndarray | None, n_boot: int, random_state: int) -> list[float]:
    """[estimate, lo, hi] of the mean of 0/1 flags: a patient-cluster bootstrap when groups are given, else Wilson."""
    from skintag.stats import bootstrap, wilson_interval

    if not len(flags):
        return [float("nan")] * 3
    if groups is None:
        lo, hi = wilson_interval(int(flags.sum()), len(flags))
        return [float(flags.mean()), float(lo), float(hi)]
    est = bootstrap(np.mean, flags.astype(float), n_boot=n_boot, random_state=random_state, clusters=groups)
    return [est.value, est.ci_low, est.ci_high]


def achieved_rates(y: Any, p: Any, thr: Any, groups: Any = None, *, n_boot: int = 1000,
                   random_state: int = 0) -> dict[str, Any]:
    """Sensitivity and specificity of flagging ``p >= thr`` (``thr`` a number or one threshold per row), with CIs."""
    y = np.asarray(y, dtype=int)
    flag = np.asarray(p, float) >= np.asarray(thr, float)
    g = None if groups is None else np.asarray(groups, dtype=object)
    pos, neg = y == 1, y == 0
    return {
        "sensitivity": _rate_ci(flag[pos], None if g is None else g[pos], n_boot, random_state),
        "specificity": _rate_ci(~flag[neg], None if g is None else g[neg], n_boot, random_state),
        "n_pos": int(pos.sum()),
        "n_neg": int(neg.sum()),
    }


@dataclass
class CrossFit:
    """What :func:`cross_fit_domain` returns: the final calibrator and thresholds (fitted on every row), and the
    out-of-fold scores, thresholds and summaries that describe them honestly."""

    calibrator: Calibrator
    thresholds: dict[str, float]
    p_oof: np.ndarray
    raw_oof: np.ndarray
    moderate_oof: np.ndarray
    high_oof: np.ndarray
    folds: np.ndarray
    reliability: tuple[ReliabilityBin, ...]
    achieved: dict[str, Any]
    ece_oof: float


def cross_fit_domain(
    raw: Any,
    y: Any,
    *,
    groups: Any = None,
    method: str = "isotonic",
    targets: Mapping[str, float] = DEFAULT_TARGETS,
    n_folds: int = 5,
    random_state: int = 0,
    n_boot: int = 1000,
    fit_scores: Any = None,
    critical: Any = None,
) -> CrossFit:
    """Calibrator, tier thresholds and their out-of-fold description for one domain.

    For each of ``n_folds`` patient-grouped folds the calibrator and both thresholds are fitted on the other folds and
    applied to the held-out fold, giving out-of-fold calibrated scores and tier flags; the reported sensitivity /
    specificity (patient-cluster bootstrap CIs when ``groups`` is given, Wilson otherwise), the reliability table and
    the ECE come from those. The shipped calibrator and thresholds are then fitted on every row.

    Parameters
    ----------
    raw : raw head scores (N,). When ``fit_scores`` is given instead, it is a callable ``fit_scores(train_idx,
        test_idx) -> (raw_train, raw_test)`` that refits the head on the training rows (a per-domain head cross-fitted
        with the calibrator); ``raw`` then holds the full-fit scores used for the shipped calibrator.
    y : 0/1 labels. groups : patient ids (None: rows are independent).
    critical : optional boolean mask of rows (e.g. melanomas) that must reach the target sensitivity on their own.
    """
    from skintag.stats import expected_calibration_error

    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    grp = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups, dtype=object)
    folds = patient_folds(y, grp, n_folds, random_state)
    crit = None if critical is None else np.asarray(critical, bool)
    p_oof = np.zeros(len(y))
    raw_oof = raw.copy()
    mod = np.zeros(len(y))
    high = np.zeros(len(y))
    for f in range(n_folds):
        te, tr = folds == f, folds != f
        if fit_scores is not None:
            r_tr, r_te = fit_scores(np.flatnonzero(tr), np.flatnonzero(te))
            raw_oof[te] = r_te
        else:
            r_tr, r_te = raw[tr], raw[te]
        cal = Calibrator(method).fit(r_tr, y[tr])  # type: ignore[arg-type]
        t = tier_thresholds(y[tr], cal.predict(r_tr), targets, None if crit is None else crit[tr])
        p_oof[te] = cal.predict(r_te)
        mod[te], high[te] = t["moderate"], t["high"]
    calibrator = Calibrator(method).fit(raw, y)  # type: ignore[arg-type]
    thresholds = tier_thresholds(y, calibrator.predict(raw), targets, crit)
    g = None if groups is None else grp
    achieved = {
        "moderate": achieved_rates(y, p_oof, mod, g, n_boot=n_boot, random_state=random_state),
        "high": achieved_rates(y, p_oof, high, g, n_boot=n_boot, random_state=random_state),
    }
    return CrossFit(calibrator, thresholds, p_oof, raw_oof, mod, high, folds, reliability_table(y, p_oof), achieved,
                    float(expected_calibration_error(y, p_oof)))


# -- the detector ------------------------------------------------------------------------------------------------------


class DomainDetector:
    """Mahalanobis distance of an embedding to each domain's training embeddings, with per-domain thresholds.

    Attributes: ``means`` {domain: (D,)}, ``precisions`` {domain: (D, D)} (inverse shrinkage covariance),
    ``thresholds`` {domain: float}, ``features``: None when it reads the whole embedding, else the number D of leading
    embedding columns it reads (an ensemble's lead tower).
    """

    def __init__(self, means: Mapping[str, np.ndarray], precisions: Mapping[str, np.ndarray],
                 thresholds: Mapping[str, float] | None = None, features: int | None = None) -> None:
        if set(means) != set(precisions) or not means:
            raise ModelBundleError("Domain detector: means and precisions must cover the same, non-empty domains")
        self.means = {k: np.asarray(v, dtype=np.float64) for k, v in means.items()}
        self.precisions = {k: np.asarray(v, dtype=np.float64) for k, v in precisions.items()}
        self.thresholds = {k: float(v) for k, v in (thresholds or {}).items()}
        self.domains = tuple(sorted(self.means))
        self.features = None if features is None else int(features)
        if self.features is not None and any(len(m) != self.features for m in self.means.values()):
            raise ModelBundleError(f"Domain detector: reads {self.features} embedding columns but its means have "
                                   f"{sorted({len(m) for m in self.means.values()})}")

    @classmethod
    def fit(cls, embeddings: Mapping[str, np.ndarray], features: int | None = None) -> DomainDetector:
        """Mean and Ledoit-Wolf shrinkage covariance of each domain's (N, D) training embeddings (their first
        ``features`` columns when given)."""
        from sklearn.covariance import LedoitWolf

        means, precisions = {}, {}
        for name, emb in embeddings.items():
            x = np.asarray(emb, dtype=np.float64)
            lw = LedoitWolf().fit(x if features is None else x[:, :features])
            means[name], precisions[name] = lw.location_, lw.get_precision()
        return cls(means, precisions, features=features)

    def distances(self, emb: np.ndarray) -> dict[str, np.ndarray]:
        """Mahalanobis distance (N,) of each row of ``emb`` (N, D) to every domain."""
        x = np.atleast_2d(np.asarray(emb, dtype=np.float64))
        if self.features is not None:
            x = x[:, : self.features]
        out = {}
        for name in self.domains:
            d = x - self.means[name]
            out[name] = np.sqrt(np.maximum(np.einsum("nd,de,ne->n", d, self.precisions[name], d), 0.0))
        return out

    def set_thresholds(self, embeddings: Mapping[str, np.ndarray], quantile: float) -> dict[str, float]:
        """Threshold of each domain = the ``quantile`` of its validation embeddings' distances to it."""
        for name, emb in embeddings.items():
            self.thresholds[name] = float(np.quantile(self.distances(emb)[name], quantile))
        return dict(self.thresholds)

    def decide(self, emb: np.ndarray, declared: str | None = None) -> list[DomainDecision]:
        """One decision per row: the declared domain, else the nearest one relative to its threshold."""
        dist = self.distances(emb)
        n = len(next(iter(dist.values())))
        out = []
        for i in range(n):
            row = {k: float(v[i]) for k, v in dist.items()}
            name = declared if declared is not None else min(row, key=lambda k: row[k] / self.thresholds[k])
            if name not in row:
                raise ConfigError(f"Unknown domain {name!r}; this bundle knows {list(self.domains)}")
            thr = self.thresholds[name]
            out.append(DomainDecision(name, row[name], thr, bool(row[name] <= thr), row))
        return out

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        tensors = {}
        for name in self.domains:
            tensors[f"{name}.mean"] = self.means[name].astype(np.float64)
            tensors[f"{name}.precision"] = self.precisions[name].astype(np.float64)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=None if self.features is None else {"features": str(self.features)})

    @classmethod
    def load(cls, path: str | Path, thresholds: Mapping[str, float]) -> DomainDetector:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as fh:
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open is not a mapping
                meta = fh.metadata() or {}
            features = int(meta["features"]) if "features" in meta else None
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a bad file
            raise ModelBundleError(f"Domain detector file {path} cannot be read: {exc}") from exc
        means = {k[: -len(".mean")]: v for k, v in tensors.items() if k.endswith(".mean")}
        precs = {k[: -len(".precision")]: v for k, v in tensors.items() if k.endswith(".precision")}
        missing = set(means) - set(thresholds)
        if missing:
            raise ModelBundleError(f"Domain detector {path}: no threshold for domains {sorted(missing)}")
        return cls(means, precs, {k: thresholds[k] for k in means}, features=features)


# -- manifest ----------------------------------------------------------------------------------------------------------


def _triple(v: Any) -> list[float]:
    return [float(x) if x is not None else float("nan") for x in v]


def domain_entry(
    name: str,
    fit: CrossFit,
    *,
    datasets: Sequence[str],
    images: int,
    patients: int | None,
    prevalence: float,
    targets: Mapping[str, float],
    n_folds: int,
    head: str | None = None,
) -> dict[str, Any]:
    """The manifest's ``domains[name]`` entry (interface: docs/ARCHITECTURE of issue 8) for a cross-fitted domain."""
    entry: dict[str, Any] = {
        "datasets": list(datasets),
        "images": int(images),
        "patients": None if patients is None else int(patients),
        "prevalence": float(prevalence),
        "calibration": {"method": fit.calibrator.method, "file": f"calibration/{name}.json", "cross_fitted": True,
                        "folds": int(n_folds)},
        "targets": {k: float(v) for k, v in targets.items()},
        "thresholds": dict(fit.thresholds),
        "achieved": {k: {"sensitivity": _triple(v["sensitivity"]), "specificity": _triple(v["specificity"]),
                         "n_pos": v["n_pos"], "n_neg": v["n_neg"]} for k, v in fit.achieved.items()},
        "reliability": [b.to_dict() for b in fit.reliability],
        "ece_oof": fit.ece_oof,
    }
    if head:
        entry["head"] = head
    return entry


def parse_domains(manifest: Mapping[str, Any], calibrators: Mapping[str, Calibrator],
                  legacy_calibrator: Calibrator | None, where: str) -> dict[str, DomainSpec]:
    """DomainSpecs of a manifest: its ``domains`` table, or one legacy domain from a version-1 manifest."""
    table = manifest.get("domains")
    if not table:
        if legacy_calibrator is None:
            raise ModelBundleError(f"Manifest of {where} has neither 'domains' nor a calibrator")
        thr = dict(manifest.get("thresholds") or {"moderate": 0.30, "high": 0.60})
        ops = dict(manifest.get("operating_points") or {})
        op_name = manifest.get("default_operating_point") or next(iter(ops), None)
        screening = float(ops[op_name]) if op_name in ops else float(thr["moderate"])
        moderate = min(float(thr["moderate"]), screening)
        return {LEGACY_DOMAIN: DomainSpec(
            name=LEGACY_DOMAIN,
            thresholds={"screening": screening, "moderate": moderate, "high": float(thr["high"])},
            calibrator=legacy_calibrator, legacy=True,
            datasets=tuple((manifest.get("training_data") or {}).get("datasets") or ()),
        )}
    if not isinstance(table, dict):
        raise ModelBundleError(f"Manifest of {where}: 'domains' must map domain names to entries")
    out = {}
    for name, e in table.items():
        try:
            thr = {k: float(e["thresholds"][k]) for k in ("screening", "moderate", "high")}
            rel = tuple(ReliabilityBin(float(r["lo"]), float(r["hi"]), int(r["n"]), int(r["k"]))
                        for r in e.get("reliability") or ())
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"Manifest of {where}: domains.{name} is malformed ({exc!r})") from exc
        if not 0 < thr["moderate"] < thr["high"] <= 1 or thr["screening"] > thr["moderate"]:
            raise ModelBundleError(f"Manifest of {where}: domains.{name} thresholds {thr} are not ordered "
                                   "0 < screening <= moderate < high <= 1")
        if name not in calibrators:
            raise ModelBundleError(f"Manifest of {where}: no calibrator loaded for domain {name}")
        out[name] = DomainSpec(
            name=name, thresholds=thr, calibrator=calibrators[name], reliability=rel,
            achieved=dict(e.get("achieved") or {}), targets=dict(e.get("targets") or DEFAULT_TARGETS),
            images=e.get("images"), patients=e.get("patients"), prevalence=e.get("prevalence"),
            head=e.get("head"), datasets=tuple(e.get("datasets") or ()),
        )
    return out
