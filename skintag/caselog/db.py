"""Connections to the case-log database: engines for SQLite and any other SQLAlchemy URL, the schema migrations applied
on open, retries of transactions that meet a lock, and plain-language errors for a database that cannot be used.

SQLite is opened in WAL mode (readers never block the writer), with ``synchronous=FULL`` (a committed row survives a
crash of the app or the machine), foreign keys on and a busy timeout; every write transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of deadlocking, and a transaction that still meets a
lock after the busy timeout is retried (:func:`run_write`). A new SQLite file is created readable and writable by its
owner only (mode 0600; SQLite gives its ``-wal`` and ``-shm`` files the same mode).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc

from skintag.errors import ArgumentError, FileContentError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Owner read/write only: the mode of a new SQLite case log and of stored images.
FILE_MODE = 0o600
#: Attempts of one write transaction that meets a lock (each after the driver's own busy wait).
WRITE_ATTEMPTS = 5
#: PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock, lock not available.
_PG_RETRY = frozenset({"40001", "40P01", "55P03"})
#: Serialises PostgreSQL migrations of one database between processes (an arbitrary constant).
_PG_MIGRATION_LOCK = 0x5CA5E106

T = TypeVar("T")


class CaseLogError(FileContentError):
    """The case log cannot be used: its database is corrupt, locked for too long, unreachable, or of a newer schema.
    The message says which, where, and what to do; triage itself does not need the log."""


def sqlite_path(url: sa.URL) -> Path | None:
    """The database file of a SQLite URL (None for another database)."""
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ArgumentError(
            f"The case log needs a SQLite file, not {url.database or 'an in-memory database'!r} "
            "(several connections must see the same rows); use sqlite:////absolute/path/caselog.sqlite3."
        )
    return Path(url.database).expanduser()


def where(url: sa.URL) -> str:
    """The database named for messages (password hidden)."""
    path = sqlite_path(url)
    return str(path) if path is not None else url.render_as_string(hide_password=True)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (an empty file is a valid empty SQLite database)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))


def unwritable(path: Path, error: OSError) -> CaseLogError:
    """The message for a case-log file or folder that cannot be created or written (a read-only or missing app data
    folder, a path through a regular file, a full disk)."""
    return CaseLogError(
        f"The case log cannot be written at {path} ({error.strerror or error}). The app data folder is read-only, "
        "full or not a folder: check its permissions, or set SKINTAG_APP_DATA_DIR or SKINTAG_CASELOG_URL to a "
        "writable location. Triage works without the log meanwhile."
    )


def make_engine(url: sa.URL, *, busy_timeout_s: float) -> sa.Engine:
    """An engine for the case log; for SQLite, the file is created 0600 first and every connection gets the pragmas
    above. Write transactions use ``engine.execution_options(write=True)``."""
    path = sqlite_path(url)
    if path is None:
        return sa.create_engine(url, pool_pre_ping=True)
    try:
        create_private_file(path)
    except OSError as error:
        raise unwritable(path, error) from error
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the sqlite3 module
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA temp_store = MEMORY")  # the newest-row GROUP BYs of CaseLog.cases()
            cur.execute("PRAGMA mmap_size = 268435456")  # reads of a large log without copying pages
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


def _retryable(error: exc.DBAPIError) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    if code in _PG_RETRY:
        return True
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def translate(error: exc.SQLAlchemyError, url: sa.URL) -> CaseLogError:
    """A :class:`CaseLogError` that says in words what went wrong with the database at ``url``."""
    place = where(url)
    text = str(getattr(error, "orig", None) or error)
    low = text.lower()
    if "file is not a database" in low or "malformed" in low or "file is encrypted" in low:
        return CaseLogError(
            f"The case log {place} is not a readable SQLite database (it is corrupt or not a case log: {text}). "
            "Move it aside and restore the latest backup (`python -m skintag.caselog backup` makes them); triage "
            "works without the log meanwhile."
        )
    if "locked" in low or "busy" in low:
        return CaseLogError(
            f"The case log {place} stayed locked by another program beyond the wait ({text}). Close the other "
            "program (a database browser holding a write transaction?) and try again; nothing was written."
        )
    if "unable to open" in low or "readonly" in low or "read-only" in low or "permission" in low:
        return CaseLogError(f"The case log {place} cannot be opened for writing ({text}). Check the folder's "
                            "permissions, or set SKINTAG_CASELOG_URL to another location.")
    if "append-only" in low:
        return CaseLogError(f"The case log {place} is append-only; a change must be a new row ({text}).")
    if isinstance(error, exc.OperationalError | exc.InterfaceError):
        return CaseLogError(f"The case log database {place} cannot be reached ({text.strip()}). Check the server and "
                            "SKINTAG_CASELOG_URL; triage works without the log meanwhile.")
    return CaseLogError(f"The case log {place} failed: {text.strip()}")


def run_write(engine: sa.Engine, url: sa.URL, work: Callable[[sa.Connection], T], *,
              attempts: int = WRITE_ATTEMPTS) -> T:
    """Run ``work(conn)`` in one write transaction (committed when it returns, rolled back if it raises); retry it,
    with a short random back-off, when the database reports a lock or a serialization conflict."""
    writer = engine.execution_options(write=True)
    for attempt in range(1, attempts + 1):
        try:
            with writer.begin() as conn:
                return work(conn)
        except exc.DBAPIError as error:
            if attempt < attempts and _retryable(error):
                time.sleep(random.uniform(0.01, 0.05) * attempt)
                continue
            if isinstance(error, exc.IntegrityError):
                raise
            raise translate(error, url) from error
    raise AssertionError("unreachable")  # pragma: no cover


def run_read(engine: sa.Engine, url: sa.URL, work: Callable[[sa.Connection], T]) -> T:
    """Run ``work(conn)`` in one read transaction (a consistent snapshot), with errors in words."""
    try:
        with engine.connect() as conn, conn.begin():
            return work(conn)
    except exc.SQLAlchemyError as error:
        raise translate(error, url) from error


# --- migrations -------------------------------------------------------------------------------------------------------


def _script_directory() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    """The newest schema revision this SkinTag knows."""
    return str(_script_directory().get_current_head())


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision of the database (None for a new, empty one)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(conn: sa.Connection, revision: str = "head") -> None:
    """Apply the shipped migrations up to ``revision`` on ``conn`` (inside its open transaction)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def migrate(engine: sa.Engine, url: sa.URL, revision: str = "head") -> str:
    """Bring the database to ``revision`` (default: the newest) and return the revision it is at. Runs in one write
    transaction, so concurrent openers wait for each other and a failed migration leaves the old schema in place; a
    database already there costs one query. A database of a revision this SkinTag does not know (written by a newer
    version) is refused, never changed."""
    scripts = _script_directory()
    known = {s.revision for s in scripts.walk_revisions()}
    target = scripts.get_current_head() if revision == "head" else revision

    def work(conn: sa.Connection) -> str:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        found = current_revision(conn)
        if found is not None and found not in known:
            raise CaseLogError(
                f"The case log {where(url)} has schema revision {found!r}, which this SkinTag does not know (known: "
                f"{sorted(known)}): it was written by a newer SkinTag. Upgrade SkinTag; the log was not changed."
            )
        if found != target:
            upgrade(conn, target)
        return str(target)

    return run_write(engine, url, work)
