"""Bench: the fairness report vs fairlearn's MetricFrame on 50,000 simulated predictions in 7 groups.

Prints, from one run on this machine (ratios matter, absolute times are noisy):
1. a report at a new threshold — the slider path (five rates per group with Wilson intervals, TPR/FPR gaps with
   simultaneous Newcombe intervals and verdicts, the cached AUROC intervals; the audit's one-time precomputation is
   timed separately) vs MetricFrame computing the same five rates and their differences/ratios, without intervals;
2. the same with patients (two images each): 1,000 patient resamples for the design effects vs MetricFrame's own row
   bootstrap (timed over 3 resamples, scaled to 1,000);
3. the AUROC bootstrap (computed once per audit) for reference.

Run: ``python bench/fairness.py [--rows 50000] [--fairlearn-boot 3]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from fairlearn.metrics import MetricFrame, false_positive_rate, true_negative_rate, true_positive_rate
from sklearn.metrics import precision_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skintag.fairness import FairnessAudit, skin_type_groups  # noqa: E402
from skintag.fairness.simulate import simulate_predictions  # noqa: E402


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _ppv(t: np.ndarray, p: np.ndarray) -> float:
    return precision_score(t, p, zero_division=np.nan)


def _npv(t: np.ndarray, p: np.ndarray) -> float:
    return precision_score(1 - np.asarray(t), 1 - np.asarray(p), zero_division=np.nan)


METRICS = {"tpr": true_positive_rate, "fpr": false_positive_rate, "tnr": true_negative_rate, "ppv": _ppv, "npv": _npv}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--fairlearn-boot", type=int, default=3, help="MetricFrame resamples to time (scaled to 1,000)")
    args = parser.parse_args(argv)

    df = simulate_predictions(args.rows, random_state=0)
    y, s = df["y_true"].to_numpy(), df["y_score"].to_numpy()
    groups = skin_type_groups(df["fitzpatrick"], "six").labels
    print(f"{len(df):,} rows, {len(set(groups))} groups; numpy {np.__version__}")

    t0 = time.perf_counter()
    audit = FairnessAudit(y, s, groups, grouping=None)
    t_audit = time.perf_counter() - t0
    t0 = time.perf_counter()
    audit.report(0.5, n_boot=1000, random_state=0)  # first report: also the AUROC bootstrap (cached afterwards)
    t_first = time.perf_counter() - t0
    thresholds = iter(np.linspace(0.2, 0.8, 200))
    t_report = _best(lambda: audit.report(next(thresholds), n_boot=1000, random_state=0), repeat=20)

    def metricframe() -> None:
        mf = MetricFrame(metrics=METRICS, y_true=y, y_pred=(s >= 0.5).astype(int), sensitive_features=groups)
        mf.difference()
        mf.ratio()

    t_mf = _best(metricframe, repeat=2)
    print("\n1. Report at a new threshold")
    print(f"   SkinTag report (5 rates + Wilson CIs, gaps + Newcombe CIs, verdicts): {t_report * 1e3:8.1f} ms")
    print(f"   fairlearn MetricFrame (same 5 rates, difference/ratio, no CIs):     {t_mf * 1e3:8.1f} ms")
    print(f"   report / MetricFrame: {t_report / t_mf:.3f}x (goal ≤ 0.1x); MetricFrame / report: {t_mf / t_report:.0f}x")
    print(f"   (one-time audit precomputation {t_audit * 1e3:.0f} ms; first report incl. AUROC bootstrap "
          f"{t_first:.2f} s)")

    patients = np.arange(len(df)) // 2
    clustered = FairnessAudit(y, s, groups, grouping=None, clusters=patients)
    clustered.report(0.5, n_boot=1000, random_state=0)  # the patient-bootstrap AUROC, cached

    def our_intervals() -> None:
        clustered.report(next(thresholds), n_boot=1000, random_state=1)

    t_ours_boot = _best(our_intervals, repeat=5)
    k = args.fairlearn_boot

    def fl_boot() -> None:
        MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate}, y_true=y,
                    y_pred=(s >= 0.5).astype(int), sensitive_features=groups, n_boot=k,
                    ci_quantiles=[0.025, 0.975], random_state=0)

    def fl_plain() -> None:
        MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate}, y_true=y,
                    y_pred=(s >= 0.5).astype(int), sensitive_features=groups)

    t_fl_k = _best(fl_boot, repeat=1) - _best(fl_plain, repeat=1)
    per = t_fl_k / k
    print("\n2. With patients: 1,000 resamples behind the intervals")
    print(f"   SkinTag report, patients resampled (per-patient counts × draw multiplicities): {t_ours_boot * 1e3:8.1f} ms"
          f" = {t_ours_boot / t_mf:.3f}x MetricFrame without CIs")
    print(f"   fairlearn MetricFrame bootstrap: {per:.2f} s per resample (timed over {k}) → "
          f"{per * 1000:.0f} s for 1,000")
    print(f"   ratio fairlearn / SkinTag: {per * 1000 / max(t_ours_boot, 1e-6):,.0f}x")

    fresh = FairnessAudit(y, s, groups, grouping=None)
    t_auc200 = _best(lambda: fresh.auroc_bootstrap(200, 5), repeat=1)
    t_auc1000 = _best(lambda: fresh.auroc_bootstrap(1000, 6), repeat=1)
    print("\n3. AUROC bootstrap per group + overall (rows, once per audit, reused at every threshold)")
    print(f"   200 resamples (default at 50,000 rows): {t_auc200:.2f} s; 1,000 resamples: {t_auc1000:.2f} s")


if __name__ == "__main__":
    main()
