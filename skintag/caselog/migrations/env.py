"""Alembic environment of the case log. :func:`skintag.caselog.db.migrate` runs it programmatically with an open
connection in ``config.attributes["connection"]`` (inside the caller's transaction, which holds the write lock), so
there is no ``alembic.ini`` and no URL here."""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI by hand
    raise RuntimeError("Run the case-log migrations through skintag.caselog (CaseLog(url) applies them on open).")
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
