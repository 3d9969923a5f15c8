"""Export (CSV / Parquet) and online backup, the CLI, the localhost / sign-in rule, and the monitoring view with
hand-counted sensitivities, alerts and unconfirmed cases."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skintag.caselog import CaseLog, CaseLogError
from skintag.caselog.access import decide, is_local_request
from skintag.caselog.export import backup, export_log
from skintag.caselog.monitor import coverage, monitor, months, select_window, versions
from skintag.fairness.report import OUTSIDE
from tests.caselog.conftest import result

REPO = Path(__file__).resolve().parents[2]


def _filled(log: CaseLog, n: int = 20) -> None:
    for i in range(n):
        cid = log.record(result(i / n), case={"skin_type": 1 + i % 6})
        if i % 3 == 0:
            log.set_decision(cid, agree=True, action="refer")
        if i % 2 == 0:
            log.set_outcome(cid, i % 10)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_every_table_and_the_current_view(log_url, tmp_path, fmt):
    with CaseLog(log_url) as log:
        _filled(log)
        files = export_log(log, tmp_path / "out", fmt=fmt)
        expected = {"cases": 20, "case_fields": 0, "decisions": 7, "outcomes": 10, "current": 20}
        read = pd.read_csv if fmt == "csv" else pd.read_parquet
        assert {f.stem: len(read(f)) for f in files} == expected
        assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
        current = read(tmp_path / "out" / f"current.{fmt}")
        assert int(current["confirmed"].sum()) == 10 and list(current["case_id"]) == list(log.cases()["case_id"])


def test_backup_while_writers_run_is_complete_and_private(tmp_path):
    path = tmp_path / "live.sqlite3"
    with CaseLog(path) as log:
        _filled(log, 200)
        stop = threading.Event()

        def writer() -> None:
            with CaseLog(path) as other:
                while not stop.is_set():
                    other.record(result(0.5))

        t = threading.Thread(target=writer)
        t.start()
        try:
            dest = backup(log, tmp_path / "backup.sqlite3")
        finally:
            stop.set()
            t.join()
        with pytest.raises(ValueError, match="exists"):
            backup(log, dest)
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    con = sqlite3.connect(dest)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 100
    assert con.execute("SELECT count(*) FROM cases").fetchone()[0] >= 200
    con.close()
    with CaseLog(dest) as copy:  # the copy is a case log in its own right
        assert len(copy.outcomes()) == 100


def test_postgresql_backup_points_to_pg_dump(pg_schema_url, tmp_path):
    with CaseLog(pg_schema_url) as log, pytest.raises(CaseLogError, match="pg_dump"):
        backup(log, tmp_path / "x.sqlite3")


def test_cli_export_and_backup(tmp_path):
    path = tmp_path / "cli.sqlite3"
    with CaseLog(path) as log:
        _filled(log, 6)
    env = {**os.environ, "SKINTAG_APP_DATA_DIR": str(tmp_path / "unused")}
    out = subprocess.run([sys.executable, "-m", "skintag.caselog", "--url", str(path), "export", str(tmp_path / "e")],
                         cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("6 cases from ") and (tmp_path / "e" / "outcomes.csv").is_file()
    out = subprocess.run([sys.executable, "-m", "skintag.caselog", "--url", str(path), "backup", str(tmp_path / "b.db")],
                         cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0 and "integrity check ok" in out.stdout, out.stderr
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"x" * 5000)
    out = subprocess.run([sys.executable, "-m", "skintag.caselog", "--url", str(bad), "export", str(tmp_path / "z")],
                         cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 2 and "not a readable SQLite database" in out.stderr and "Traceback" not in out.stderr


# --- access -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ip", "headers", "local"), [
    (None, {}, True),  # no web request at all (AppTest, bare run)
    (None, {"Host": "localhost:8501"}, True),  # st.context.ip_address is None for a loopback client
    (None, {"Host": "127.0.0.1:8501"}, True),
    (None, {"Host": "[::1]:8501"}, True),
    ("127.0.0.1", {"Host": "localhost"}, True),
    ("192.168.1.20", {"Host": "192.168.1.5:8501"}, False),  # a colleague on the LAN
    (None, {"Host": "skintag.example.org"}, False),  # a reverse proxy on this machine, without forwarding headers
    (None, {"Host": "localhost:8501", "X-Forwarded-For": "203.0.113.9, 127.0.0.1"}, False),
    (None, {"Host": "localhost:8501", "Forwarded": 'for="[2001:db8::1]";proto=https'}, False),
    (None, {"Host": "localhost:8501", "X-Forwarded-For": "127.0.0.1"}, True),  # a local proxy for a local client
    ("2001:db8::7", {"Host": "localhost"}, False),
])
def test_is_local_request(ip, headers, local):
    assert is_local_request(ip, headers)[0] is local


def test_access_decision():
    remote = {"ip_address": "198.51.100.4", "headers": {"Host": "skintag.example.org"}}
    closed = decide(**remote, auth_configured=False, logged_in=False)
    assert not closed.allowed and not closed.needs_login
    assert "only on localhost until sign-in is configured" in closed.reason and "198.51.100.4" in closed.reason
    login = decide(**remote, auth_configured=True, logged_in=False)
    assert not login.allowed and login.needs_login and login.reason.startswith("Sign in")
    assert decide(**remote, auth_configured=True, logged_in=True).allowed
    local = decide(ip_address=None, headers={"Host": "localhost:8501"}, auth_configured=False, logged_in=False)
    assert local.allowed and local.local


# --- monitoring -------------------------------------------------------------------------------------------------------


def _cases(plan: dict[int | None, tuple[int, int, int, int, int]], month: str = "2025-03") -> pd.DataFrame:
    """A cases() frame: per skin type (TP, FN, FP, TN, unconfirmed) at threshold 0.3."""
    rows = []
    for skin, (tp, fn, fp, tn, unconf) in plan.items():
        for n, score, y in ((tp, 0.7, 1), (fn, 0.1, 1), (fp, 0.5, 0), (tn, 0.05, 0), (unconf, 0.4, None)):
            rows += [{"skin_type": skin, "y_score": score, "y_true": y, "confirmed": y is not None, "threshold": 0.3,
                      "y_pred": int(score >= 0.3), "recorded_at": pd.Timestamp(f"{month}-10", tz="UTC"),
                      "model_name": "demo", "model_version": "1", "age_band": None, "sex": None, "site": None,
                      "domain": None}] * n
    df = pd.DataFrame(rows)
    df["skin_type"] = df["skin_type"].astype("Int64")
    df["y_true"] = df["y_true"].astype("Int64")
    return df


def test_monitoring_sensitivity_alerts_and_missing_outcomes():
    plan = {1: (19, 1, 5, 40, 3), 2: (18, 2, 4, 40, 0), 6: (4, 8, 2, 20, 9), None: (3, 0, 1, 5, 2)}
    view = monitor(_cases(plan), target_sensitivity=0.9, n_boot=200)
    sens = view.sensitivity
    assert sens.loc["I", "tpr"] == pytest.approx(19 / 20) and sens.loc["VI", "tpr"] == pytest.approx(4 / 12)
    assert sens.loc["VI", "tpr_hi"] < 0.9 and bool(sens.loc["VI", "below_target"])  # Wilson upper ≈ 0.61
    assert not sens.loc["I", "below_target"] and not sens.loc["II", "below_target"]
    assert any(a.startswith("Sensitivity for fitzpatrick skin type VI: 0.33") for a in view.alerts)
    assert (view.report.verdicts["tpr"] == OUTSIDE) == any("TPR gap" in a for a in view.alerts)
    cov = view.coverage
    assert cov.loc["VI", "unconfirmed"] == 9 and cov.loc["VI", "confirmed"] == 34 and cov.loc["unknown", "cases"] == 11
    assert cov.loc["II", "unconfirmed"] == 0 and view.threshold == 0.3
    assert view.report.n_rows == sum(tp + fn + fp + tn for tp, fn, fp, tn, _ in plan.values())


def test_monitoring_audits_each_case_at_the_threshold_it_was_scored_with():
    """Dermoscopic cases (threshold 0.3) and phone photos (threshold 0.6) in one window: each is audited at its own
    threshold, on its score (so AUROC is that of the scores, not of the 0/1 calls)."""
    derm = _cases({1: (10, 2, 3, 20, 0)})  # scores 0.7 / 0.1 / 0.5 / 0.05 at threshold 0.3
    rows = []
    for score, y, n in ((0.8, 1, 6), (0.5, 1, 4), (0.4, 0, 5), (0.9, 0, 1)):  # at 0.6: TP 6, FN 4 (0.5), TN 5, FP 1
        rows += [{**derm.iloc[0].to_dict(), "y_score": score, "y_true": y, "threshold": 0.6,
                  "y_pred": int(score >= 0.6), "domain": "clinical"}] * n
    phone = pd.DataFrame(rows).astype(derm.dtypes.to_dict())
    view = monitor(pd.concat([derm, phone], ignore_index=True), n_boot=200)
    assert view.sensitivity.loc["I", "tpr"] == pytest.approx((10 + 6) / (12 + 10))
    assert view.report.by_group.loc["I", "tnr"] == pytest.approx((20 + 5) / (23 + 6))
    assert "0.3, 0.6" in view.rule and "call" not in view.rule and np.isnan(view.threshold)
    assert not any("calls are audited" in n for n in view.notes)
    assert 0.0 < view.report.by_group.loc["I", "auroc"] < 1.0 and view.report.by_group.loc["I", "auroc"] != 0.5


def test_monitoring_without_confirmed_outcomes_still_counts_missing_ones():
    view = monitor(_cases({3: (0, 0, 0, 0, 7)}))
    assert view.report is None and view.alerts == () and view.coverage.loc["III", "unconfirmed"] == 7


def test_windows_by_month_and_since_a_version():
    march, april = _cases({1: (2, 0, 0, 2, 1)}, "2025-03"), _cases({2: (1, 1, 1, 1, 0)}, "2025-04")
    april["model_version"] = "2"
    df = pd.concat([march, april], ignore_index=True)
    assert months(df) == ["2025-04", "2025-03"] and versions(df) == ["demo v1", "demo v2"]
    assert len(select_window(df, month="2025-03")) == 5 and len(select_window(df, since_version="demo v2")) == 4
    by_version = coverage(df, "model_version")
    assert by_version["cases"].to_dict() == {"demo v1": 5, "demo v2": 4}
    mixed = df.assign(threshold=[0.3] * 5 + [0.2] * 4)
    rule = monitor(mixed, n_boot=0).rule  # two versions' thresholds: each case at its own, on its score
    assert "each case was scored with (0.2, 0.3;" in rule and "call" not in rule
    assert "each case's own triage call" in monitor(mixed.assign(threshold=[0.3] * 8 + [None]), n_boot=0).rule
