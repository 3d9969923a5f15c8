"""Reading and validating predictions tables; the default operating point; the fixture is the documented simulation."""

from __future__ import annotations

import pandas as pd
import pytest

from skintag.errors import DataFileError
from skintag.fairness import read_predictions, validate_predictions
from skintag.fairness.data import PREDICTIONS_COLUMNS, guess_columns
from skintag.fairness.simulate import simulate_predictions, true_rates


def test_fixture_is_the_documented_simulation(fixture_csv):
    on_disk = read_predictions(fixture_csv)
    assert tuple(on_disk.columns) == PREDICTIONS_COLUMNS
    regenerated = pd.read_csv(pd.io.common.StringIO(simulate_predictions(600, random_state=7).to_csv(index=False)))
    pd.testing.assert_frame_equal(on_disk, regenerated)


def test_simulation_has_the_documented_rates():
    df = simulate_predictions(60000, random_state=1)
    truth = true_rates(0.5)
    for t in (2, 6):
        m = df["fitzpatrick"].eq(t).fillna(False)
        pos = df[m & (df.y_true == 1)]
        assert (pos.y_score >= 0.5).mean() == pytest.approx(truth.at[t, "tpr"], abs=0.04)


def test_validation_names_columns_and_rows():
    df = pd.DataFrame({"label": [0, 1, 2, "x", 1], "p": [0.1, "high", 1.5, 0.3, None], "fst": [1, 2, 3, 4, 5]})
    with pytest.raises(DataFileError) as exc:
        validate_predictions(df, "label", "p", ["fst"])
    msg = str(exc.value)
    assert "column 'label' must be 0 or 1" in msg and "row(s) 3, 4" in msg
    assert "column 'p' must hold numbers: row(s) 2" in msg and "'high'" in msg
    assert "[0, 1]: row(s) 3 are outside" in msg
    with pytest.raises(DataFileError, match="column 'nope' is not in the file"):
        validate_predictions(df, "label", "p", ["nope"])
    ok = validate_predictions(df.iloc[[0, 4]], "label", "p", ["fst"])
    assert ok.y_true.tolist() == [0, 1] and "1 row(s) have no score" in ok.notes[0]


def test_read_errors(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        read_predictions(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(DataFileError, match="no rows"):
        read_predictions(tmp_path / "empty.csv")
    assert read_predictions(b"y_true,y_score\n1,0.5\n").shape == (1, 2)


def test_guess_columns_and_operating_point():
    df = pd.DataFrame(columns=["id", "Label", "p_malignant", "FST"])
    assert guess_columns(df) == {"y_true": "Label", "y_score": "p_malignant", "group": "FST"}


def test_command_line_report(fixture_csv, tmp_path, capsys):
    import json

    from skintag.fairness.__main__ import main

    out = tmp_path / "r.json"
    assert main([str(fixture_csv), "--grouping", "three", "--threshold", "0.4", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["threshold"] == 0.4 and list(data["by_group"]) == ["I-II", "III-IV", "V-VI", "unknown"]
    assert "| I-II | 252 |" in capsys.readouterr().out
