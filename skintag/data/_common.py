"""What every dataset loader shares: the dataset description, the loaded result, and the row-level helpers.

A loader module (:mod:`skintag.data.datasets`) describes its dataset once in an :class:`DatasetInfo`, says whether its
files are present (``is_present``) and loads them (``load``) into a :class:`LoadedDataset`: the unified table of
:mod:`skintag.data.schema` and its :class:`~skintag.data.audit.LabelAudit`, side by side.

Policies shared by every loader
-------------------------------
* Images are referenced by path and never opened here; which ones exist is learnt from one directory listing per image
  folder. Rows whose image is absent keep ``image_path=""`` and ``has_image=False``, and each file's missing images are
  reported once as a *summary* problem (count and the first few ids), not one line per row. Missing images are warnings:
  ``strict=True`` raises on them only with ``require_images=True``.
* Labels no map knows go to Other (9) with ``mapped_by="unmapped→Other"`` in the audit *and* an ``unknown label``
  problem per distinct label; ``strict=True`` raises :class:`~skintag.errors.LabelError` on the first one.
* Rows that cannot be read (wrong field count, empty identifier) are reported with their line number and left out (they
  have no image id to key them by); every other problem keeps the row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from skintag import fitzpatrick as fz
from skintag import taxonomy as tx
from skintag.data.audit import BAD_FITZPATRICK, BAD_VALUE, MISSING_IMAGE, UNKNOWN_LABEL, LabelAudit, Problem
from skintag.data.schema import drop_blank_required, empty_text, read_csv_rows, require_file
from skintag.errors import DataFileError

_EXAMPLES = 5


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, where its files go and where to get them (the Explorer's empty state and the cards show it).

    Attributes
    ----------
    name : the registry key (``"ham10000"``), also the ``dataset`` column of its rows.
    display_name : the dataset's published name.
    folder : its folder under the data root.
    domain : imaging domain of every row (``"dermoscopic"``, ``"clinical"`` or ``"smartphone"``).
    licence, source, citation : terms of use, where to get it, how to cite it.
    expected_files : the files the loader reads, in words.
    skin_type_field : the column the skin type comes from (``"none"`` when the dataset records none).
    derived_from : the registry key of the dataset whose images this one re-publishes (DermaMNIST: HAM10000), or None.
        A derived dataset's images are not distinct from its source's, so counts across datasets must not add them.
    notes : anything a user must know before combining it with others.
    """

    name: str
    display_name: str
    folder: str
    domain: str
    licence: str
    expected_files: tuple[str, ...]
    source: str
    citation: str
    skin_type_field: str
    derived_from: str | None = None
    notes: str = ""


@dataclass(frozen=True, eq=False)
class LoadedDataset:
    """One or more datasets as loaded: the unified table (one row per image) and the label audit of that load."""

    table: pd.DataFrame
    audit: LabelAudit


def resolve_images(
    names: Sequence[str],
    lookup: dict[str, Path],
    *,
    dataset: str,
    file: str,
    folders: Sequence[Path],
    audit: LabelAudit,
    alternates: Callable[[str], Iterable[str]] | None = None,
    pattern: str = "<image_id>.jpg",
) -> tuple[list[str], list[bool]]:
    """Paths and presence of each referenced image; missing ones become one summary problem for ``file``."""
    paths: list[str] = []
    present: list[bool] = []
    missing: list[str] = []
    for name in names:
        hit = lookup.get(name)
        if hit is None and alternates is not None:
            for alt in alternates(name):
                hit = lookup.get(alt)
                if hit is not None:
                    break
        if hit is None:
            paths.append("")
            present.append(False)
            missing.append(name)
        else:
            paths.append(str(hit))
            present.append(True)
    if missing:
        existing = [str(f) for f in folders if f.is_dir()]
        where = existing if existing else [str(f) for f in folders]
        note = "" if existing else " (no image folder exists)"
        audit.add_problem(
            Problem(
                dataset,
                file,
                None,
                "image",
                f"{len(missing)} of {len(names)} image files missing{note}; first: {', '.join(missing[:_EXAMPLES])}",
                f"{pattern} in one of {where}",
                MISSING_IMAGE,
                count=len(missing),
            )
        )
    return paths, present


def map_labels(
    raw: Sequence[str],
    mapper: Callable[[str], tx.LabelMatch],
    *,
    dataset: str,
    file: str,
    column: str,
    lines: Sequence[int] | None,
    audit: LabelAudit,
    expected: str,
) -> list[int]:
    """Map each raw label (distinct values once), count them in the audit, report each distinct unknown label once."""
    series = pd.Series(list(raw), dtype="str")
    matches = {value: mapper(value) for value in series.unique()}
    counts = series.value_counts(sort=False)
    for value, n in counts.items():
        m = matches[value]
        audit.add_label(dataset, value, m.condition_id, m.mapped_by, int(n))
        if not m.mapped:
            first = int(np.flatnonzero(series.to_numpy() == value)[0])
            audit.add_problem(
                Problem(
                    dataset,
                    file,
                    lines[first] if lines is not None else first,
                    column,
                    value,
                    expected,
                    UNKNOWN_LABEL,
                    count=int(n),
                )
            )
    return [matches[v].condition_id for v in series]


def read_rows(
    path: Path, dataset: str, required: Iterable[str], key: str, audit: LabelAudit
) -> tuple[pd.DataFrame, list[int]]:
    """Read ``path`` (:func:`read_csv_rows`), drop the rows whose ``key`` is blank, and return them with their lines."""
    raw = read_csv_rows(path, dataset=dataset, required=required, audit=audit)
    raw = drop_blank_required(raw, [key], dataset=dataset, file=str(path), audit=audit)
    return raw, raw["_line"].tolist()


