"""Text exports: JSON, CSV, Markdown (the HTML document is tested in tests/documents)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from skintag.fairness import fairness_report


@pytest.fixture(scope="module")
def report(sim):
    return fairness_report(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, n_boot=200, auroc_n_boot=50,
                           random_state=0)


def test_json_round_trip(report, tmp_path):
    text = report.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert json.loads(text) == data
    assert data["threshold"] == 0.5 and data["n_rows"] == report.n_rows
    assert data["by_group"]["V"]["tpr"] == pytest.approx(report.by_group.at["V", "tpr"])
    assert data["gaps"]["tpr"]["verdict"] == report.verdicts["tpr"]
    assert data["equalized_odds_difference"] == pytest.approx(report.equalized_odds_difference)


def test_json_has_null_for_undefined():
    rep = fairness_report([0, 0, 1, 0], [0.1, 0.9, 0.8, 0.2], ["a", "a", "b", "b"], threshold=0.5, grouping=None,
                          n_boot=10, auroc_n_boot=10)
    data = json.loads(rep.to_json())
    assert data["by_group"]["a"]["tpr"] is None and "TPR undefined" in data["by_group"]["a"]["notes"]


def test_csv_is_the_group_table(report):
    df = pd.read_csv(io.StringIO(report.to_csv()), index_col="group")
    assert list(df.index) == list(report.groups)
    assert df.loc["III", "tp"] == report.by_group.at["III", "tp"]
    assert df.loc["III", "tpr"] == pytest.approx(report.by_group.at["III", "tpr"], rel=1e-5)
    assert (df["tpr_gap_verdict"] == report.verdicts["tpr"]).all()


def test_markdown(report):
    md = report.to_markdown()
    assert md.startswith("# SkinTag fairness report")
    v = report.by_group.loc["V"]
    assert f"| V | {int(v['n'])} | {int(v['positives'])} | {int(v['negatives'])} | {v['tpr']:.3f} " in md
    assert report.verdicts["tpr"] in md
