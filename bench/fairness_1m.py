"""Bench: a 1,000,000-row predictions CSV audited end to end, in a child process whose peak memory is measured.

The child reads the CSV (28 MB for a million rows) with :func:`skintag.fairness.data.read_predictions`, builds the audit
(per-group sorted scores, the AUROC bootstrap: 200 resamples per group and overall, in memory-bounded batches) and the
report at one threshold (1,000 gap resamples), reporting progress as it goes. The parent prints the child's time and its
peak resident memory (``VmHWM`` of its /proc/self/status) next to the same figures for a 100,000-row file,
so the ratio shows how memory grows with the rows.

Run: ``python bench/fairness_1m.py [--rows 1000000] [--patients]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(csv: str, patients: bool, batch_cells: int | None) -> None:
    """Audit ``csv`` and print a JSON line: seconds per stage, rows, progress calls."""
    sys.path.insert(0, str(REPO))
    if batch_cells:  # e.g. 10**12: the bootstrap's fixed batches of 200 resamples, as before the memory bound
        from skintag import stats

        stats.BATCH_CELLS = batch_cells
    from skintag.fairness import fairness_report
    from skintag.fairness.data import read_predictions

    t0 = time.perf_counter()
    df = read_predictions(csv)
    t_read = time.perf_counter() - t0
    seen: list[float] = []
    t1 = time.perf_counter()
    report = fairness_report(df["y_true"], df["y_score"], df["fitzpatrick"], threshold=0.5, n_boot=1000,
                             random_state=0, clusters=df["patient_id"] if patients else None,
                             progress=lambda done, _text: seen.append(done))
    t_audit = time.perf_counter() - t1
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"rows": len(df), "read_s": t_read, "audit_s": t_audit, "groups": len(report.groups), "hwm_kib": hwm,
                      "progress_calls": len(seen), "last_progress": seen[-1] if seen else None}))


def measure(rows: int, patients: bool, folder: Path, batch_cells: int | None = None) -> dict[str, float]:
    """Write ``rows`` simulated predictions to a CSV, audit it in a fresh child, return its figures."""
    sys.path.insert(0, str(REPO))
    from skintag.fairness.simulate import simulate_predictions

    df = simulate_predictions(rows, random_state=0)[["y_true", "y_score", "fitzpatrick"]]
    df["patient_id"] = [f"p{i // 2}" for i in range(rows)]
    csv = folder / f"pred_{rows}.csv"
    df.to_csv(csv, index=False)
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--child", str(csv)] + (["--patients"] if patients else [])
    done = subprocess.run(cmd + (["--batch-cells", str(batch_cells)] if batch_cells else []),
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # the child's own VmHWM: getrusage(RUSAGE_CHILDREN).ru_maxrss would include this parent's peak, which Linux
    # carries into a child across fork and exec
    out.update(wall_s=wall, peak_mb=out["hwm_kib"] / 1024, csv_mb=csv.stat().st_size / 2**20)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--patients", action="store_true", help="resample patients (two images each)")
    parser.add_argument("--batch-cells", type=int, default=None,
                        help="override skintag.stats.BATCH_CELLS (10**12 = the old fixed batches of 200)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.patients, args.batch_cells)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (args.rows // 10, args.rows):
            r = measure(rows, args.patients, Path(tmp), args.batch_cells)
            print(f"{r['rows']:>9,} rows ({r['csv_mb']:.0f} MB CSV): read {r['read_s']:.2f} s + audit "
                  f"{r['audit_s']:.2f} s = {r['wall_s']:.2f} s wall in a fresh process (imports included); "
                  f"peak {r['peak_mb']:,.0f} MB; {r['progress_calls']} progress calls")


if __name__ == "__main__":
    main()
