"""Monitoring page under AppTest on a case log with recorded outcomes: the alert for a skin type whose sensitivity
interval lies below the target, the per-group table, the missing outcomes per group, the fairness report; the window
selectors; and the message when the log cannot be opened."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.caselog.conftest import result

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "app_pages" / "monitoring.py")
#: per skin type: (TP, FN, FP, TN, unconfirmed) at the demo thresholds (moderate 0.3)
PLAN = {1: (19, 1, 4, 30, 2), 2: (18, 2, 3, 30, 0), 6: (3, 9, 2, 15, 6)}


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(tmp_path / "appdata"))
    monkeypatch.delenv("SKINTAG_CASELOG_URL", raising=False)
    return AppTest.from_file(PAGE, default_timeout=120)


def _fill(path: Path) -> None:
    from skintag.caselog import CaseLog

    with CaseLog(path) as log:
        for skin, (tp, fn, fp, tn, unconfirmed) in PLAN.items():
            for n, p, diagnosis in ((tp, 0.7, 0), (fn, 0.1, 1), (fp, 0.5, 4), (tn, 0.05, 5), (unconfirmed, 0.4, None)):
                for _ in range(n):
                    cid = log.record(result(p), case={"skin_type": skin})
                    if diagnosis is not None:
                        log.set_outcome(cid, diagnosis)


def test_monitoring_shows_alerts_sensitivity_and_missing_outcomes(app, tmp_path):
    _fill(tmp_path / "appdata" / "caselog.sqlite3")
    at = app.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    total = sum(map(sum, PLAN.values()))
    assert metrics["Cases in window"] == str(total) and metrics["Awaiting an outcome"] == "8"
    alerts = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]  # as shown: safe_md escapes are not seen
    assert any(a.startswith("Sensitivity for fitzpatrick skin type VI: 0.25") for a in alerts), alerts
    assert not any("type I:" in a or "type II:" in a for a in alerts)
    sens, cov = at.dataframe[0].value, at.dataframe[1].value  # sensitivity, coverage
    assert sens.loc["VI", "tpr"] == pytest.approx(0.25) and bool(sens.loc["VI", "below_target"])
    assert cov.loc["VI", "unconfirmed"] == 6 and cov.loc["I", "unconfirmed"] == 2 and cov.loc["II", "unconfirmed"] == 0
    assert len(at.dataframe) == 4  # + the fairness report's group and gap tables
    at.selectbox(key="month").set_value(at.selectbox(key="month").options[1])  # the one month that holds the cases
    at = at.run()
    assert not at.exception and {m.label: m.value for m in at.metric}["Cases in window"] == str(total)
    at.radio(key="window_kind").set_value("Since a model version")
    at = at.run()
    assert not at.exception and at.selectbox(key="since_version").value == "demo v1.0.0"
    at.slider(key="target").set_value(0.5)  # VI: 3/12, Wilson upper 0.53
    at = at.run()
    assert not at.exception and not any(e.value.startswith("Sensitivity for") for e in at.error)


def test_an_empty_log_and_a_corrupt_log_say_so(app, tmp_path, monkeypatch):
    at = app.run()
    assert not at.exception and any("holds no cases yet" in i.value for i in at.info)
    path = tmp_path / "other" / "caselog.sqlite3"
    path.parent.mkdir()
    path.write_bytes(b"not a database " * 400)
    monkeypatch.setenv("SKINTAG_APP_DATA_DIR", str(path.parent))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert any("case log is unavailable" in w.value and "not a readable SQLite database" in w.value for w in at.warning)
