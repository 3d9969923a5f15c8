"""The bundle's decision rules applied to a predictions table: per domain, or per row where the table records the
threshold each row is judged at (a cross-fitted set's out-of-fold thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from skintag.errors import ArgumentError
from skintag.fairness.rules import REFER, audit_table, bundle_rules, rule_arguments
from skintag.fairness.simulate import simulate_predictions

MANIFEST = {"name": "b", "version": "1", "operating_points": {"screening": 0.4}, "default_operating_point": "screening",
            "domains": {"dermoscopic": {"thresholds": {"moderate": 0.2, "high": 0.7}},
                        "clinical": {"thresholds": {"moderate": 0.5, "high": 0.9}}}}


def _table(n: int = 600):
    pred = simulate_predictions(n, random_state=5)
    pred["model_domain"] = "clinical"
    rng = np.random.default_rng(5)
    pred["threshold_moderate"] = rng.choice([0.35, 0.5, 0.65], size=n)
    pred["threshold_high"] = rng.choice([0.8, 0.9], size=n)
    return pred


def test_tier_rules_apply_each_rows_recorded_threshold() -> None:
    pred = _table()
    rules = bundle_rules(MANIFEST)
    y, p = pred["y_true"].to_numpy(), pred["y_score"].to_numpy()
    for key, col in ((REFER, "threshold_moderate"), ("high", "threshold_high")):
        args = rule_arguments(pred, rules[key])
        assert set(args["threshold"].values()) == set(pred[col]) and "recorded beside each photo" in args["rule"]
        report = audit_table(pred, MANIFEST, rule=rules[key], grouping="three", random_state=0)
        t = pred[col].to_numpy()
        tp = int(((p >= t) & (y == 1)).sum())
        assert int(report.by_group["tp"].sum()) == tp
        assert int(report.by_group["fn"].sum()) == int((y == 1).sum()) - tp
    # the shipped per-domain threshold would have counted otherwise
    assert int((p[y == 1] >= 0.5).sum()) != int((p >= pred["threshold_moderate"].to_numpy())[y == 1].sum())


def test_without_the_column_the_domain_rule_applies() -> None:
    args = rule_arguments(_table().drop(columns=["threshold_moderate"]), bundle_rules(MANIFEST)[REFER])
    assert args["threshold"] == {"dermoscopic": 0.2, "clinical": 0.5} and set(args["domains"]) == {"clinical"}


def test_one_recorded_value_is_still_the_recorded_one() -> None:
    """Rows left by a cohort filter that all record one threshold are judged at it, not at the domain's (which was
    chosen on all the photos)."""
    pred = _table()
    pred["threshold_moderate"] = 0.61
    args = rule_arguments(pred, bundle_rules(MANIFEST)[REFER])
    assert args["threshold"] == 0.61 and args["domains"] is None and "(0.6100)" in args["rule"]


def test_a_row_without_a_recorded_threshold_gets_its_domains() -> None:
    pred = _table()
    pred.loc[3, "threshold_moderate"] = np.nan
    pred.loc[4, ["threshold_moderate", "model_domain"]] = [np.nan, "dermoscopic"]
    args = rule_arguments(pred, bundle_rules(MANIFEST)[REFER])
    per_row = np.array([args["threshold"][k] for k in args["domains"]])
    assert per_row[3] == 0.5 and per_row[4] == 0.2  # clinical's and dermoscopic's
    rest = np.ones(len(pred), bool)
    rest[[3, 4]] = False
    np.testing.assert_array_equal(per_row[rest], pred["threshold_moderate"].to_numpy()[rest])
    assert "a row without one at its image domain's" in args["rule"]
    pred.loc[5, ["threshold_moderate", "model_domain"]] = [np.nan, "radiograph"]
    with pytest.raises(ArgumentError, match="radiograph"):
        rule_arguments(pred, bundle_rules(MANIFEST)[REFER])


def test_an_operating_point_rule_ignores_the_recorded_thresholds() -> None:
    args = rule_arguments(_table(), bundle_rules(MANIFEST)["op:screening"])
    assert args["threshold"] == 0.4 and args["domains"] is None
