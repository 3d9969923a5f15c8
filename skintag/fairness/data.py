"""Reading and validating a predictions table (docs/CONTRACTS.md §3, or any model's predictions mapped by the user), and the
default operating point from a bundle manifest.

Validation names the bad column and the first bad rows (1-based data rows, as a spreadsheet shows them after the
header) and says what was expected; missing scores are not an error — the report drops them and says how many.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from skintag.errors import DataFileError

PREDICTIONS_COLUMNS: tuple[str, ...] = (
    "image_id", "dataset", "domain", "y_true", "y_score", "condition_true",
    *(f"cond_prob_{k}" for k in range(10)),
    "fitzpatrick", "fitzpatrick_group", "sex", "age", "site", "split",
)
DEFAULT_PREDICTIONS = Path("eval") / "predictions_pad_ufes_20.csv"  # inside the model bundle folder
MAX_ROWS_LISTED = 5


def read_predictions(source: str | Path | bytes | IO[bytes]) -> pd.DataFrame:
    """Read a predictions CSV from a path, bytes or a binary file object; raise :class:`DataFileError` if unreadable."""
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "uploaded file")
    try:
        if isinstance(source, bytes):
            source = io.BytesIO(source)
        df = pd.read_csv(source, low_memory=False)
    except FileNotFoundError as exc:
        raise DataFileError(f"Predictions file not found: {name}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataFileError(f"Could not read {name} as CSV: {exc}") from exc
    if df.empty:
        raise DataFileError(f"{name} has a header but no rows")
    return df


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask) + 1
    shown = ", ".join(str(int(r)) for r in rows[:MAX_ROWS_LISTED])
    more = f" and {rows.size - MAX_ROWS_LISTED} more" if rows.size > MAX_ROWS_LISTED else ""
    return f"row(s) {shown}{more}"


@dataclass(frozen=True)
class Validated:
    """A validated mapping: label and score arrays, the group columns, and notes for the user."""

    y_true: np.ndarray
    y_score: np.ndarray
    notes: tuple[str, ...]


def validate_predictions(
    df: pd.DataFrame, y_true: str, y_score: str, group_columns: Sequence[str] = (), *, score_range: bool = True
) -> Validated:
    """Check the mapped columns of a predictions table.

    Raises
    ------
    DataFileError
        Naming every problem: a missing column, labels that are not 0/1 (rows listed), scores that are not numbers or
        lie outside [0, 1] (rows listed). Missing scores are reported as a note, not an error.
    """
    problems: list[str] = []
    for col in (y_true, y_score, *group_columns):
        if col not in df.columns:
            problems.append(f"column '{col}' is not in the file (columns: {', '.join(map(str, df.columns))})")
    if problems:
        raise DataFileError("; ".join(problems))
    if len({y_true, y_score}) < 2:
        raise DataFileError(f"y_true and y_score must be different columns, both are '{y_true}'")
    raw_y = df[y_true]
    y = pd.to_numeric(raw_y, errors="coerce")
    bad_y = ~y.isin([0, 1]).to_numpy()
    if bad_y.any():
        examples = ", ".join(repr(v) for v in raw_y[bad_y].head(3).tolist())
        problems.append(f"column '{y_true}' must be 0 or 1 (1 = malignant): {_rows(bad_y)} hold {examples}")
    raw_s = df[y_score]
    s = pd.to_numeric(raw_s, errors="coerce")
    not_number = (s.isna() & raw_s.notna() & (raw_s.astype(str).str.strip() != "")).to_numpy()
    if not_number.any():
        examples = ", ".join(repr(v) for v in raw_s[not_number].head(3).tolist())
        problems.append(f"column '{y_score}' must hold numbers: {_rows(not_number)} hold {examples}")
    if score_range:
        out = ((s < 0) | (s > 1)).to_numpy()
        if out.any():
            problems.append(f"column '{y_score}' must be a probability in [0, 1]: {_rows(out)} are outside")
    if problems:
        raise DataFileError("; ".join(problems))
    notes = []
    missing = s.isna().to_numpy()
    if missing.any():
        notes.append(f"{int(missing.sum())} row(s) have no score in '{y_score}' ({_rows(missing)}); they are left out.")
    if int(y.sum()) == 0:
        notes.append(f"No malignant cases in '{y_true}': sensitivity is undefined for every group.")
    return Validated(y.to_numpy(dtype=int), s.to_numpy(dtype=float), tuple(notes))


def guess_columns(df: pd.DataFrame) -> dict[str, Any]:
    """Best guesses for the column mapping of an unknown predictions file (the page pre-selects them)."""
    cols = [str(c) for c in df.columns]
    low = {c.lower(): c for c in cols}

    def first(*names: str) -> str | None:
        return next((low[n] for n in names if n in low), None)

    return {
        "y_true": first("y_true", "label", "target", "malignant", "y"),
        "y_score": first("y_score", "score", "p_malignant", "prob", "probability", "y_prob", "pred_proba"),
        "group": first("fitzpatrick", "fst", "fitzpatrick_scale", "skin_type", "fitzpatrick_group", "skin_tone"),
    }


REGISTRY_COLUMNS = ("patient_id", "image_path", "has_image")


def attach_registry(df: pd.DataFrame, data_root: str | Path) -> pd.DataFrame:
    """``df`` with ``patient_id`` (when it has none), ``image_path`` and ``has_image`` joined from the dataset registry
    on (dataset, image_id) — for the patient bootstrap and for showing a group's images. Datasets missing under
    ``data_root`` are skipped; without ``dataset``/``image_id`` columns ``df`` comes back unchanged."""
    if not {"dataset", "image_id"} <= set(df.columns):
        return df
    from skintag.data.registry import DATASET_NAMES, load_dataset
    from skintag.errors import SkintagError

    tables = []
    for name in sorted(set(df["dataset"].dropna().astype(str)) & set(DATASET_NAMES)):
        try:
            t = load_dataset(name, data_root).table
        except SkintagError:
            continue
        tables.append(t[["dataset", "image_id", *REGISTRY_COLUMNS]].astype({"dataset": str, "image_id": str}))
    if not tables:
        return df
    reg = pd.concat(tables, ignore_index=True).drop_duplicates(["dataset", "image_id"])
    keep = [c for c in REGISTRY_COLUMNS if c not in df.columns]
    key = df[["dataset", "image_id"]].astype(str)
    joined = key.merge(reg[["dataset", "image_id", *keep]], on=["dataset", "image_id"], how="left")
    out = df.copy()
    for c in keep:
        out[c] = joined[c].to_numpy()
    return out
