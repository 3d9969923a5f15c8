"""A large predictions file is audited in bounded memory: the AUROC bootstrap runs in batches of at most
``skintag.stats.BATCH_CELLS`` resample-rows. Measured in a child process on 100,000 rows with the batch budget scaled
down tenfold (1,000,000 cells), the same rows-to-budget ratio as a million-row file at the default budget; the bound
scales the 1.5 GB goal of a million rows by a tenth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from skintag import stats
from tests.security.test_uploads import PEAK_KIB

REPO = Path(__file__).resolve().parents[2]

_CHILD = PEAK_KIB + """
import json, sys
sys.path.insert(0, {repo!r})
from skintag import stats
from skintag.fairness import fairness_report
from skintag.fairness.simulate import simulate_predictions
stats.BATCH_CELLS = {cells}
df = simulate_predictions(100_000, random_state=0)[["y_true", "y_score", "fitzpatrick"]]
seen = []
before = peak_kib()
report = fairness_report(df["y_true"], df["y_score"], df["fitzpatrick"], threshold=0.5, n_boot=1000, random_state=0,
                         progress=lambda done, words: seen.append(done))
print(json.dumps({{"extra_mib": (peak_kib() - before) / 1024, "progress": seen, "groups": len(report.groups)}}))
"""


def test_audit_of_100k_rows_in_bounded_memory_with_progress():
    done = subprocess.run([sys.executable, "-c", _CHILD.format(repo=str(REPO), cells=1_000_000)],
                          capture_output=True, text=True, check=True, timeout=300)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"100,000-row audit, batch budget 1,000,000 cells: {got['extra_mib']:.0f} MiB extra peak")
    # 7 groups, then all rows: one progress call each, ending at 1.0
    assert len(got["progress"]) == got["groups"] + 1 == 8
    assert got["progress"][-1] == 1.0 and got["progress"] == sorted(got["progress"])
    # the old fixed batches of 200 resamples: 200 × 100,000 × 8 bytes = 153 MiB per array, several at once
    assert got["extra_mib"] < 150


def test_batches_change_nothing_up_to_50000_rows():
    assert stats.batch_size(50_000) == 200 and stats.batch_size(50_001) == 199 and stats.batch_size(10**7) == 1
    rng = np.random.default_rng(3)
    y, s = rng.random(2000) < 0.3, rng.random(2000)
    a = stats.bootstrap_auroc(y, s, 500, np.random.default_rng(7))
    b = stats.bootstrap_auroc(y, s, 500, np.random.default_rng(7), batch=200)
    assert np.array_equal(a, b)


def test_cluster_cells_in_batches_equal_one_matrix():
    rng = np.random.default_rng(1)
    unit_cells = rng.integers(0, 3, (400, 4))
    unit_group = rng.integers(0, 3, 400)
    whole = stats.bootstrap_cluster_cells(unit_cells, unit_group, 3, 300, np.random.default_rng(5))
    old, stats.BATCH_CELLS = stats.BATCH_CELLS, 1000  # batches of 7-8 resamples
    try:
        split = stats.bootstrap_cluster_cells(unit_cells, unit_group, 3, 300, np.random.default_rng(5))
    finally:
        stats.BATCH_CELLS = old
    assert np.array_equal(whole, split)
