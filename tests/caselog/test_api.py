"""The case-log API on SQLite and on PostgreSQL: record / set_decision / set_outcome / set_case_fields, the
append-only history, outcomes() ready for the fairness report, and the refusals (unknown fields, bad values)."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from skintag.caselog import CASE_COLUMNS, OUTCOME_COLUMNS, CaseLog
from skintag.errors import ArgumentError
from skintag.fairness import fairness_report
from tests.caselog.conftest import MODEL, old_result, result


def test_record_stores_the_model_the_result_and_the_case_fields(log_url):
    res = result(0.72, top=0)
    with CaseLog(log_url) as log:
        case_id = log.record(res, case={"case_id": "C-001", "lesion_id": "L7", "skin_type": "IV", "age_band": "45-59",
                                        "sex": "Female", "site": "back"}, image=b"fake-bytes", author="dr-a")
        assert case_id == "C-001" and log.count() == 1
        stored = log.table("cases").iloc[0]
        assert (stored["model_name"], stored["model_version"], stored["model_fingerprint"]) == (
            "demo", "1.0.0", MODEL["fingerprint"])
        assert stored["image_sha256"] == hashlib.sha256(b"fake-bytes").hexdigest()
        assert pd.isna(stored["image_file"])  # not kept without opting in
        assert json.loads(stored["result_json"]) == res.to_dict()
        assert log.result("C-001") == res.to_dict()
        assert (stored["tier"], stored["p_malignant"], stored["threshold_moderate"]) == ("HIGH", 0.72, 0.3)
        row = log.cases().iloc[0]
        assert (row["skin_type"], row["age_band"], row["sex"], row["site"], row["lesion_id"]) == (
            4, "45-59", "female", "back", "L7")
        assert not row["confirmed"]
        assert pd.isna(row["y_true"]) and row["y_pred"] == 1


def test_generated_case_ids_are_unique_and_a_duplicate_is_refused(log_url):
    with CaseLog(log_url) as log:
        ids = {log.record(result(0.1)) for _ in range(5)}
        assert len(ids) == 5 and all(len(i) == 16 for i in ids)
        log.record(result(0.1), case={"case_id": "X1"})
        with pytest.raises(ArgumentError, match="already in the case log"):
            log.record(result(0.2), case={"case_id": "X1"})
        assert log.count() == 6


def test_direct_identifiers_and_bad_values_are_refused(log_url):
    with CaseLog(log_url) as log:
        with pytest.raises(ArgumentError, match=r"Unknown case field\(s\) \['date_of_birth', 'name'\]"):
            log.record(result(0.1), case={"name": "Jane Doe", "date_of_birth": "1970-01-01"})
        with pytest.raises(ArgumentError, match="not a pseudonymous id"):
            log.record(result(0.1), case={"case_id": "Jane Doe 1970"})
        with pytest.raises(ArgumentError, match="not a Fitzpatrick type"):
            log.record(result(0.1), case={"skin_type": 7})
        with pytest.raises(ArgumentError, match="not an age band"):
            log.record(result(0.1), case={"age_band": "middle"})
        assert log.count() == 0
        case_id = log.record(result(0.1))
        with pytest.raises(ArgumentError, match="not one of"):
            log.set_decision(case_id, agree=True, action="ignore")
        with pytest.raises(ArgumentError, match="needs the clinician's tier"):
            log.set_decision(case_id, agree=False, action="refer")
        with pytest.raises(ArgumentError, match="not a SkinTag condition"):
            log.set_outcome(case_id, "Wart")
        with pytest.raises(ArgumentError, match="not a SkinTag condition id"):
            log.set_outcome(case_id, 10)
        with pytest.raises(ArgumentError, match="confirmed_by"):
            log.set_outcome(case_id, 0, confirmed_by="guess")
        with pytest.raises(ArgumentError, match="No case 'nope'"):
            log.set_outcome("nope", 0)
        assert log.table("decisions").empty and log.table("outcomes").empty


def test_every_change_is_a_new_row_and_the_newest_is_current(log_url):
    with CaseLog(log_url) as log:
        cid = log.record(result(0.45), case={"skin_type": 2}, author="nurse")
        log.set_decision(cid, agree=True, action="monitor", author="dr-a")
        log.set_decision(cid, agree=False, tier="HIGH", action="biopsy", note="grew since March", author="dr-b")
        log.set_outcome(cid, "Melanocytic Nevus", confirmed_by="clinical", author="dr-a")
        log.set_outcome(cid, 0, confirmed_by="histopathology", date="2025-03-04", author="path")
        log.set_case_fields(cid, skin_type="V", author="dr-b")
        log.set_case_fields(cid, sex="male", author="dr-b")
        assert len(log.table("decisions")) == 2 and len(log.table("outcomes")) == 2
        assert len(log.table("case_fields")) == 2 and len(log.table("cases")) == 1
        row = log.cases().iloc[0]
        assert (row["decision_agree"], row["decision_tier"], row["decision_action"]) == (False, "HIGH", "biopsy")
        assert (row["diagnosis"], row["condition_id"], row["y_true"], row["confirmed_by"]) == (
            "Melanoma", 0, 1, "histopathology")
        assert row["outcome_date"] == pd.Timestamp("2025-03-04")
        assert (row["skin_type"], row["sex"]) == (5, "male")  # the second snapshot kept the first correction
        assert log.table("cases").iloc[0]["skin_type"] == 2  # the original row is untouched
        hist = log.history(cid)
        assert list(hist["kind"]) == ["recorded", "decision", "decision", "outcome", "outcome", "fields", "fields"]
        assert list(hist["author"]) == ["nurse", "dr-a", "dr-b", "dr-a", "path", "dr-b", "dr-b"]
        assert hist["at"].is_monotonic_increasing and str(hist["at"].dt.tz) == "UTC"
        assert "overrode: tier HIGH, action biopsy — grew since March" in list(hist["detail"])


@pytest.mark.parametrize("statement", ["UPDATE cases SET tier = 'LOW'", "DELETE FROM outcomes",
                                       "UPDATE decisions SET action = 'discharge'", "DELETE FROM case_fields"])
def test_the_database_refuses_updates_and_deletes(log_url, statement):
    with CaseLog(log_url) as log:
        cid = log.record(result(0.8))
        log.set_decision(cid, agree=True, action="refer")
        log.set_outcome(cid, 1)
        log.set_case_fields(cid, site="arm")
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(sa.text(statement))
        assert (log.table("cases")["tier"].tolist(), len(log.table("outcomes"))) == (["HIGH"], 1)


def test_outcomes_feed_the_fairness_report(log_url):
    # 4 skin types × (malignant scored above / below the screening point, benign above / below): hand-countable
    plan = {1: (6, 2, 3, 9), 2: (5, 0, 1, 10), 5: (3, 3, 0, 6), 6: (4, 1, 2, 5)}  # (TP, FN, FP, TN)
    with CaseLog(log_url) as log:
        for skin, (tp, fn, fp, tn) in plan.items():
            for n, p, diagnosis in ((tp, 0.7, "Melanoma"), (fn, 0.1, "Basal Cell Carcinoma"), (fp, 0.5, 4), (tn, 0.05, 5)):
                for _ in range(n):
                    cid = log.record(result(p), case={"skin_type": skin})
                    log.set_outcome(cid, diagnosis)
        log.record(result(0.9), case={"skin_type": 3})  # unconfirmed: not in outcomes()
        log.set_outcome(log.record(result(None), case={"skin_type": 3}), 0)  # rejected photo: no score
        df = log.outcomes()
    assert list(df.columns) == list(OUTCOME_COLUMNS)
    assert len(df) == sum(map(sum, plan.values())) and df["y_true"].dtype == int and df["y_pred"].dtype == int
    assert set(df["threshold"]) == {0.3}
    report = fairness_report(df["y_true"], df["y_score"], df["skin_type"], threshold=0.3, n_boot=200, random_state=0)
    tpr = report.by_group["tpr"]
    for skin, (tp, fn, _, _) in plan.items():
        label = ["I", "II", "III", "IV", "V", "VI"][skin - 1]
        assert tpr[label] == pytest.approx(tp / (tp + fn))
    assert report.by_group.loc["V", "positives"] == 6 and report.by_group.loc["II", "fpr"] == pytest.approx(1 / 11)


def test_domain_fields_are_read_from_newer_results_with_defaults(log_url):
    with CaseLog(log_url) as log:
        a = log.record(result(0.2, domain="clinical", in_domain=False))
        b = log.record(old_result(0.2))  # a result without domain fields
        c = log.record(result(0.2, domain="dermoscopic", in_domain=True), case={"domain": "smartphone"})
        df = log.cases().set_index("case_id")
    assert (df.loc[a, "domain"], df.loc[a, "in_domain"]) == ("clinical", False)
    assert pd.isna(df.loc[b, "domain"]) and pd.isna(df.loc[b, "in_domain"])
    assert (df.loc[c, "domain"], df.loc[c, "in_domain"]) == ("smartphone", True)  # the clinician's field wins


def test_the_window_since_a_time(log_url):
    with CaseLog(log_url) as log:
        log.record(result(0.2))
        cut = pd.Timestamp.now(tz="UTC").to_pydatetime()
        log.record(result(0.3))
        assert len(log.cases()) == 2 and len(log.cases(since=cut)) == 1


def test_column_subsets_and_outcomes_agree_with_the_full_view(log_url):
    # corrections, overrides and outcome revisions: every subset read must pick the same newest rows as the full view
    with CaseLog(log_url) as log:
        ids = [log.record(result(p), case={"skin_type": 1 + i % 6, "site": "arm"})
               for i, p in enumerate((0.1, 0.45, 0.8, 0.2, 0.65))]
        rejected = log.record(result(None), case={"skin_type": 3})
        log.set_outcome(rejected, "Melanoma")  # confirmed but unscored: not in outcomes()
        log.set_case_fields(ids[0], skin_type=6)
        log.set_case_fields(ids[0], site=None)  # a cleared field stays cleared, not the original "arm"
        log.set_decision(ids[1], agree=True, action="monitor")
        log.set_decision(ids[1], agree=False, tier="HIGH", action="biopsy")
        log.set_outcome(ids[1], "Melanocytic Nevus")
        log.set_outcome(ids[1], "Melanoma")  # revised: the newest outcome counts
        log.set_outcome(ids[2], 4)
        log.set_outcome(ids[4], "Basal Cell Carcinoma")
        full = log.cases()
        assert list(full.columns) == list(CASE_COLUMNS)
        assert full.loc[0, "skin_type"] == 6 and pd.isna(full.loc[0, "site"]) and full.loc[2, "site"] == "arm"
        assert (full.loc[1, "y_true"], full.loc[1, "decision_action"]) == (1, "biopsy")
        for cols in (["y_pred", "case_id"], ["skin_type", "site", "confirmed"], ["decided_at", "decision_tier"],
                     ["y_true", "diagnosis", "outcome_recorded_at"]):
            pd.testing.assert_frame_equal(log.cases(columns=cols), full[cols])
        conf = log.outcomes()
        assert list(conf["case_id"]) == [ids[1], ids[2], ids[4]]
        assert list(conf["y_true"]) == [1, 0, 1] and list(conf["y_pred"]) == [1, 1, 1]
        expected = full[full["confirmed"] & full["y_score"].notna()].reset_index(drop=True)
        for col in OUTCOME_COLUMNS:
            left, right = conf[col], expected[col]
            if col in ("y_true", "y_pred"):
                right = right.astype(int)
            pd.testing.assert_series_equal(left, right, check_names=False)
        assert list(log.outcomes(columns=["skin_type", "y_true"]).columns) == ["skin_type", "y_true"]
        with pytest.raises(ArgumentError, match=r"Unknown case-log column\(s\) \['note'\]"):
            log.cases(columns=["note"])
