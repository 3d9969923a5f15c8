"""The case log's tables at the newest schema revision, as SQLAlchemy Core objects for queries. The database is
created and upgraded only by the Alembic scripts in ``migrations/versions`` (never by ``metadata.create_all``);
``tests/caselog/test_migrations.py`` checks that these definitions and a migrated database agree."""

from __future__ import annotations

import sqlalchemy as sa

TZ = sa.DateTime(timezone=True)
metadata = sa.MetaData()

#: One row per triaged image, written once: the model that scored it, the full result JSON, the image's SHA-256 and
#: the case fields given at that time.
cases = sa.Table(
    "cases", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), nullable=False, unique=True),
    sa.Column("lesion_id", sa.String(64)),
    sa.Column("recorded_at", TZ, nullable=False),
    sa.Column("author", sa.String(128)),
    sa.Column("skin_type", sa.SmallInteger),
    sa.Column("age_band", sa.String(16)),
    sa.Column("sex", sa.String(16)),
    sa.Column("site", sa.String(64)),
    sa.Column("model_name", sa.String(128)),
    sa.Column("model_version", sa.String(64)),
    sa.Column("model_fingerprint", sa.String(128)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("tier", sa.String(16)),
    sa.Column("score_tier", sa.String(16)),
    sa.Column("p_malignant", sa.Float),
    sa.Column("threshold_moderate", sa.Float),
    sa.Column("threshold_high", sa.Float),
    sa.Column("image_sha256", sa.String(64)),
    sa.Column("image_file", sa.String(255)),
    sa.Column("result_json", sa.Text, nullable=False),
    sa.Column("domain", sa.String(32)),
    sa.Column("in_domain", sa.Boolean),
)

#: A later correction of a case's fields: a full snapshot of them (the newest row wins over ``cases``).
case_fields = sa.Table(
    "case_fields", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("changed_at", TZ, nullable=False),
    sa.Column("author", sa.String(128)),
    sa.Column("lesion_id", sa.String(64)),
    sa.Column("skin_type", sa.SmallInteger),
    sa.Column("age_band", sa.String(16)),
    sa.Column("sex", sa.String(16)),
    sa.Column("site", sa.String(64)),
    sa.Column("domain", sa.String(32)),
)

#: The clinician's decision on a case (the newest row is the current one).
decisions = sa.Table(
    "decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("decided_at", TZ, nullable=False),
    sa.Column("author", sa.String(128)),
    sa.Column("agree", sa.Boolean, nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("note", sa.Text),
)

#: A confirmed outcome (diagnosis) of a case (the newest row is the current one).
outcomes = sa.Table(
    "outcomes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("recorded_at", TZ, nullable=False),
    sa.Column("author", sa.String(128)),
    sa.Column("condition_id", sa.SmallInteger, nullable=False),
    sa.Column("diagnosis", sa.String(64), nullable=False),
    sa.Column("malignant", sa.Boolean, nullable=False),
    sa.Column("confirmed_by", sa.String(16), nullable=False),
    sa.Column("outcome_date", sa.Date),
)

TABLES: dict[str, sa.Table] = {t.name: t for t in (cases, case_fields, decisions, outcomes)}