def read_metadata(
    root: str | Path, dataset: str, filename: str, columns: Sequence[str], key: str
) -> tuple[Path, pd.DataFrame, list[int], LabelAudit]:
    """The metadata file ``root/<dataset>/<filename>`` (required), read as in :func:`read_rows` with a new audit:
    ``(path, rows, lines, audit)``."""
    path = require_file(Path(root) / dataset / filename, dataset, f"{filename} with columns " + ",".join(columns))
    audit = LabelAudit()
    raw, lines = read_rows(path, dataset, columns, key, audit)
    return path, raw, lines, audit


def map_column(
    raw: pd.DataFrame,
    column: str,
    mapper: Callable[[str], tx.LabelMatch],
    *,
    dataset: str,
    path: Path,
    lines: Sequence[int],
    audit: LabelAudit,
    expected: str,
) -> tuple[list[str], list[int]]:
    """The stripped values of ``column`` and their condition ids (:func:`map_labels`)."""
    values = raw[column].str.strip().tolist()
    cond = map_labels(
        values, mapper, dataset=dataset, file=str(path), column=column, lines=lines, audit=audit, expected=expected
    )
    return values, cond


def parse_age(
    values: Sequence[str], *, dataset: str, file: str, column: str, lines: Sequence[int], audit: LabelAudit
) -> np.ndarray:
    """Ages as float years; empty/"unknown" → NaN; anything else unreadable or outside 0-120 → NaN and a problem."""
    text = pd.Series(list(values), dtype="str").str.strip()
    num = pd.to_numeric(text.where(text != ""), errors="coerce")
    out = np.array(num.to_numpy(dtype=float), copy=True)
    bad = (num.isna() & (text != "") & (text.str.lower() != "unknown")).to_numpy() | (out < 0) | (out > 120)
    for i in np.flatnonzero(bad):
        audit.add_problem(
            Problem(dataset, file, int(lines[i]), column, text.iloc[i], "an age in years (0-120) or empty", BAD_VALUE)
        )
    out[bad] = np.nan
    return out


_SEX = {"male": "male", "m": "male", "female": "female", "f": "female"}
_SEX_UNKNOWN = {"", "unknown", "unk", "nan", "na"}


def parse_sex(
    values: Sequence[str], *, dataset: str, file: str, column: str, lines: Sequence[int], audit: LabelAudit
) -> list[object]:
    """ "male" / "female" (also m/f, any case); empty/"unknown" → NaN; anything else → NaN and a problem."""
    out: list[object] = []
    for i, v in enumerate(values):
        key = str(v).strip().lower()
        if key in _SEX:
            out.append(_SEX[key])
        else:
            if key not in _SEX_UNKNOWN:
                audit.add_problem(
                    Problem(dataset, file, int(lines[i]), column, str(v), "male, female or empty", BAD_VALUE)
                )
            out.append(np.nan)
    return out


def site_column(values: Iterable[str]) -> list[object]:
    """Anatomical sites lower-cased and single-spaced ("upper_extremity" → "upper extremity"); unknown → NaN."""
    out: list[object] = []
    for v in empty_text(values):
        if isinstance(v, str):
            s = " ".join(v.replace("_", " ").lower().split())
            out.append(np.nan if s in ("unknown", "unk") else s)
        else:
            out.append(np.nan)
    return out


def stem(name: str) -> str:
    """A file name without its extension ("000001.png" → "000001")."""
    return os.path.splitext(name)[0]


def finish(df: pd.DataFrame, audit: LabelAudit, *, strict: bool, require_images: bool) -> LoadedDataset:
    """Pair the table with its audit; with ``strict`` raise the first error, with ``require_images`` the first missing
    image summary."""
    if strict:
        audit.raise_for_errors(include_missing_images=require_images)
    elif require_images:
        missing = [p for p in audit.problems if p.problem == MISSING_IMAGE]
        if missing:
            raise DataFileError(missing[0].message())
    return LoadedDataset(df, audit)


def fitz_none() -> dict[str, object]:
    """The skin-type columns of a dataset that records no skin type."""
    return {"fitzpatrick": pd.NA, "fitzpatrick_group": fz.UNKNOWN, "fitzpatrick_source": "none"}


def fitz_columns(exact: list[object], groups: list[str], source: str) -> dict[str, object]:
    """The skin-type columns (``fitzpatrick``, ``fitzpatrick_group``, ``fitzpatrick_source``) from
    :func:`parse_skin_type`'s result; ``source`` names the column where the type is known, "none" elsewhere."""
    return {
        "fitzpatrick": exact,
        "fitzpatrick_group": groups,
        "fitzpatrick_source": [source if g != fz.UNKNOWN else "none" for g in groups],
    }


def parse_skin_type(
    values: Sequence[object],
    *,
    dataset: str,
    file: str,
    column: str,
    lines: Sequence[int],
    audit: LabelAudit,
    accept: str = "exact",
) -> tuple[list[object], list[str]]:
    """Exact types (1-6 or ``pd.NA``) and groups ("I-II" … or "unknown") of a raw column; bad values are reported."""
    exact, coarse, ok = fz.parse_array(values, accept=accept)
    for i in np.flatnonzero(~ok):
        audit.add_problem(
            Problem(dataset, file, lines[i], column, str(values[i]), fz.EXPECTED[accept], BAD_FITZPATRICK)
        )
    return [int(e) if e else pd.NA for e in exact], [fz.THREE_LABELS[c] if c >= 0 else fz.UNKNOWN for c in coarse]
