"""The unified dataset table: column names and types, and the small IO helpers loaders share.

Every loader returns one row per image with :data:`COLUMNS` in this order (see docs/CONTRACTS.md §1). Text columns
use pandas' string dtype with missing values as ``NaN`` (test with ``pd.isna``); ``fitzpatrick`` and
``fitzpatrick_centaur`` are nullable ``Int64`` (1-6 or ``<NA>``); ``fitzpatrick_group`` is one of
:data:`skintag.fitzpatrick.GROUPS`. Skin-type values are parsed by :func:`skintag.fitzpatrick.parse` (the one parser).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from skintag.data.audit import UNREADABLE_ROW, LabelAudit, Problem
from skintag.errors import DataFileError

COLUMNS: list[str] = [
    "image_path",
    "dataset",
    "domain",
    "condition_id",
    "malignant",
    "raw_label",
    "fitzpatrick",
    "fitzpatrick_group",
    "fitzpatrick_source",
    "patient_id",
    "lesion_id",
    "age",
    "sex",
    "site",
    "image_id",
    "has_image",
    "official_split",
    "fitzpatrick_centaur",
]
DTYPES: dict[str, str] = {
    "image_path": "str",
    "dataset": "str",
    "domain": "str",
    "condition_id": "int64",
    "malignant": "int64",
    "raw_label": "str",
    "fitzpatrick": "Int64",
    "fitzpatrick_group": "str",
    "fitzpatrick_source": "str",
    "patient_id": "str",
    "lesion_id": "str",
    "age": "float64",
    "sex": "str",
    "site": "str",
    "image_id": "str",
    "has_image": "bool",
    "official_split": "str",
    "fitzpatrick_centaur": "Int64",
}
DOMAINS: tuple[str, ...] = ("dermoscopic", "clinical", "smartphone")
SPLITS: tuple[str, ...] = ("train", "val", "test")

# ---------------------------------------------------------------------------------------------------------------------
# Reading files


def require_file(path: Path, dataset: str, what: str) -> Path:
    """Return ``path`` if it is a file, else raise :class:`DataFileError` naming it and what it should hold."""
    if not path.is_file():
        raise DataFileError(f"{dataset}: metadata file {path} not found; expected {what}")
    return path


def read_csv_rows(
    path: Path,
    *,
    dataset: str,
    required: Iterable[str],
    audit: LabelAudit,
) -> pd.DataFrame:
    """Read a CSV as text, keeping each row's line number; rows whose field count differs from the header are
    recorded as ``UNREADABLE_ROW`` problems (never dropped silently).

    Handles a UTF-8 BOM, CRLF or LF line endings, a missing final newline, an unnamed leading index column (its header
    cell is empty; it becomes ``"_index"``), and blank lines (skipped: they hold no row).

    Returns
    -------
    pandas.DataFrame
        All columns as ``str`` ("" for empty cells) plus ``_line`` (int, the row's first line; the header is line 1).

    Raises
    ------
    DataFileError
        If the file cannot be decoded, is empty, or lacks a required column (the message names the file, the missing
        columns and the columns found).
    """
    required = list(required)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise DataFileError(f"{dataset}: {path} is empty; expected a header with columns {required}") from None
            header = [h.strip() for h in header]
            if header and header[0] == "":
                header[0] = "_index"
            missing = [c for c in required if c not in header]
            if missing:
                raise DataFileError(
                    f"{dataset}: {path} lacks column(s) {missing}; expected columns {required}, found {header}"
                )
            width = len(header)
            rows: list[list[str]] = []
            lines: list[int] = []
            prev_end = reader.line_num
            for fields in reader:
                start = prev_end + 1
                prev_end = reader.line_num
                if not fields:
                    continue
                if len(fields) != width:
                    text = ",".join(fields)
                    audit.add_problem(
                        Problem(
                            dataset,
                            str(path),
                            start,
                            "",
                            text[:120],
                            f"{width} comma-separated fields as in the header",
                            UNREADABLE_ROW,
                        )
                    )
                    continue
                rows.append(fields)
                lines.append(start)
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{dataset}: {path} is not UTF-8 text ({exc}); expected a CSV file") from exc
    except csv.Error as exc:
        raise DataFileError(f"{dataset}: {path} is not a readable CSV ({exc})") from exc
    df = pd.DataFrame(rows, columns=header, dtype="str") if rows else pd.DataFrame(columns=header, dtype="str")
    df["_line"] = np.asarray(lines, dtype=np.int64)
    return df


def drop_blank_required(
    df: pd.DataFrame, columns: Sequence[str], *, dataset: str, file: str, audit: LabelAudit
) -> pd.DataFrame:
    """Rows whose identifier cells are empty cannot be used: record each as an ``UNREADABLE_ROW`` and drop it."""
    bad = np.zeros(len(df), dtype=bool)
    for col in columns:
        blank = (df[col].str.strip() == "").to_numpy()
        for line in df.loc[blank & ~bad, "_line"]:
            audit.add_problem(Problem(dataset, file, int(line), col, "", f"a non-empty {col}", UNREADABLE_ROW))
        bad |= blank
    return df.loc[~bad].reset_index(drop=True) if bad.any() else df


def list_images(folders: Iterable[Path], extensions: Iterable[str] = (".jpg", ".jpeg", ".png")) -> dict[str, Path]:
    """One directory listing per existing folder: file name → absolute path, and stem → path for the extensions given.

    Used so a loader can tell which referenced images exist without a ``stat`` per row.
    """
    exts = {e.lower() for e in extensions}
    found: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        base = folder.resolve()
        with os.scandir(base) as it:
            for entry in it:
                name = entry.name
                stem, ext = os.path.splitext(name)
                if ext.lower() not in exts:
                    continue
                path = base / name
                found.setdefault(name, path)
                found.setdefault(stem, path)
    return found


def empty_text(values: Iterable[object]) -> list[object]:
    """Map "" (and whitespace) to ``NaN`` so missing text reads as missing."""
    out: list[object] = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(np.nan)
            continue
        s = str(v).strip()
        out.append(s if s else np.nan)
    return out


def build_frame(data: dict[str, object], n: int) -> pd.DataFrame:
    """Assemble the unified table from column data (scalars are broadcast), in :data:`COLUMNS` order and dtypes."""
    cols: dict[str, object] = {}
    for name in COLUMNS:
        value = data.get(name, np.nan)
        if np.isscalar(value) or value is None or value is pd.NA:
            value = [value] * n
        cols[name] = value
    df = pd.DataFrame(cols, columns=COLUMNS)
    for name, dtype in DTYPES.items():
        if dtype == "Int64":
            df[name] = pd.array(
                [
                    pd.NA if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))) else int(v)
                    for v in df[name]
                ],
                dtype="Int64",
            )
        elif dtype == "str":
            df[name] = df[name].astype("str")
        else:
            df[name] = df[name].astype(dtype)
    return df


def check_frame(df: pd.DataFrame) -> None:
    """Assert the unified-table invariants (used by tests and by ``load_datasets``)."""
    if list(df.columns) != COLUMNS:
        raise DataFileError(f"table columns {list(df.columns)} differ from the unified columns {COLUMNS}")
    bad_cond = ~df["condition_id"].between(0, 9)
    if bad_cond.any():
        raise DataFileError(f"condition_id outside 0-9 in {int(bad_cond.sum())} rows")
    for ds, sub in df.groupby("dataset", sort=False):
        if sub["image_id"].duplicated().any():
            dup = sub.loc[sub["image_id"].duplicated(), "image_id"].iloc[0]
            raise DataFileError(f"{ds}: image_id {dup!r} is not unique")
