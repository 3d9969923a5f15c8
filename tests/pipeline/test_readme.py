"""The README's demo-model numbers are generated from the committed bundle, not typed."""

from __future__ import annotations

import json
from pathlib import Path

from training.config import load_config
from training.report import README_BEGIN, README_END, medmnist_table

REPO = Path(__file__).resolve().parents[2]


def test_readme_metrics_block_matches_the_committed_bundle():
    cfg = load_config(str(REPO / "configs" / "demo.yaml"))
    metrics = json.loads((REPO / "models" / "demo" / "eval" / "metrics.json").read_text())
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(README_BEGIN): readme.index(README_END)]
    table = medmnist_table(metrics, "dermamnist_test", cfg["name"])
    assert table in block
    assert "python -m training all --config configs/demo.yaml" in block


def test_readme_screenshots_exist():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("triage", "fairness_audit", "dataset_explorer"):
        assert f"docs/screenshots/{name}.png" in readme
        assert (REPO / "docs" / "screenshots" / f"{name}.png").stat().st_size > 10_000
