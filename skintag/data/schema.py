"""The unified dataset table: column names and types, Fitzpatrick parsing, and the small IO helpers loaders share.

Every loader returns one row per image with :data:`COLUMNS` in this order (see CONTRACTS §1). Text columns use pandas'
string dtype with missing values as ``NaN`` (test with ``pd.isna``); ``fitzpatrick`` and ``fitzpatrick_centaur`` are
nullable ``Int64`` (1-6 or ``<NA>``).

Fitzpatrick values are parsed by :func:`parse_fitzpatrick`: ``1``-``6`` (also ``"3.0"``), Roman ``"I"``-``"VI"``, and
``-1``, empty, ``UNK``/``unknown``/``NA`` for unknown. DDI's ``skin_tone`` codes 12 / 34 / 56 give a *coarse group only*
(I-II / III-IV / V-VI) and never an invented exact type. Anything else is a bad value, reported with file, row, value and
what was expected.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skintag.data.audit import BAD_FITZPATRICK, UNREADABLE_ROW, LabelAudit, Problem
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
# Fitzpatrick skin type

#: The DDI grouping, plus "unknown" which is its own group and never merged into another.
FITZPATRICK_GROUPS: tuple[str, ...] = ("I-II", "III-IV", "V-VI", "unknown")
UNKNOWN_GROUP = "unknown"
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
_UNKNOWN_TOKENS = {"", "-1", "-1.0", "unk", "unknown", "na", "nan", "n/a", "none"}
_DDI_CODES = {"12": "I-II", "34": "III-IV", "56": "V-VI"}
FITZPATRICK_EXPECTED = "1-6, I-VI, or -1/empty/UNK for unknown"
DDI_SKIN_TONE_EXPECTED = "12, 34 or 56 (FST I-II, III-IV, V-VI)"


def group_of(fitzpatrick: int | None) -> str:
    """Exact type 1-6 → "I-II" / "III-IV" / "V-VI"; ``None`` → "unknown"."""
    if fitzpatrick is None or pd.isna(fitzpatrick):
        return UNKNOWN_GROUP
    return FITZPATRICK_GROUPS[(int(fitzpatrick) - 1) // 2]


def binary_group(fitzpatrick: int | None) -> str:
    """The I-III vs IV-VI grouping of an exact type; "unknown" when not known exactly."""
    if fitzpatrick is None or pd.isna(fitzpatrick):
        return UNKNOWN_GROUP
    return "I-III" if int(fitzpatrick) <= 3 else "IV-VI"


@dataclass(frozen=True)
class FitzpatrickValue:
    """A parsed skin-type value: exact type (or ``None``), group, and whether the raw value was acceptable."""

    exact: int | None
    group: str
    ok: bool


def parse_fitzpatrick(raw: object, *, coarse_codes: bool = False) -> FitzpatrickValue:
    """Parse one raw Fitzpatrick value.

    Parameters
    ----------
    raw
        The cell as read (str, int, float or missing).
    coarse_codes
        Accept DDI's ``skin_tone`` codes 12 / 34 / 56, which give the group only (``exact=None``).

    Returns
    -------
    FitzpatrickValue
        ``ok=False`` (and group "unknown") for a value that is neither a type, a known unknown marker, nor (with
        ``coarse_codes``) a DDI code.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw is pd.NA:
        return FitzpatrickValue(None, UNKNOWN_GROUP, True)
    text = str(raw).strip()
    if text.lower() in _UNKNOWN_TOKENS:
        return FitzpatrickValue(None, UNKNOWN_GROUP, True)
    if coarse_codes:
        key = text[:-2] if text.endswith(".0") else text
        if key in _DDI_CODES:
            return FitzpatrickValue(None, _DDI_CODES[key], True)
        return FitzpatrickValue(None, UNKNOWN_GROUP, False)
    if text.upper() in _ROMAN:
        exact = _ROMAN[text.upper()]
        return FitzpatrickValue(exact, group_of(exact), True)
    try:
        number = float(text)
    except ValueError:
        return FitzpatrickValue(None, UNKNOWN_GROUP, False)
    if number.is_integer() and 1 <= number <= 6:
        exact = int(number)
        return FitzpatrickValue(exact, group_of(exact), True)
    return FitzpatrickValue(None, UNKNOWN_GROUP, False)


def parse_fitzpatrick_column(
    values: Sequence[object],
    *,
    dataset: str,
    file: str,
    column: str,
    lines: Sequence[int] | None,
    audit: LabelAudit,
    coarse_codes: bool = False,
) -> tuple[list[int | None], list[str]]:
    """Parse a whole column (each distinct value once); bad values become ``BAD_FITZPATRICK`` problems and unknown."""
    cache: dict[str, FitzpatrickValue] = {}
    exact: list[int | None] = []
    groups: list[str] = []
    expected = DDI_SKIN_TONE_EXPECTED if coarse_codes else FITZPATRICK_EXPECTED
    for i, raw in enumerate(values):
        key = "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw)
        parsed = cache.get(key)
        if parsed is None:
            parsed = cache[key] = parse_fitzpatrick(raw, coarse_codes=coarse_codes)
        if not parsed.ok:
            audit.add_problem(
                Problem(dataset, file, lines[i] if lines is not None else i, column, key, expected, BAD_FITZPATRICK)
            )
        exact.append(parsed.exact)
        groups.append(parsed.group)
    return exact, groups


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
