"""The Fairness Audit page driven by AppTest on the simulated predictions fixture: the audit starts at the bundle's
triage rule (refer = MODERATE or above), the rule box, slider, number box, reset and target-sensitivity controls move
the threshold (and the slider returns exactly to the rule), switching the grouping changes the table to the values
computed here from the raw CSV, the attribute grid, drill-down, intersection heatmap and the what-if render, an upload
starts from no bundle threshold, and a bad upload is named, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "app_pages" / "fairness_audit.py")
FIXTURE = REPO / "tests" / "fixtures" / "predictions" / "simulated_predictions.csv"
# The bundle's MODERATE threshold (triage refers at or above it): a malignant row's exact score, as isotonic calibration
# produces; it is off the slider's grid and rounding it to two decimals would drop that row from the flagged cases.
OPERATING_POINT = 0.336772
SIX = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}
THREE = {1: "I-II", 2: "I-II", 3: "III-IV", 4: "III-IV", 5: "V-VI", 6: "V-VI"}


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


def _expected_tpr(raw: pd.DataFrame, threshold: float, mapping: dict[int, str]) -> dict[str, float]:
    group = raw["fitzpatrick"].map(lambda v: mapping[int(v)] if pd.notna(v) else "unknown")
    pos = raw[raw["y_true"] == 1]
    return (pos["y_score"] >= threshold).groupby(group[pos.index]).mean().to_dict()


def _table_tpr(at: AppTest) -> dict[str, float]:
    table = next(d.value for d in at.dataframe if "TPR" in d.value.columns)
    return {str(g): float(str(v).split(" ")[0]) for g, v in table["TPR"].items()}


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(json.dumps({
        "name": "unit", "version": "0", "thresholds": {"moderate": OPERATING_POINT, "high": 0.8},
        "operating_points": {"sensitivity_95": 0.2}, "default_operating_point": "sensitivity_95",
    }))
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(bundle))
    monkeypatch.setenv("SKINTAG_PREDICTIONS", str(FIXTURE))
    return AppTest.from_file(PAGE, default_timeout=60)


def test_slider_and_grouping_update_the_table(app, raw):
    at = app.run()
    assert not at.exception, at.exception
    slider = at.slider(key="threshold")
    assert slider.value == OPERATING_POINT  # exactly the bundle's triage rule, not rounded to a step
    assert at.selectbox(key="rule").value == "refer"
    assert any("refer (tier MODERATE or above)" in i.value for i in at.info)
    got = _table_tpr(at)
    want = _expected_tpr(raw, OPERATING_POINT, SIX)
    assert want != _expected_tpr(raw, round(OPERATING_POINT, 2), SIX)  # so a rounded start would fail this test
    assert list(got) == ["I", "II", "III", "IV", "V", "VI", "unknown"]
    assert got == pytest.approx({g: round(v, 3) for g, v in want.items()}, abs=1e-9)

    at.slider(key="threshold").set_value(0.7).run()
    assert not at.exception, at.exception
    got = _table_tpr(at)
    want = _expected_tpr(raw, 0.7, SIX)
    assert got == pytest.approx({g: round(v, 3) for g, v in want.items()}, abs=1e-9)
    assert got["II"] < _expected_tpr(raw, 0.35, SIX)["II"]  # a higher threshold is less sensitive

    at.selectbox(key="grouping").set_value("three").run()
    assert not at.exception, at.exception
    got = _table_tpr(at)
    assert list(got) == ["I-II", "III-IV", "V-VI", "unknown"]
    want = _expected_tpr(raw, 0.7, THREE)
    assert got == pytest.approx({g: round(v, 3) for g, v in want.items()}, abs=1e-9)
    gap = [m for m in at.metric if m.label == "TPR gap"][0]
    assert float(gap.value) == pytest.approx(round(max(want["I-II"], want["III-IV"], want["V-VI"])
                                                   - min(want["I-II"], want["III-IV"], want["V-VI"]), 3))
    gap_table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    assert set(gap_table["verdict"]) <= {"within tolerance", "outside tolerance", "inconclusive", "not assessable"}
    assert gap_table.loc["TPR", "left out"] == "unknown"
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles[0].startswith("At threshold 0.7000") and titles[1].startswith("ROC by group")
    assert titles[2].startswith("Calibration") and titles[3].startswith("Threshold sweep")
    assert titles[4].startswith("Sensitivity (TPR) by intersection")
    assert at.selectbox(key="rule").value == "custom"  # moving the slider leaves the bundle rule


def test_number_box_reset_and_target_sensitivity(app, raw):
    at = app.run()
    at.number_input(key="threshold_box").set_value(0.55).run()
    assert not at.exception, at.exception
    assert at.slider(key="threshold").value == pytest.approx(0.55)
    assert _table_tpr(at) == pytest.approx({g: round(v, 3) for g, v in _expected_tpr(raw, 0.55, SIX).items()},
                                           abs=1e-9)
    at.button(key="reset").click().run()
    assert at.slider(key="threshold").value == OPERATING_POINT  # back exactly at the rule
    assert at.selectbox(key="rule").value == "refer"
    # the HIGH tier of the same bundle
    at.selectbox(key="rule").set_value("high").run()
    assert at.slider(key="threshold").value == 0.8
    # the threshold for 90 % sensitivity: the highest at which ≥ 90 % of malignant rows are flagged
    at.number_input(key="target_sens").set_value(0.90).run()
    at.button(key="set_target").click().run()
    assert not at.exception, at.exception
    t = at.slider(key="threshold").value
    pos = np.sort(raw.loc[raw.y_true == 1, "y_score"].to_numpy())
    assert (pos >= t).mean() >= 0.90 and (pos > t).mean() < 0.90


def test_grid_drilldown_and_counts(app, raw):
    at = app.run()
    grid = next(d.value for d in at.dataframe if "TPR verdict" in d.value.columns)
    assert {"fitzpatrick", "sex", "age", "site", "domain"} <= set(grid.index)
    assert set(grid["TPR verdict"]) <= {"pass", "fail", "inconclusive", "not assessable"}
    table = next(d.value for d in at.dataframe if "TPR" in d.value.columns and "TP" in d.value.columns)
    pos_v = raw[(raw.fitzpatrick == 5) & (raw.y_true == 1)]
    assert table.at["V", "TP"] == int((pos_v.y_score >= OPERATING_POINT).sum())
    at.selectbox(key="drill_group").set_value("V").run()
    rows = next(d.value for d in at.dataframe if "image_id" in d.value.columns)
    assert len(rows) == int((raw.fitzpatrick == 5).sum())
    # a cohort filter: women only
    at.multiselect(key="filter_sex").set_value(["female"]).run()
    assert not at.exception, at.exception
    got = _table_tpr(at)
    women = raw[raw.sex == "female"]
    assert got == pytest.approx({g: round(v, 3) for g, v in _expected_tpr(women, OPERATING_POINT, SIX).items()},
                                abs=1e-9)


def test_small_groups_warned_in_words_and_what_if(app):
    at = app.run()
    at.number_input(key="min_pos").set_value(10).run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")  # user text is shown Markdown-escaped
    # type V has 7 malignant cases in the fixture, VI has 8
    assert "Group V has only 7 malignant case(s) (fewer than 10)" in warnings
    at.slider(key="sens_floor").set_value(0.85)
    at.toggle(key="run_mitigation").set_value(True).run()
    assert not at.exception, at.exception
    tables = [d.value for d in at.dataframe if "tpr_after" in d.value.columns]
    assert tables and "optimised" in tables[0].columns
    opt = tables[0][tables[0]["optimised"]]
    assert (opt["threshold_after"].notna()).all()
    assert any("Analysis only" in i.value for i in at.info)
    assert any("held-out rows: sensitivity" in m.value.replace("\\", "") for m in at.markdown)  # shown escaped


def test_missing_default_file_offers_upload(app, monkeypatch, tmp_path):
    monkeypatch.setenv("SKINTAG_PREDICTIONS", str(tmp_path / "nothing.csv"))
    at = app.run()
    assert not at.exception
    assert any("No evaluation predictions" in i.value and "Upload a CSV" in i.value for i in at.info)


def test_upload_with_bad_rows_is_named(app):
    at = app.run()
    at.radio(key="source").set_value("Upload a CSV").run()
    bad = b"y_true,y_score,fitzpatrick\n1,0.9,2\n0,0.2,5\n3,0.4,1\n1,1.7,VI\n"
    at.file_uploader[0].set_value(("preds.csv", bad, "text/csv")).run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # user text is shown Markdown-escaped
    assert "column 'y_true' must be 0 or 1" in errors and "row(s) 3" in errors
    assert "[0, 1]: row(s) 4 are outside" in errors


def test_upload_of_another_model_with_mapping(app):
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"label": rng.integers(0, 2, n), "prob": rng.random(n).round(3),
                       "tone": rng.choice(["I", "II", "III", "IV", "V", "VI"], n), "clinic": rng.choice(["a", "b"], n)})
    at = app.run()
    at.radio(key="source").set_value("Upload a CSV").run()
    at.file_uploader[0].set_value(("m.csv", df.to_csv(index=False).encode(), "text/csv")).run()
    at.selectbox(key="col_y_true").set_value("label")
    at.selectbox(key="col_y_score").set_value("prob")
    at.selectbox(key="col_group").set_value("clinic").run()
    assert not at.exception, at.exception
    got = _table_tpr(at)
    assert at.slider(key="threshold").value == 0.5  # another model: no bundle threshold
    assert at.selectbox(key="rule").options == ["Custom threshold (slider)"]
    pos = df[df.label == 1]
    want = (pos.prob >= 0.5).groupby(pos.clinic).mean()
    assert got == pytest.approx({g: round(v, 3) for g, v in want.items()}, abs=1e-9)


def test_per_domain_rule_says_the_slider_is_not_in_use(monkeypatch):
    """The two-domain demo bundle's triage rule has a threshold per image domain: the slider, which holds one number,
    says it is not in use and names each domain's threshold; choosing a custom threshold removes that caption."""
    demo = REPO / "models" / "demo"
    manifest = json.loads((demo / "manifest.json").read_text())
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(demo))
    monkeypatch.delenv("SKINTAG_PREDICTIONS", raising=False)
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    note = [c.value for c in at.caption if c.value.startswith("Not in use")]
    assert len(note) == 1
    for domain, spec in manifest["domains"].items():
        assert f"{domain} {spec['thresholds']['moderate']:.4f}" in note[0]
    assert "records each photo's threshold" in note[0]  # the default table, the cross-fitted phone photos, does
    at.selectbox(key="rule").set_value("custom").run()
    assert not at.exception and not [c for c in at.caption if c.value.startswith("Not in use")]


