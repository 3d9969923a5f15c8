"""Fitzpatrick parsing and groupings: every accepted encoding, coarse codes, unknowns, age bands, intersections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skintag import fitzpatrick
from skintag.errors import ArgumentError, LabelError
from skintag.fairness import age_band, intersect, make_groups, skin_type_groups
from skintag.fairness.groups import resolve_groups


def test_numeric_and_roman_encodings_agree():
    numeric = [1, 2, 3, 4, 5, 6]
    strings = ["1", "2", "3", "4", "5", "6"]
    floats = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    roman = ["I", "ii", "III", "iv", "V", "VI"]
    expected = ["I", "II", "III", "IV", "V", "VI"]
    for values in (numeric, strings, floats, roman):
        g = skin_type_groups(values, "six")
        assert g.labels.tolist() == expected
        assert g.warnings == ()
    assert skin_type_groups(roman, "three").labels.tolist() == ["I-II", "I-II", "III-IV", "III-IV", "V-VI", "V-VI"]
    assert skin_type_groups(numeric, "binary").labels.tolist() == ["I-III"] * 3 + ["IV-VI"] * 3


@pytest.mark.parametrize("unknown", [-1, "-1", "", None, np.nan, pd.NA, "unknown", "UNK"])
def test_unknown_markers_are_their_own_group(unknown):
    g = skin_type_groups([1, unknown, 6], "six")
    assert g.labels.tolist() == ["I", "unknown", "VI"]
    assert g.order == ("I", "VI", "unknown")
    assert g.warnings == ()


def test_coarse_codes_go_to_unknown_for_six_and_to_their_group_for_three():
    values = [12, "34", 56.0, "I-II", "V-VI", 2]
    six = skin_type_groups(values, "six")
    assert six.labels.tolist() == ["unknown"] * 5 + ["II"]
    assert len(six.warnings) == 1 and "5 row(s)" in six.warnings[0] and "coarse" in six.warnings[0]
    three = skin_type_groups(values, "three")
    assert three.labels.tolist() == ["I-II", "III-IV", "V-VI", "I-II", "V-VI", "I-II"]
    assert three.warnings == ()
    binary = skin_type_groups(values, "binary")
    # III-IV straddles the I-III / IV-VI cut: unknown, with a warning
    assert binary.labels.tolist() == ["I-III", "unknown", "IV-VI", "I-III", "IV-VI", "I-III"]
    assert "straddles" in binary.warnings[0]


def test_bad_values_are_named_and_counted_as_unknown_or_raise_when_strict():
    g = skin_type_groups([1, "VII", 7, "banana"], "six", column="fst")
    assert g.labels.tolist() == ["I", "unknown", "unknown", "unknown"]
    assert g.bad_rows == (1, 2, 3)
    assert "'fst'" in g.warnings[0] and "row 1 ('VII')" in g.warnings[0] and "expected" in g.warnings[0]
    with pytest.raises(LabelError, match="row 1"):
        skin_type_groups([1, "VII"], "six", strict=True)
    with pytest.raises(ArgumentError, match="Unknown grouping"):
        skin_type_groups([1], "seven")


def test_groups_parse_every_encoding_through_skintag_fitzpatrick():
    values = ["III", 56, "x", None, "I-II", 4.0]
    exact, coarse, ok = fitzpatrick.parse_array(values, accept="any")
    assert exact.tolist() == [3, 0, 0, 0, 0, 4]
    assert coarse.tolist() == [1, 2, -1, -1, 0, 1]
    assert ok.tolist() == [True, True, False, True, True, True]
    g = skin_type_groups(values, "three")
    assert g.labels.tolist() == ["III-IV", "V-VI", "unknown", "unknown", "I-II", "III-IV"]
    assert g.bad_rows == (2,) and fitzpatrick.EXPECTED["any"] in g.warnings[0]


def test_all_unknown():
    g = skin_type_groups([None, -1, ""], "three")
    assert g.order == ("unknown",)
    assert set(g.labels) == {"unknown"}


def test_age_bands():
    bands = age_band([5, 29.9, 30, 44, 45, 59, 60, 74, 75, 99, None, -3, "x"])
    assert bands.tolist() == ["<30", "<30", "30-44", "30-44", "45-59", "45-59", "60-74", "60-74", "75+", "75+",
                              "unknown", "unknown", "unknown"]
    g = make_groups(bands, None, column="age_band")
    assert g.order == ("<30", "30-44", "45-59", "60-74", "75+", "unknown")


def test_plain_column_and_intersection():
    sex = make_groups(["male", None, "female", "male"], None, column="sex")
    assert sex.order == ("female", "male", "unknown")
    fst = make_groups([1, 2, 5, 6], "three")
    inter = intersect(fst, sex)
    assert inter.labels.tolist() == ["I-II × male", "I-II × unknown", "V-VI × female", "V-VI × male"]
    assert inter.order == ("I-II × male", "I-II × unknown", "V-VI × female", "V-VI × male")
    assert inter.parts == (("I-II", "male"), ("I-II", "unknown"), ("V-VI", "female"), ("V-VI", "male"))
    frame = pd.DataFrame({"fitzpatrick": [1, 2, 5, 6], "sex": ["male", None, "female", "male"]})
    assert resolve_groups(frame, "three").labels.tolist() == inter.labels.tolist()
    with pytest.raises(ArgumentError, match="one or two columns"):
        resolve_groups(pd.DataFrame({"a": [1], "b": [1], "c": [1]}), None)
