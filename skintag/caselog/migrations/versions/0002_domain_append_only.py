"""Imaging domain per case, and the database itself refusing UPDATE and DELETE on every log table.

Adds ``cases.domain`` / ``cases.in_domain`` (the triage result's domain and whether the image was inside it) and
``case_fields.domain``, filled for existing cases from their stored result JSON (``null`` where the result predates
domains), then installs triggers that abort any UPDATE or DELETE: the log is append-only, a change is a new row.

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("cases", "case_fields", "decisions", "outcomes")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("domain", sa.String(32)))
        batch.add_column(sa.Column("in_domain", sa.Boolean))
    with op.batch_alter_table("case_fields") as batch:
        batch.add_column(sa.Column("domain", sa.String(32)))
    conn = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("result_json", sa.Text),
                     sa.column("domain", sa.String), sa.column("in_domain", sa.Boolean))
    for row_id, text in conn.execute(sa.select(cases.c.id, cases.c.result_json)).all():
        try:
            result = json.loads(text)
        except ValueError:
            continue
        domain, inside = result.get("domain"), result.get("in_domain")
        if domain is not None or inside is not None:
            conn.execute(sa.update(cases).where(cases.c.id == row_id).values(
                domain=None if domain is None else str(domain)[:32],
                in_domain=None if inside is None else bool(inside)))
    if conn.dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION skintag_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'the SkinTag case log is append-only: % on % refused', TG_OP, TG_TABLE_NAME; END $$"
        )
    for table in TABLES:
        for verb in ("UPDATE", "DELETE"):
            name = f"{table}_no_{verb.lower()}"
            if conn.dialect.name == "postgresql":
                op.execute(f"CREATE TRIGGER {name} BEFORE {verb} ON {table} FOR EACH ROW "
                           "EXECUTE FUNCTION skintag_append_only()")
            else:
                op.execute(f"CREATE TRIGGER {name} BEFORE {verb} ON {table} BEGIN "
                           f"SELECT RAISE(ABORT, 'the SkinTag case log is append-only: {verb} on {table} refused'); "
                           "END")


def downgrade() -> None:
    conn = op.get_bind()
    for table in TABLES:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}" + (f" ON {table}" if conn.dialect.name ==
                                                                     "postgresql" else ""))
    if conn.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS skintag_append_only()")
    with op.batch_alter_table("case_fields") as batch:
        batch.drop_column("domain")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("in_domain")
        batch.drop_column("domain")
