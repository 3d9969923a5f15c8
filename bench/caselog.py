"""Benchmark of the case log, printed as ratios measured side by side in one run.

1. Logging overhead: for real PAD-UFES-20 photos, the time of ``triage(bundle, bytes)`` (the demo bundle) and of
   ``CaseLog.record(result, image=bytes)`` on a SQLite log in WAL mode with ``synchronous=FULL`` (each record its own
   committed transaction), interleaved; the ratio record / triage is the share logging adds to a triage (target ≤ 5 %).
2. Monitoring at scale: 100,000 cases with outcomes (skin types, scores and labels drawn with ``random_state``)
   bulk-inserted into a SQLite log, then ``CaseLog.outcomes()`` and the fairness report the Monitoring page builds
   (:func:`skintag.caselog.monitor.monitor`: 1000 bootstrap resamples for the gaps, AUROC without intervals as
   on the page; and, for comparison, with AUROC intervals) timed (target < 1 s together).

Machines here are shared: compare ratios from one run, not absolute times.

Usage: ``python bench/caselog.py [--images 30] [--cases 100000] [--postgres URL]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def bench_overhead(n_images: int, tmp: Path, url: str | None) -> None:
    from skintag.caselog import CaseLog
    from skintag.model import load_bundle
    from skintag.settings import default_data_dir
    from skintag.triage import triage

    bundle = load_bundle(REPO / "models" / "demo")
    photos = sorted((default_data_dir() / "pad_ufes_20" / "images").glob("*.png"))[:n_images]
    data = [p.read_bytes() for p in photos]
    triage(bundle, data[0])  # warm-up
    log = CaseLog(url or tmp / "overhead.sqlite3")
    log.record(triage(bundle, data[0]), image=data[0])
    t_triage, t_record = [], []
    for d in data:
        t0 = time.perf_counter()
        res = triage(bundle, d)
        t1 = time.perf_counter()
        log.record(res, image=d, case={"skin_type": 3})
        t2 = time.perf_counter()
        t_triage.append(t1 - t0)
        t_record.append(t2 - t1)
    log.close()
    mt, mr = statistics.median(t_triage), statistics.median(t_record)
    print(f"[overhead] {len(data)} photos, backend {log.url.get_backend_name()}: triage median {mt * 1000:.1f} ms, "
          f"record median {mr * 1000:.2f} ms → logging adds {mr / mt:.1%} (sum ratio "
          f"{sum(t_record) / sum(t_triage):.1%}; target ≤ 5 %)")


def bench_scale(n: int, tmp: Path, url: str | None) -> None:
    import sqlalchemy as sa

    from skintag.caselog import CaseLog
    from skintag.caselog.monitor import monitor
    from skintag.caselog.schema import cases, outcomes

    rng = np.random.default_rng(0)
    log = CaseLog(url or tmp / "scale.sqlite3")
    skin = rng.integers(1, 7, n)
    y = rng.random(n) < 0.2
    score = np.clip(np.where(y, rng.beta(5, 2, n), rng.beta(2, 5, n)) - (skin == 6) * 0.15 * y, 0, 1)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    rows = [{"case_id": f"b{i}", "recorded_at": start + timedelta(minutes=i), "skin_type": int(skin[i]),
             "model_name": "demo", "model_version": "1.0.0", "status": "ok",
             "tier": "HIGH" if score[i] >= 0.6 else "MODERATE" if score[i] >= 0.3 else "LOW",
             "p_malignant": float(score[i]), "threshold_moderate": 0.3, "threshold_high": 0.6, "result_json": "{}"}
            for i in range(n)]
    outs = [{"case_id": f"b{i}", "recorded_at": start + timedelta(minutes=i, days=20), "condition_id": 0 if y[i] else 4,
             "diagnosis": "Melanoma" if y[i] else "Melanocytic Nevus", "malignant": bool(y[i]),
             "confirmed_by": "histopathology"} for i in range(n) if i % 10]  # 10 % still unconfirmed
    with log.engine.execution_options(write=True).begin() as conn:
        conn.execute(sa.insert(cases), rows)
        conn.execute(sa.insert(outcomes), outs)
    print(f"[scale] inserted {n:,} cases and {len(outs):,} outcomes in {time.perf_counter() - t0:.1f} s "
          f"({log.url.get_backend_name()})")
    timings = []
    for _ in range(3):
        t1 = time.perf_counter()
        all_cases = log.cases()
        df = all_cases[all_cases["confirmed"]]
        t2 = time.perf_counter()
        view = monitor(all_cases, random_state=0)
        t3 = time.perf_counter()
        timings.append((t2 - t1, t3 - t2))
    read, report = min(timings, key=sum)
    t6 = time.perf_counter()
    monitor(all_cases, random_state=0, auroc_n_boot=200)
    with_auroc = time.perf_counter() - t6
    t4 = time.perf_counter()
    confirmed = log.outcomes()
    t5 = time.perf_counter()
    print(f"[scale] cases() {read:.3f} s ({len(df):,} confirmed of {len(all_cases):,}); outcomes() {t5 - t4:.3f} s; "
          f"monitor() incl. fairness report with 1000 resamples {report:.3f} s → together {read + report:.3f} s "
          f"(target < 1 s); {len(view.alerts)} alert(s); rows audited {view.report.n_rows:,} = {len(confirmed):,}; "
          f"with 200 AUROC resamples too: {with_auroc:.3f} s")
    log.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--postgres", default=None, help="also run both on this (empty) PostgreSQL database URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_overhead(args.images, Path(tmp), None)
        bench_scale(args.cases, Path(tmp), None)
        if args.postgres:
            bench_overhead(args.images, Path(tmp), args.postgres)
            bench_scale(args.cases, Path(tmp), args.postgres)


if __name__ == "__main__":
    main()
