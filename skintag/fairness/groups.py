"""Group labels for fairness audits: skin-type groupings, age bands, other columns and intersections.

Skin-type values are parsed by :func:`skintag.fitzpatrick.parse_array` with ``accept="any"`` (exact types, Roman
numerals, coarse groups such as ``"I-II"`` or DDI's ``12`` / ``34`` / ``56``, and the unknown markers). A coarse value
says only which pair of types a person belongs to, so it never becomes an exact type: under the six-type grouping it is
counted as unknown (and a warning says how many rows that affected), under the three-group grouping it goes to its
group, under I-III vs IV-VI it goes to its side unless it straddles the cut (III-IV). Unknown is always its own group,
never merged into another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skintag import fitzpatrick
from skintag.errors import ArgumentError, LabelError
from skintag.fitzpatrick import BINARY_LABELS, GROUPING_TITLES, GROUPINGS, SIX_LABELS, THREE_LABELS, UNKNOWN

INTERSECTION_SEP = " × "
#: Values that mean "not recorded" in a plain group column (sex, site, domain …).
MISSING_TOKENS = frozenset({"", "unk", "unknown", "na", "nan", "n/a", "none", "<na>"})


@dataclass(frozen=True)
class Grouped:
    """Group labels for every row plus what happened on the way.

    Attributes
    ----------
    labels : np.ndarray of str, one label per row.
    order : the labels in display order (natural skin-type order, "unknown" last).
    warnings : sentences about rows that were re-routed (coarse codes, unparseable values).
    bad_rows : row positions whose value could not be parsed (they are in "unknown").
    parts : for an intersection, one tuple of component labels per group in ``order``; else ``None``.
    title : human name of the grouping.
    """

    labels: np.ndarray
    order: tuple[str, ...]
    warnings: tuple[str, ...]
    bad_rows: tuple[int, ...]
    parts: tuple[tuple[str, str], ...] | None
    title: str


def _bad_rows_sentence(values: np.ndarray, bad: np.ndarray, column: str) -> str:
    rows = np.flatnonzero(bad)
    shown = ", ".join(f"row {int(r)} ({values[r]!r})" for r in rows[:5])
    more = f" and {rows.size - 5} more" if rows.size > 5 else ""
    return (
        f"{rows.size} value(s) in '{column}' are not a Fitzpatrick type — {shown}{more}; expected "
        f"{fitzpatrick.EXPECTED['any']}. They are counted as unknown."
    )


def skin_type_groups(
    values: Sequence[object] | pd.Series | np.ndarray,
    grouping: str = "six",
    *,
    column: str = "fitzpatrick",
    strict: bool = False,
) -> Grouped:
    """Group labels from a Fitzpatrick column.

    Parameters
    ----------
    values
        Raw skin-type values in any accepted encoding (see the module docstring).
    grouping
        "six" (I … VI), "three" (I-II / III-IV / V-VI) or "binary" (I-III / IV-VI). Unknown is its own group.
    column
        Column name, used in messages.
    strict
        Raise :class:`LabelError` on an unrecognised value instead of counting it as unknown with a warning.
    """
    if grouping not in GROUPINGS:
        raise ArgumentError(f"Unknown grouping {grouping!r}; expected one of {GROUPINGS} (or None for a plain column)")
    raw = np.asarray(values, dtype=object)
    exact, coarse, ok = fitzpatrick.parse_array(raw, accept="any")
    warnings: list[str] = []
    if not ok.all():
        if strict:
            raise LabelError(_bad_rows_sentence(raw, ~ok, column))
        warnings.append(_bad_rows_sentence(raw, ~ok, column))
    labels = np.full(raw.shape[0], UNKNOWN, dtype=object)
    if grouping == "six":
        labels[exact > 0] = np.asarray(SIX_LABELS, dtype=object)[exact[exact > 0] - 1]
        coarse_only = (exact == 0) & (coarse >= 0)
        if coarse_only.any():
            warnings.append(
                f"{int(coarse_only.sum())} row(s) have only a coarse skin-type group (e.g. 12/34/56 or 'I-II'), which "
                "cannot be placed in one of six types; they are counted as unknown here — use the three-group "
                "grouping to include them."
            )
        order = SIX_LABELS
    elif grouping == "three":
        known = coarse >= 0
        labels[known] = np.asarray(THREE_LABELS, dtype=object)[coarse[known]]
        order = THREE_LABELS
    else:
        low = (exact >= 1) & (exact <= 3) | ((exact == 0) & (coarse == 0))
        high = (exact >= 4) | ((exact == 0) & (coarse == 2))
        labels[low] = BINARY_LABELS[0]
        labels[high] = BINARY_LABELS[1]
        straddle = (exact == 0) & (coarse == 1)
        if straddle.any():
            warnings.append(
                f"{int(straddle.sum())} row(s) have only the coarse group III-IV, which straddles the I-III / IV-VI "
                "cut; they are counted as unknown here."
            )
        order = BINARY_LABELS
    present = set(labels.tolist())
    full_order = tuple(g for g in order if g in present) + ((UNKNOWN,) if UNKNOWN in present else ())
    return Grouped(labels.astype(str), full_order, tuple(warnings), tuple(int(r) for r in np.flatnonzero(~ok)), None,
                   GROUPING_TITLES[grouping])


def column_groups(values: Sequence[object] | pd.Series | np.ndarray, *, column: str = "group") -> Grouped:
    """Group labels from any column (domain, dataset, sex, site, age band): missing values become "unknown"."""
    series = pd.Series(np.asarray(values, dtype=object))
    missing = series.isna() | series.astype(str).str.strip().str.lower().isin(MISSING_TOKENS)
    labels = np.where(missing, UNKNOWN, series.astype(str).str.strip()).astype(str)
    present = sorted(set(labels.tolist()) - {UNKNOWN})
    order = tuple(present) + ((UNKNOWN,) if missing.any() else ())
    return Grouped(labels, order, (), (), None, column)


AGE_EDGES: tuple[float, ...] = (30.0, 45.0, 60.0, 75.0)


def age_band(age: Sequence[object] | pd.Series | np.ndarray, edges: Sequence[float] = AGE_EDGES) -> np.ndarray:
    """Age in years → band labels such as "<30", "30-44", …, "75+"; missing or negative ages → "unknown"."""
    a = pd.to_numeric(pd.Series(np.asarray(age, dtype=object)), errors="coerce").to_numpy(dtype=float)
    edges = [float(e) for e in edges]
    names = [f"<{edges[0]:g}"] + [f"{lo:g}-{hi - 1:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    names.append(f"{edges[-1]:g}+")
    idx = np.searchsorted(np.asarray(edges), a, side="right")
    out = np.asarray(names, dtype=object)[np.clip(idx, 0, len(names) - 1)]
    out[~np.isfinite(a) | (a < 0)] = UNKNOWN
    return out.astype(str)


def age_band_order(edges: Sequence[float] = AGE_EDGES) -> tuple[str, ...]:
    """Display order of :func:`age_band` labels (without "unknown")."""
    edges = [float(e) for e in edges]
    names = [f"<{edges[0]:g}"] + [f"{lo:g}-{hi - 1:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return (*names, f"{edges[-1]:g}+")


def make_groups(
    values: Sequence[object] | pd.Series | np.ndarray, grouping: str | None, *, column: str = "group"
) -> Grouped:
    """One grouping of one column: a skin-type grouping ("six"/"three"/"binary") or ``None`` (the column as is)."""
    if grouping is None:
        g = column_groups(values, column=column)
        if column.lower().startswith("age_band") or set(g.order) <= set(age_band_order()) | {UNKNOWN}:
            natural = [x for x in (*age_band_order(), UNKNOWN) if x in g.order]
            if len(natural) == len(g.order):
                return Grouped(g.labels, tuple(natural), g.warnings, g.bad_rows, None, g.title)
        return g
    return skin_type_groups(values, grouping, column=column)


def intersect(a: Grouped, b: Grouped) -> Grouped:
    """Intersection of two groupings: labels "A × B"; only combinations that occur are kept, in A-major order."""
    labels = np.char.add(np.char.add(a.labels.astype(str), INTERSECTION_SEP), b.labels.astype(str))
    present = set(labels.tolist())
    order: list[str] = []
    parts: list[tuple[str, str]] = []
    for x in a.order:
        for y in b.order:
            name = f"{x}{INTERSECTION_SEP}{y}"
            if name in present:
                order.append(name)
                parts.append((x, y))
    return Grouped(labels.astype(str), tuple(order), a.warnings + b.warnings, a.bad_rows + b.bad_rows, tuple(parts),
                   f"{a.title}{INTERSECTION_SEP}{b.title}")


def resolve_groups(
    groups: Sequence[object] | pd.Series | np.ndarray | pd.DataFrame | Grouped,
    grouping: str | None | tuple[str | None, str | None],
) -> Grouped:
    """Turn the ``groups`` argument of :func:`skintag.fairness.fairness_report` into a :class:`Grouped`.

    ``groups`` may be one column (array or Series) or a DataFrame of one or two columns (two = an intersection);
    ``grouping`` is one value for the first column (the second is then used as is) or a tuple, one per column.
    """
    if isinstance(groups, Grouped):
        return groups
    if isinstance(groups, pd.DataFrame):
        cols = list(groups.columns)
        if not 1 <= len(cols) <= 2:
            raise ArgumentError(f"groups must have one or two columns (two = an intersection), found {len(cols)}: {cols}")
        spec = grouping if isinstance(grouping, tuple) else (grouping, None)
        built = [make_groups(groups[c].to_numpy(dtype=object), spec[i], column=str(c)) for i, c in enumerate(cols)]
        return built[0] if len(built) == 1 else intersect(built[0], built[1])
    if isinstance(grouping, tuple):
        raise ArgumentError("A tuple grouping needs a DataFrame of two group columns")
    name = str(groups.name) if isinstance(groups, pd.Series) and groups.name is not None else "group"
    return make_groups(np.asarray(groups, dtype=object), grouping, column=name)
