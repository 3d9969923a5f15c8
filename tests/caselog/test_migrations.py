"""Schema migrations: a database made by the first schema (revision 0001), with cases, decisions and outcomes in it,
is upgraded on open — never dropped — on SQLite and on PostgreSQL; the migrated schema is the one the code queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from skintag.caselog import CaseLog
from skintag.caselog import db as caselog_db
from skintag.caselog.schema import metadata
from tests.caselog.conftest import old_result, result


def _first_schema_log(url: str) -> None:
    """A log as SkinTag with only migration 0001 wrote it: plain inserts into the 0001 tables."""
    engine = caselog_db.make_engine(sa.make_url(url), busy_timeout_s=5)
    assert caselog_db.migrate(engine, sa.make_url(url), "0001") == "0001"
    old = result(0.72, domain="dermoscopic", in_domain=True)  # the JSON already carried a domain
    plain = old_result(0.1)
    now = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    with engine.begin() as conn:
        assert "domain" not in {c["name"] for c in sa.inspect(conn).get_columns("cases")}
        for case_id, payload, tier, p in (("old-1", old, "HIGH", 0.72), ("old-2", plain, "LOW", 0.1)):
            conn.execute(sa.text(
                "INSERT INTO cases (case_id, recorded_at, skin_type, model_name, model_version, status, tier, "
                "p_malignant, threshold_moderate, threshold_high, result_json) VALUES (:c, :t, 6, 'demo', '0.9', "
                "'ok', :tier, :p, 0.3, 0.6, :j)"), {"c": case_id, "t": now, "tier": tier, "p": p,
                                                   "j": json.dumps(payload)})
        conn.execute(sa.text("INSERT INTO decisions (case_id, decided_at, author, agree, tier, action) "
                             "VALUES ('old-1', :t, 'dr-a', true, 'HIGH', 'biopsy')"), {"t": now})
        conn.execute(sa.text("INSERT INTO outcomes (case_id, recorded_at, condition_id, diagnosis, malignant, "
                             "confirmed_by) VALUES ('old-1', :t, 0, 'Melanoma', true, 'histopathology')"), {"t": now})
    engine.dispose()


def test_a_first_schema_log_is_upgraded_with_its_rows(log_url):
    _first_schema_log(log_url)
    with CaseLog(log_url) as log:
        assert log.revision == caselog_db.head_revision() == "0002"
        df = log.cases().set_index("case_id")
        assert list(df.index) == ["old-1", "old-2"]
        assert (df.loc["old-1", "domain"], df.loc["old-1", "in_domain"]) == ("dermoscopic", True)  # backfilled
        assert pd.isna(df.loc["old-2", "domain"]) and pd.isna(df.loc["old-2", "in_domain"])
        assert (df.loc["old-1", "diagnosis"], df.loc["old-1", "y_true"], df.loc["old-1", "decision_action"]) == (
            "Melanoma", 1, "biopsy")
        assert df.loc["old-1", "recorded_at"] == datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
        log.set_outcome("old-2", "Melanocytic Nevus")  # the upgraded log takes new rows
        assert len(log.outcomes()) == 2
    with CaseLog(log_url) as log:  # reopening: already at head, nothing to do
        assert log.revision == "0002" and log.count() == 2


def test_the_migrated_schema_is_the_one_the_code_queries(log_url):
    CaseLog(log_url).close()
    engine = sa.create_engine(log_url)
    try:
        inspector = sa.inspect(engine)
        for table in metadata.sorted_tables:
            found = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert list(found) == [c.name for c in table.columns], table.name
            for column in table.columns:
                assert found[column.name]["nullable"] == column.nullable, (table.name, column.name)
        assert {fk["referred_table"] for fk in inspector.get_foreign_keys("outcomes")} == {"cases"}
    finally:
        engine.dispose()
