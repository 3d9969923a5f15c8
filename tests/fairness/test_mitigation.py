"""The mitigation what-if against fairlearn's ThresholdOptimizer used directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.postprocessing import ThresholdOptimizer

from skintag.errors import LabelError
from skintag.fairness import mitigation_whatif, skin_type_groups
from skintag.fairness.mitigation import ANALYSIS_NOTE, ScoreAsProbability


@pytest.fixture(scope="module")
def result(sim):
    return mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three",
                             random_state=3)


def test_after_rates_equal_a_direct_threshold_optimizer_run(sim, result):
    labels = skin_type_groups(sim.fitzpatrick, "three").labels
    m = labels != "unknown"
    X = pd.DataFrame({"score": sim.y_score.to_numpy()[m]})
    y = sim.y_true.to_numpy()[m]
    opt = ThresholdOptimizer(estimator=ScoreAsProbability(), constraints="equalized_odds", prefit=True,
                             predict_method="predict_proba", objective="balanced_accuracy_score")
    opt.fit(X, y, sensitive_features=labels[m])
    pred = np.asarray(opt.predict(X, sensitive_features=labels[m], random_state=3))
    for g in ("I-II", "III-IV", "V-VI"):
        sel = labels[m] == g
        assert result.table.at[g, "tpr_after"] == pytest.approx(pred[sel & (y == 1)].mean(), abs=1e-12)
        assert result.table.at[g, "fpr_after"] == pytest.approx(pred[sel & (y == 0)].mean(), abs=1e-12)


def test_before_after_table_and_summary(sim, result):
    t = result.table
    assert list(t.index) == ["I-II", "III-IV", "V-VI", "unknown"]
    assert result.skipped == ("unknown",)
    assert t.at["unknown", "tpr_after"] == t.at["unknown", "tpr_before"]
    m = (sim.fitzpatrick.isin([5, 6]) & (sim.y_true == 1)).to_numpy()
    assert t.at["V-VI", "tpr_before"] == pytest.approx(np.mean(sim.y_score.to_numpy()[m] >= 0.5))
    s = result.summary
    assert s.at["tpr_gap", "before"] == pytest.approx(t["tpr_before"].iloc[:3].max() - t["tpr_before"].iloc[:3].min())
    # equalized-odds post-processing narrows the gap on this population (darker types start less sensitive)
    assert s.at["equalized_odds_difference", "after"] < s.at["equalized_odds_difference", "before"]
    assert "skin type at prediction time" in result.note and result.note == ANALYSIS_NOTE


def test_is_seeded(sim, result):
    again = mitigation_whatif(sim.y_true, sim.y_score, sim.fitzpatrick, threshold=0.5, grouping="three",
                              random_state=3)
    pd.testing.assert_frame_equal(result.table, again.table)


def test_needs_two_usable_groups():
    with pytest.raises(LabelError, match="at least two groups"):
        mitigation_whatif([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.3], [1, 1, 6, 6], threshold=0.5)
