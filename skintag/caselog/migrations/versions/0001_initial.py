"""The first case-log schema: cases (one row per triaged image, never changed), and the append-only histories of
case fields, clinician decisions and confirmed outcomes.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
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
    )
    op.create_index("ix_cases_recorded_at", "cases", ["recorded_at"])
    op.create_table(
        "case_fields",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
        sa.Column("author", sa.String(128)),
        sa.Column("lesion_id", sa.String(64)),
        sa.Column("skin_type", sa.SmallInteger),
        sa.Column("age_band", sa.String(16)),
        sa.Column("sex", sa.String(16)),
        sa.Column("site", sa.String(64)),
    )
    op.create_index("ix_case_fields_case_id", "case_fields", ["case_id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("decided_at", TZ, nullable=False),
        sa.Column("author", sa.String(128)),
        sa.Column("agree", sa.Boolean, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_decisions_case_id", "decisions", ["case_id"])
    op.create_table(
        "outcomes",
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
    op.create_index("ix_outcomes_case_id", "outcomes", ["case_id"])


def downgrade() -> None:
    for table in ("outcomes", "decisions", "case_fields", "cases"):
        op.drop_table(table)
