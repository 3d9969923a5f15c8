"""Fitzpatrick skin type: the one home for parsing every encoding, labels, groupings, display order and colours.

Accepted encodings
------------------
* exact types ``1``-``6`` (also ``"3"``, ``3.0``, ``"3.0"``) and Roman ``"I"``-``"VI"`` (any case);
* coarse groups, which say only which pair of types a person belongs to: the strings ``"I-II"`` / ``"III-IV"`` /
  ``"V-VI"`` (also ``"1-2"`` …) and DDI's ``skin_tone`` codes ``12`` / ``34`` / ``56``. A coarse value never becomes
  an invented exact type;
* unknown: ``-1``, empty, NaN/``None``/``pd.NA``, ``"unknown"``, ``"UNK"``, ``"NA"``, ``"n/a"``, ``"none"``.

Anything else is a *bad value*: it is reported (``ok=False``) and counted as unknown. Which encodings a caller accepts is
chosen with ``accept``: ``"exact"`` (a dataset column of exact types, e.g. PAD-UFES-20 or Fitzpatrick17k),
``"codes"`` (DDI's ``skin_tone`` column, codes only) or ``"any"`` (a predictions file uploaded to the fairness audit).

Groupings: ``"six"`` (I … VI), ``"three"`` (I-II / III-IV / V-VI, the DDI grouping) and ``"binary"`` (I-III / IV-VI).
"unknown" is always its own group, shown last, and never merged into another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from skintag.errors import ConfigError

#: The six exact types and their Roman labels, in display order (lightest first).
TYPES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
SIX_LABELS: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI")
#: The DDI grouping of pairs of types.
THREE_LABELS: tuple[str, ...] = ("I-II", "III-IV", "V-VI")
BINARY_LABELS: tuple[str, ...] = ("I-III", "IV-VI")
UNKNOWN = "unknown"
#: The DDI grouping plus "unknown", as stored in the unified table's ``fitzpatrick_group`` column.
GROUPS: tuple[str, ...] = (*THREE_LABELS, UNKNOWN)

GROUPINGS: tuple[str, ...] = ("six", "three", "binary")
GROUPING_TITLES: dict[str, str] = {
    "six": "Fitzpatrick type (I-VI)",
    "three": "Fitzpatrick group (I-II / III-IV / V-VI)",
    "binary": "Fitzpatrick I-III vs IV-VI",
}
ACCEPT: tuple[str, ...] = ("exact", "codes", "any")
EXPECTED: dict[str, str] = {
    "exact": "1-6, I-VI, or -1/empty/UNK for unknown",
    "codes": "12, 34 or 56 (FST I-II, III-IV, V-VI)",
    "any": "1-6, I-VI, a coarse group (I-II, III-IV, V-VI or 12/34/56), or -1/empty/unknown",
}

#: A light-to-dark skin-tone ramp, one colour per exact type, and grey for unknown. Adjacent colours differ in
#: lightness by at least 10 points (CIE L*), so they can be told apart without hue; plots outline markers so the
#: lightest stays visible on white.
TYPE_COLOURS: dict[str, str] = dict(zip(SIX_LABELS, ("#e9b384", "#d4925c", "#b87440", "#8f5530", "#64391f", "#3a2113"),
                                        strict=True))
UNKNOWN_COLOUR = "#9e9e9e"
#: Coarse groups take the colour of a representative type.
_GROUP_COLOUR_TYPE = {"I-II": "II", "III-IV": "IV", "V-VI": "VI", "I-III": "II", "IV-VI": "V"}

_ROMAN = {r: i + 1 for i, r in enumerate(SIX_LABELS)}
_UNKNOWN_TOKENS = frozenset({"", "-1", "-1.0", "unk", "unknown", "na", "nan", "n/a", "none", "<na>"})
_CODES = {"12": 0, "34": 1, "56": 2}
_COARSE_TEXT = {"i-ii": 0, "iii-iv": 1, "v-vi": 2, "1-2": 0, "3-4": 1, "5-6": 2}


@dataclass(frozen=True)
class FitzpatrickValue:
    """One parsed value: exact type 1-6 (or ``None``), coarse index 0-2 (or -1), its group label, and whether the raw
    value was an accepted encoding."""

    exact: int | None
    coarse: int
    ok: bool

    @property
    def group(self) -> str:
        """"I-II" / "III-IV" / "V-VI", or "unknown"."""
        return THREE_LABELS[self.coarse] if self.coarse >= 0 else UNKNOWN


_UNKNOWN_VALUE = FitzpatrickValue(None, -1, True)
_BAD_VALUE = FitzpatrickValue(None, -1, False)


def _is_missing(raw: object) -> bool:
    return raw is None or raw is pd.NA or (isinstance(raw, float) and np.isnan(raw))


def _check_accept(accept: str) -> None:
    if accept not in ACCEPT:
        raise ConfigError(f"Unknown accept={accept!r}; expected one of {ACCEPT}")


def parse(raw: object, *, accept: str = "any") -> FitzpatrickValue:
    """Parse one raw skin-type value (see the module docstring for the encodings ``accept`` allows)."""
    _check_accept(accept)
    if _is_missing(raw):
        return _UNKNOWN_VALUE
    text = str(raw).strip()
    low = text.lower()
    if low in _UNKNOWN_TOKENS:
        return _UNKNOWN_VALUE
    key = low[:-2] if low.endswith(".0") else low
    if accept != "exact" and key in _CODES:
        return FitzpatrickValue(None, _CODES[key], True)
    if accept == "codes":
        return _BAD_VALUE
    if accept == "any" and key in _COARSE_TEXT:
        return FitzpatrickValue(None, _COARSE_TEXT[key], True)
    if text.upper() in _ROMAN:
        return exact_value(_ROMAN[text.upper()])
    try:
        number = float(text)
    except ValueError:
        return _BAD_VALUE
    if number.is_integer() and 1 <= number <= 6:
        return exact_value(int(number))
    return _BAD_VALUE


def exact_value(exact: int) -> FitzpatrickValue:
    """The parsed value of a known exact type 1-6."""
    return FitzpatrickValue(int(exact), (int(exact) - 1) // 2, True)


def parse_array(
    values: Sequence[object] | pd.Series | np.ndarray, *, accept: str = "any"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a column (each distinct value once).

    Returns
    -------
    exact : int array, 1-6, or 0 when not known exactly.
    coarse : int array, 0 (I-II), 1 (III-IV), 2 (V-VI), or -1 when unknown.
    ok : bool array, False where the value is not an accepted encoding (those rows are unknown).
    """
    _check_accept(accept)
    series = pd.Series(np.asarray(values, dtype=object))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parsed = [parse(u, accept=accept) for u in uniques] + [_UNKNOWN_VALUE]
    table = np.array([(p.exact or 0, p.coarse, p.ok) for p in parsed], dtype=object).reshape(-1, 3)
    idx = np.where(codes < 0, len(uniques), codes)
    return table[idx, 0].astype(int), table[idx, 1].astype(int), table[idx, 2].astype(bool)


