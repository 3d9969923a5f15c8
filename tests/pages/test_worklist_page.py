"""Worklist page under AppTest: 10 real PAD-UFES-20 photos uploaded at once are triaged with a progress bar, listed
HIGH first and by score, recorded in the case log; the first case opens with its result card, and a decision and an
outcome entered there land in the log. Also: a corrupt log is reported and triage still works."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "app_pages" / "worklist.py")
DEMO = REPO / "models" / "demo"
TIER_RANK = {"HIGH": 0, "MODERATE": 1, "LOW": 2}


@pytest.fixture(scope="module")
def photos(pad_dir) -> list[tuple[str, bytes, object]]:
    """10 real photos, at least 3 of them HIGH under the demo bundle, with their results computed directly."""
    from skintag.model import load_bundle
    from skintag.triage import triage_many

    pool = sorted((pad_dir / "images").glob("*.png"))[:40]
    results = triage_many(load_bundle(DEMO), pool)
    high = [(p, r) for p, r in zip(pool, results, strict=True) if r.tier == "HIGH"][:3]
    rest = [(p, r) for p, r in zip(pool, results, strict=True) if r.tier in ("LOW", "MODERATE")][:7]
    assert len(high) == 3 and len(rest) == 7, "the demo bundle should call 3 of these 40 photos HIGH"
    return [(p.name, p.read_bytes(), r) for p, r in rest + high]  # uploaded with the HIGH ones last


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SKINTAG_MODEL_DIR", str(DEMO))
    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(tmp_path / "appdata"))
    monkeypatch.delenv("SKINTAG_CASELOG_URL", raising=False)
    return AppTest.from_file(PAGE, default_timeout=240)


def test_ten_photos_are_triaged_high_first_logged_and_open_as_cases(app, photos, tmp_path):
    from skintag.caselog import CaseLog

    at = app.run()
    assert not at.exception and any("Upload several photos" in i.value for i in at.info)
    at.file_uploader(key="uploads").set_value([(n, d, "image/png") for n, d, _ in photos])
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    bars = at.get("progress")
    assert len(bars) == 1 and bars[0].proto.text == "Triaged 10 images." and bars[0].proto.value == 100
    table = at.dataframe[0].value
    expected = sorted(photos, key=lambda x: (TIER_RANK[x[2].tier], -x[2].p_malignant, x[0]))
    assert list(table["file"]) == [n for n, _, _ in expected]
    assert list(table["tier"])[:3] == ["HIGH"] * 3 and list(table["rank"]) == list(range(1, 11))
    log_path = tmp_path / "appdata" / "caselog.sqlite3"
    with CaseLog(log_path) as log:
        cases = log.cases().set_index("case_id")
        assert len(cases) == 10 and set(cases.index) == set(table["case_id"])
        assert sorted(cases["y_score"]) == pytest.approx(sorted(r.p_malignant for _, _, r in photos))
    # the first row (the top HIGH case) is open: result card, report download, the forms
    assert at.selectbox(key="open_case").value.startswith("#1 HIGH")
    tier_html = next(m.value for m in at.markdown if "triage-tier" in m.value)
    assert "HIGH" in tier_html
    first = table["case_id"].iloc[0]
    next(b for b in at.button if b.label == "Save decision")  # the form is there
    at.selectbox(key=f"action_{first}").set_value("biopsy")
    at = next(b for b in at.button if b.label == "Save decision").click().run()
    assert not at.exception and any(s.value == "Decision saved." for s in at.success)
    at.selectbox(key=f"diagnosis_{first}").set_value("Melanoma")
    at = next(b for b in at.button if b.label == "Save outcome").click().run()
    assert not at.exception and any(s.value == "Outcome saved." for s in at.success)
    with CaseLog(log_path) as log:
        row = log.cases().set_index("case_id").loc[first]
        assert (row["decision_action"], row["decision_agree"], row["diagnosis"], row["y_true"]) == (
            "biopsy", True, "Melanoma", 1)
        assert list(log.history(first)["author"]) == ["localhost"] * 3  # recorded, decision, outcome
    assert at.get("download_button")


def test_a_corrupt_log_is_reported_and_triage_still_works(app, photos, tmp_path):
    (tmp_path / "appdata").mkdir()
    (tmp_path / "appdata" / "caselog.sqlite3").write_bytes(b"not a database " * 400)
    at = app.run()
    at.file_uploader(key="uploads").set_value([(n, d, "image/png") for n, d, _ in photos[:3]])
    at = at.run()
    assert not at.exception
    assert any("case log is unavailable" in w.value and "not a readable SQLite database" in w.value
               for w in at.warning)
    assert len(at.dataframe[0].value) == 3
    assert any("Decisions and outcomes need the case log" in c.value for c in at.caption)


def test_two_uploads_with_one_file_name_stay_two_cases(app, photos, tmp_path):
    """Two different photos both called IMG_0001.png: two rows, each case opens its own image's result and report
    (not the other's), and the log holds both scores."""
    from skintag.caselog import CaseLog
    from skintag.triage import format_probability

    (_, low_data, low), (_, high_data, high) = photos[0], photos[-1]
    assert low.tier != high.tier
    at = app.run()
    at.file_uploader(key="uploads").set_value([("IMG_0001.png", low_data, "image/png"),
                                                ("IMG_0001.png", high_data, "image/png")])
    at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["file"]) == ["IMG_0001.png (2)", "IMG_0001.png"]  # the HIGH one ranks first
    assert list(table["tier"]) == [high.tier, low.tier]
    for label, expected in zip(at.selectbox(key="open_case").options, (high, low), strict=True):
        at = at.selectbox(key="open_case").set_value(label).run()
        assert not at.exception
        tier_html = next(m.value for m in at.markdown if "triage-tier" in m.value)
        assert f">{expected.tier}" in tier_html
        metric = next(m for m in at.metric if m.label == "Calibrated probability of malignancy")
        assert metric.value == format_probability(expected.p_malignant)
    with CaseLog(tmp_path / "appdata" / "caselog.sqlite3") as log:
        assert sorted(log.cases()["y_score"]) == pytest.approx(sorted([low.p_malignant, high.p_malignant]))
