"""Several attributes audited in one pass (skin type, sex, age band, site, domain, dataset) with a pass / fail /
inconclusive grid, and cohort filters — the auditor's overview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from skintag.fairness.groups import Grouped, age_band, make_groups
from skintag.fairness.report import INCONCLUSIVE, NOT_ASSESSABLE, OUTSIDE, WITHIN, FairnessAudit, FairnessReport

#: Attribute columns audited by default, with their grouping (a skin-type grouping or None = the column as is).
ATTRIBUTES: dict[str, str | None] = {"fitzpatrick": "six", "sex": None, "age": None, "site": None, "domain": None,
                                     "dataset": None}
GRID_WORDS = {WITHIN: "pass", OUTSIDE: "fail", INCONCLUSIVE: "inconclusive", NOT_ASSESSABLE: "not assessable"}


def attribute_groups(df: pd.DataFrame, column: str, grouping: str | None) -> Grouped:
    """Groups of one attribute column (a numeric ``age`` column becomes age bands, in age order)."""
    if column.lower() == "age" and pd.api.types.is_numeric_dtype(df[column]):
        return make_groups(age_band(df[column].to_numpy()), None, column="age_band")
    return make_groups(df[column].to_numpy(dtype=object), grouping, column=column)


def present_attributes(df: pd.DataFrame, attributes: Mapping[str, str | None] = ATTRIBUTES) -> dict[str, str | None]:
    """The attributes of ``df`` with at least two known values."""
    out = {}
    for col, grouping in attributes.items():
        if col in df.columns:
            g = attribute_groups(df, col, grouping)
            if len([x for x in g.order if x != "unknown"]) >= 2:
                out[col] = grouping
    return out


def filter_cohort(df: pd.DataFrame, filters: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Rows of ``df`` whose attribute values are among the chosen ones (``age`` filtered by band); empty choices are
    ignored."""
    keep = np.ones(len(df), dtype=bool)
    for col, values in filters.items():
        if not values:
            continue
        labels = attribute_groups(df, col, ATTRIBUTES.get(col) if col != "fitzpatrick" else "six").labels
        keep &= np.isin(labels, [str(v) for v in values])
    return df[keep]


def audit_attributes(
    df: pd.DataFrame,
    y_true: str,
    y_score: str,
    threshold: float | Mapping[str, float],
    *,
    attributes: Mapping[str, str | None] | None = None,
    clusters: str | None = None,
    domains: np.ndarray | None = None,
    **report_options: Any,
) -> tuple[pd.DataFrame, dict[str, FairnessReport]]:
    """One report per attribute at the same rule and settings, and the grid: per attribute, the groups, the TPR and
    FPR gaps with their verdicts as pass / fail / inconclusive, and the cases per group that would decide."""
    attrs = present_attributes(df, attributes if attributes is not None else ATTRIBUTES)
    reports: dict[str, FairnessReport] = {}
    rows = []
    for col, grouping in attrs.items():
        grouped = attribute_groups(df, col, grouping)
        audit = FairnessAudit(df[y_true].to_numpy(), df[y_score].to_numpy(), grouped, grouping=grouping,
                              clusters=None if clusters is None else df[clusters].to_numpy(dtype=object),
                              domains=domains)
        rep = audit.report(threshold, **report_options)
        reports[col] = rep
        row: dict[str, Any] = {"attribute": col, "groups": len(rep.groups)}
        for m in ("tpr", "fpr"):
            g = rep.gaps.loc[m]
            row[f"{m.upper()} gap"] = float(g["difference"])
            row[f"{m.upper()} verdict"] = GRID_WORDS[str(g["verdict"])]
            row[f"{m.upper()} cases to decide"] = float(g["n_needed"])
        rows.append(row)
    grid = pd.DataFrame(rows).set_index("attribute") if rows else pd.DataFrame()
    return grid, reports