def label(exact: object) -> str:
    """Exact type 1-6 → its Roman label; missing or out of range → "unknown"."""
    if _is_missing(exact):
        return UNKNOWN
    try:
        number = int(exact)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return UNKNOWN
    return SIX_LABELS[number - 1] if 1 <= number <= 6 else UNKNOWN


def group_of(exact: object) -> str:
    """Exact type 1-6 → "I-II" / "III-IV" / "V-VI"; missing → "unknown"."""
    if _is_missing(exact):
        return UNKNOWN
    return THREE_LABELS[(int(exact) - 1) // 2]  # type: ignore[call-overload]


def binary_group(exact: object) -> str:
    """Exact type → "I-III" or "IV-VI"; "unknown" when not known exactly."""
    if _is_missing(exact):
        return UNKNOWN
    return BINARY_LABELS[0] if int(exact) <= 3 else BINARY_LABELS[1]  # type: ignore[call-overload]


def grouping_labels(grouping: str) -> tuple[str, ...]:
    """Display order of a grouping's labels (without "unknown")."""
    return {"six": SIX_LABELS, "three": THREE_LABELS, "binary": BINARY_LABELS}[grouping]


def is_skin_label(name: str) -> bool:
    """Whether ``name`` is a label of one of the skin-type groupings (or "unknown")."""
    return name in TYPE_COLOURS or name in _GROUP_COLOUR_TYPE or name == UNKNOWN


def colour(name: str) -> str:
    """The display colour of a skin-type label ("III", "I-II", "IV-VI", "unknown" …)."""
    if name in TYPE_COLOURS:
        return TYPE_COLOURS[name]
    if name in _GROUP_COLOUR_TYPE:
        return TYPE_COLOURS[_GROUP_COLOUR_TYPE[name]]
    if name == UNKNOWN:
        return UNKNOWN_COLOUR
    raise KeyError(f"{name!r} is not a Fitzpatrick label; expected one of {SIX_LABELS + THREE_LABELS + BINARY_LABELS}")
