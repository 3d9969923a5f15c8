"""Export and backup of the case log.

:func:`export_log` writes the whole log — every stored row of each table (the append-only history) and the current view
(:meth:`CaseLog.cases`, one row per case) — as CSV or Parquet files. :func:`backup` copies a SQLite log with SQLite's
online backup API, page batch by page batch, so the app may keep writing meanwhile; the copy is checked with
``PRAGMA integrity_check``. A PostgreSQL log is backed up with PostgreSQL's own ``pg_dump`` (see the README). Every
file written is created readable by its owner only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from skintag.caselog.db import CaseLogError, create_private_file
from skintag.caselog.schema import TABLES
from skintag.errors import ArgumentError
from skintag.fairness.export import csv_safe_frame

if TYPE_CHECKING:  # pragma: no cover
    from skintag.caselog.log import CaseLog

FORMATS = ("csv", "parquet")
#: Pages copied per step of the online backup (4 MB at SQLite's default page size), then the lock is released.
BACKUP_PAGES = 1024


def export_log(log: CaseLog, out_dir: str | Path, *, fmt: str = "csv") -> list[Path]:
    """Write ``cases``, ``case_fields``, ``decisions``, ``outcomes`` (as stored) and ``current`` (one row per case
    with its current fields, decision and outcome) into ``out_dir`` as ``<name>.csv`` or ``<name>.parquet``.
    In CSV, a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is written with a leading
    apostrophe (:func:`skintag.fairness.export.csv_safe`) so that a spreadsheet shows it instead of running it.
    Returns the files written."""
    if fmt not in FORMATS:
        raise ArgumentError(f"Export format {fmt!r} is not one of {list(FORMATS)}")
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    frames = {name: log.table(name) for name in TABLES}
    frames["current"] = log.cases()
    written = []
    for name, df in frames.items():
        path = out / f"{name}.{fmt}"
        create_private_file(path)
        if fmt == "csv":  # text cells a spreadsheet would run as a formula (=, +, -, @, tab, CR) get a leading ';
            # CRLF line ends (RFC 4180) make the writer quote a cell holding a bare carriage return
            csv_safe_frame(df).to_csv(path, index=False, lineterminator="\r\n")
        else:
            df.to_parquet(path, index=False)
        written.append(path)
    return written


def backup(log: CaseLog, dest: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a SQLite case log to ``dest`` while it stays in use (SQLite's online backup API) and check the copy.

    Raises
    ------
    CaseLogError
        The log is not a SQLite file (use ``pg_dump`` for PostgreSQL), or the copy fails its integrity check.
    ArgumentError
        ``dest`` exists and ``overwrite`` is false, or is the log itself.
    """
    source = log.path
    if source is None:
        raise CaseLogError(
            f"The case log {log.where} is a {log.url.get_backend_name()} database: back it up with the server's own "
            "tool, e.g. `pg_dump --format=custom --file caselog.dump \"$SKINTAG_CASELOG_URL\"` for PostgreSQL "
            "(restore with pg_restore); see the README."
        )
    target = Path(dest).expanduser().resolve()
    if target == source.resolve():
        raise ArgumentError("The backup cannot be written over the case log itself")
    if target.exists():
        if not overwrite:
            raise ArgumentError(f"{target} exists; choose another file or pass overwrite=True (--overwrite)")
        target.unlink()
    create_private_file(target)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=BACKUP_PAGES, sleep=0.005)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise CaseLogError(f"Backing up the case log {source} failed: {error}") from error
    finally:
        dst.close()
        src.close()
    if verdict != "ok":
        raise CaseLogError(f"The backup {target} failed its integrity check: {verdict}")
    return target
