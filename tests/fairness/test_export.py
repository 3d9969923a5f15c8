"""Text exports: JSON, CSV, Markdown (the HTML document is tested in tests/documents)."""

from __future__ import annotations

import io
import json

import numpy as np
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
    df = pd.read_csv(io.StringIO(report.to_csv()), index_col="group", comment="#")
    assert set(df["section"]) == {"groups"}
    assert list(df.index) == list(report.groups)
    assert df.loc["III", "tp"] == report.by_group.at["III", "tp"]
    assert df.loc["III", "tpr"] == pytest.approx(report.by_group.at["III", "tpr"], rel=1e-5)
    assert (df["tpr_gap_verdict"] == report.verdicts["tpr"]).all()


def test_markdown(report):
    md = report.to_markdown()
    assert md.startswith("# SkinTag fairness report")
    v = report.by_group.loc["V"]
    assert (f"| V | {int(v['n'])} | {int(v['positives'])} | {int(v['negatives'])} | {int(v['tp'])} | {int(v['fn'])} | "
            f"{int(v['fp'])} | {int(v['tn'])} | {v['tpr']:.3f} ") in md
    assert report.verdicts["tpr"] in md


@pytest.fixture(scope="module")
def full(sim, report):
    """The report with everything an audit export carries: provenance, page settings, an intersection, the what-if
    and the attribute grid."""
    from skintag.fairness import audit_attributes, mitigation_whatif
    from skintag.fairness.provenance import provenance

    inter = fairness_report(sim.y_true, sim.y_score, sim[["fitzpatrick", "sex"]], threshold=0.5, grouping="three",
                            n_boot=0, auroc_n_boot=0)
    mit = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three")
    grid, _ = audit_attributes(sim, "y_true", "y_score", 0.5, n_boot=0, auroc_n_boot=0)
    manifest = {"name": "demo", "version": "1.0.0", "files": {"a.txt": "00" * 32}}
    prov = provenance(predictions_name="p.csv", predictions_sha256="ab" * 32, manifest=manifest,
                      created="2026-01-02T03:04:05+00:00")
    return report.with_context(provenance=prov, settings={"cohort_filters": {"sex": ["female"]}},
                               intersections={"type × sex": inter}, mitigation=mit, attributes=grid)


def test_every_export_records_model_data_time_settings_intersections_and_mitigation(full):
    import hashlib

    manifest = {"name": "demo", "version": "1.0.0", "files": {"a.txt": "00" * 32}}
    fingerprint = hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
                                 ).hexdigest()  # the canonical manifest (which lists every file's hash)
    data = json.loads(full.to_json())
    assert data["provenance"]["model"] == {"name": "demo", "version": "1.0.0", "fingerprint": fingerprint}
    assert data["provenance"]["predictions"] == {"file": "p.csv", "sha256": "ab" * 32}
    assert data["provenance"]["created"] == "2026-01-02T03:04:05+00:00"
    assert data["settings"]["cohort_filters"] == {"sex": ["female"]} and data["settings"]["min_positives"] == 5
    assert data["settings"]["resampling_unit"] == "image (row)" and data["gap_method"].startswith("pairwise")
    assert "type × sex" in data["intersections"] and data["mitigation"]["words"].startswith("On the")
    assert {r["attribute"] for r in data["attributes"]} >= {"fitzpatrick", "sex", "age", "site"}
    csv = full.to_csv()
    assert f"# provenance.model.fingerprint,\"{fingerprint}\"" in csv and "# provenance.predictions.sha256" in csv
    assert "# settings.cohort_filters.sex," in csv
    table = pd.read_csv(io.StringIO(csv), comment="#")
    assert set(table["section"]) == {"groups", "intersection: type × sex", "mitigation"}
    md = full.to_markdown()
    for text in (fingerprint, "ab" * 32, "2026-01-02T03:04:05", "## Intersection: type × sex", "## Mitigation what-if",
                 "## All attributes", "cohort\\_filters"):
        assert text in md, text
    from skintag.documents.fairness_report import render_fairness_html

    small = render_fairness_html(full, charts=False)
    assert len(small.encode()) < 1_000_000 and "<script" not in small
    assert fingerprint in small and "Mitigation what-if" in small and "type × sex" in small


def test_exports_neutralise_formulas_and_escape_markup():
    """Group names, column names and file names come from the data: a spreadsheet must not run them as formulas, and
    Markdown/HTML must show them as text."""
    from skintag.documents.fairness_report import render_fairness_html
    from skintag.fairness.provenance import provenance

    rng = np.random.default_rng(0)
    evil = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tTAB", "<script>alert(1)</script>|*x*"]
    g = np.repeat(evil, 20)
    y = rng.integers(0, 2, g.size)
    rep = fairness_report(y, rng.random(g.size), pd.Series(g, name="=cmd|' /C calc'!A0"), threshold=0.5,
                          grouping=None, n_boot=0, auroc_n_boot=0)
    rep = rep.with_context(provenance=provenance(predictions_name="<img src=x onerror=alert(1)>.csv",
                                                 predictions_sha256="00"))
    csv = rep.to_csv()
    cells = [c for line in csv.splitlines() if not line.startswith("#") for c in line.split(",")]
    assert not any(c.lstrip('"').startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells if c), csv
    assert "'=HYPERLINK" in csv and "'@SUM(A1)" in csv and "'+1" in csv and "'-2" in csv
    md = rep.to_markdown()
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\|\\*x\\*" in md
    assert "<img" not in md
    html = render_fairness_html(rep, charts=False)
    assert "<script>alert" not in html and "<img src" not in html and "&lt;script&gt;" in html