def test_what_if_starts_from_each_rows_own_threshold(monkeypatch, tmp_path):
    """Dermoscopic and phone-photo rows together under the bundle's rule are audited at several thresholds (each
    domain's; each phone photo's out-of-fold one): the what-if starts from exactly that rule, row by row (it once
    started from no threshold and its 'before' sensitivity read 0, then it was refused), and matches a direct call."""
    from skintag.fairness import mitigation_whatif
    from skintag.fairness.multi import attribute_groups
    from skintag.fairness.rules import default_rule, rule_arguments

    demo = REPO / "models" / "demo"
    mixed = pd.concat([pd.read_csv(demo / "eval" / f"predictions_{n}.csv") for n in ("dermamnist_test", "pad_ufes_20")],
                      ignore_index=True)
    path = tmp_path / "mixed.csv"
    mixed.to_csv(path, index=False)
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(demo))
    monkeypatch.setenv("SKINTAG_PREDICTIONS", str(path))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    assert any("each row at its own threshold" in c.value for c in at.caption)
    at.toggle(key="run_mitigation").set_value(True).run()
    assert not at.exception, at.exception
    shown = next(d.value for d in at.dataframe if "before" in d.value.columns)
    df = pd.read_csv(path)
    args = rule_arguments(df, default_rule(json.loads((demo / "manifest.json").read_text())))
    per_row = np.array([args["threshold"][str(d)] for d in args["domains"]])
    assert len(set(per_row.tolist())) > 2  # the dermoscopic threshold and the phone photos' fold thresholds
    direct = mitigation_whatif(df["y_true"].to_numpy(), df["y_score"].to_numpy(), attribute_groups(df, "fitzpatrick", "six"),
                               threshold=per_row, grouping="six", sensitivity_floor=0.9,
                               clusters=df["patient_id"].to_numpy(dtype=object), random_state=0)
    assert shown.at["sensitivity", "before"] == pytest.approx(round(direct.summary.at["sensitivity", "before"], 3))
    assert shown.at["sensitivity", "before"] > 0.5
