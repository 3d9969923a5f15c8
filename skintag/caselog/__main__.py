"""``python -m skintag.caselog export OUT_DIR`` writes the whole case log as CSV (or ``--format parquet``);
``python -m skintag.caselog backup DEST.sqlite3`` copies a SQLite log safely while the app runs.

The log is the one the app uses (``$SKINTAG_CASELOG_URL``, else ``<app data>/caselog.sqlite3``) unless ``--url``
names another. A PostgreSQL log is backed up with ``pg_dump`` (see the README).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skintag.errors import SkintagError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skintag.caselog", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="SQLAlchemy URL or SQLite file of the log (default: the app's)")
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="write every table and the current view as CSV or Parquet")
    exp.add_argument("out_dir", type=Path)
    exp.add_argument("--format", choices=["csv", "parquet"], default="csv")
    bak = sub.add_parser("backup", help="copy a SQLite log with the online backup API")
    bak.add_argument("dest", type=Path)
    bak.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        from skintag.caselog import default_url
        from skintag.caselog.export import backup, export_log
        from skintag.caselog.log import CaseLog
        from skintag.settings import Settings

        settings = Settings.from_env()
        url = args.url or default_url(settings)
        with CaseLog(url, busy_timeout_s=settings.caselog_busy_timeout_s) as log:
            if args.command == "export":
                files = export_log(log, args.out_dir, fmt=args.format)
                print(f"{log.count()} cases from {log.where} written to:")
                for f in files:
                    print(f"  {f}")
            else:
                dest = backup(log, args.dest, overwrite=args.overwrite)
                print(f"{log.where} backed up to {dest} (integrity check ok)")
    except SkintagError as exc:
        parser.exit(2, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
