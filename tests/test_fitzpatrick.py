"""skintag.fitzpatrick, the one home of skin type: every encoding under every ``accept`` mode, labels, groupings,
display order and colours."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from skintag import fitzpatrick as fz
from skintag.errors import ConfigError

EXACT_ENCODINGS = [
    (1, 1), ("2", 2), ("3.0", 3), (4.0, 4), (np.int64(5), 5), ("6", 6),
    ("I", 1), ("ii", 2), ("III", 3), (" IV ", 4), ("v", 5), ("VI", 6),
]  # fmt: skip
UNKNOWN_ENCODINGS = [-1, "-1", "-1.0", "", "  ", None, float("nan"), pd.NA, "UNK", "unknown", "NA", "n/a", "none",
                     "NaN", "<NA>"]  # fmt: skip
COARSE_TEXT = [("I-II", 0), ("iii-iv", 1), ("V-VI", 2), ("1-2", 0), ("3-4", 1), ("5-6", 2)]
CODES = [("12", 0), (34, 1), ("56", 2), (56.0, 2), ("34.0", 1)]
BAD = ["7", "0", "VII", "2.5", "fair", "I-VI", "35", 7, -2]


@pytest.mark.parametrize("accept", ["exact", "any"])
@pytest.mark.parametrize(("raw", "exact"), EXACT_ENCODINGS)
def test_exact_types(raw, exact, accept):
    value = fz.parse(raw, accept=accept)
    assert (value.exact, value.coarse, value.ok) == (exact, (exact - 1) // 2, True)
    assert value.group == fz.THREE_LABELS[(exact - 1) // 2]


@pytest.mark.parametrize("accept", fz.ACCEPT)
@pytest.mark.parametrize("raw", UNKNOWN_ENCODINGS)
def test_unknown_markers_are_unknown_in_every_mode(raw, accept):
    value = fz.parse(raw, accept=accept)
    assert (value.exact, value.coarse, value.ok, value.group) == (None, -1, True, "unknown")


@pytest.mark.parametrize(("raw", "coarse"), COARSE_TEXT)
def test_coarse_text_only_under_any(raw, coarse):
    value = fz.parse(raw, accept="any")
    assert (value.exact, value.coarse, value.ok) == (None, coarse, True)  # a group never becomes an exact type
    assert not fz.parse(raw, accept="exact").ok
    assert not fz.parse(raw, accept="codes").ok


@pytest.mark.parametrize(("raw", "coarse"), CODES)
def test_ddi_codes_under_codes_and_any(raw, coarse):
    for accept in ("codes", "any"):
        value = fz.parse(raw, accept=accept)
        assert (value.exact, value.coarse, value.ok) == (None, coarse, True)
    assert not fz.parse(raw, accept="exact").ok  # 12 is not an exact type


@pytest.mark.parametrize("raw", ["3", "III", 3, "I-II"])
def test_codes_mode_rejects_everything_but_codes(raw):
    assert fz.parse(raw, accept="codes") == fz.FitzpatrickValue(None, -1, False)


@pytest.mark.parametrize("accept", fz.ACCEPT)
@pytest.mark.parametrize("raw", BAD)
def test_bad_values_are_reported_and_unknown(raw, accept):
    value = fz.parse(raw, accept=accept)
    assert (value.exact, value.coarse, value.ok, value.group) == (None, -1, False, "unknown")


def test_unknown_accept_is_a_config_error():
    with pytest.raises(ConfigError, match="accept='coarse'"):
        fz.parse("3", accept="coarse")
    with pytest.raises(ConfigError):
        fz.parse_array(["3"], accept="")


def test_parse_array_matches_parse_element_by_element():
    values = ["III", 56, "x", None, "2", "2", float("nan"), "V-VI", "12", -1]
    for accept in fz.ACCEPT:
        exact, coarse, ok = fz.parse_array(values, accept=accept)
        singles = [fz.parse(v, accept=accept) for v in values]
        assert exact.tolist() == [s.exact or 0 for s in singles]
        assert coarse.tolist() == [s.coarse for s in singles]
        assert ok.tolist() == [s.ok for s in singles]
    exact, coarse, ok = fz.parse_array(values, accept="any")
    assert exact.tolist() == [3, 0, 0, 0, 2, 2, 0, 0, 0, 0]
    assert coarse.tolist() == [1, 2, -1, -1, 0, 0, -1, 2, 0, -1]
    assert ok.tolist() == [True, True, False, True, True, True, True, True, True, True]
    assert [a.size for a in fz.parse_array([], accept="exact")] == [0, 0, 0]


def test_parse_array_on_series_and_nullable_ints():
    exact, coarse, ok = fz.parse_array(pd.Series(pd.array([1, None, 6], dtype="Int64")), accept="exact")
    assert (exact.tolist(), coarse.tolist(), ok.tolist()) == ([1, 0, 6], [0, -1, 2], [True, True, True])


def test_labels_and_groups_of_exact_types():
    assert [fz.label(t) for t in fz.TYPES] == ["I", "II", "III", "IV", "V", "VI"]
    assert [fz.group_of(t) for t in fz.TYPES] == ["I-II", "I-II", "III-IV", "III-IV", "V-VI", "V-VI"]
    assert [fz.binary_group(t) for t in fz.TYPES] == ["I-III"] * 3 + ["IV-VI"] * 3
    for missing in (None, pd.NA, math.nan):
        assert fz.label(missing) == fz.group_of(missing) == fz.binary_group(missing) == "unknown"
    assert fz.label(0) == fz.label(7) == fz.label("x") == "unknown"
    assert fz.label(np.int64(4)) == "IV"


def test_display_order_and_groupings():
    assert fz.GROUPS == ("I-II", "III-IV", "V-VI", "unknown")  # unknown always last, never merged
    assert fz.grouping_labels("six") == fz.SIX_LABELS
    assert fz.grouping_labels("three") == fz.THREE_LABELS
    assert fz.grouping_labels("binary") == ("I-III", "IV-VI")
    assert set(fz.GROUPING_TITLES) == set(fz.GROUPINGS)
    assert set(fz.EXPECTED) == set(fz.ACCEPT)
    assert fz.EXPECTED["exact"] == "1-6, I-VI, or -1/empty/UNK for unknown"


def _lightness(hex_colour: str) -> float:
    """CIE L* of an sRGB colour (D65)."""
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = float(lin @ np.array([0.2126, 0.7152, 0.0722]))
    return 116 * y ** (1 / 3) - 16 if y > 216 / 24389 else 24389 / 27 * y


def test_colours_distinct_and_ordered_light_to_dark():
    six = [fz.colour(label) for label in fz.SIX_LABELS]
    assert len(set(six)) == 6 and fz.colour("unknown") not in six
    lightness = [_lightness(c) for c in six]
    assert all(a - b >= 10 for a, b in zip(lightness, lightness[1:], strict=False)), lightness
    # coarse groups take a representative type's colour; every label of every grouping has one
    assert [fz.colour(g) for g in fz.THREE_LABELS] == [fz.colour("II"), fz.colour("IV"), fz.colour("VI")]
    for grouping in fz.GROUPINGS:
        assert all(fz.is_skin_label(label) for label in fz.grouping_labels(grouping))
    assert fz.is_skin_label("unknown") and not fz.is_skin_label("female")
    with pytest.raises(KeyError, match="not a Fitzpatrick label"):
        fz.colour("VII")
