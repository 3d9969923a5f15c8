"""Outcome-linked fairness monitoring: the fairness report on the case log's confirmed outcomes, by skin type or
another case attribute, over a time window; sensitivity per group with its interval against the target; alerts; and
how many cases per group still lack a confirmed outcome.

Input is the frame of :meth:`skintag.caselog.CaseLog.cases` (every case, confirmed or not). Numbers come from
:func:`skintag.fairness.fairness_report` (Wilson intervals for rates, bootstrap for gaps); this module only selects
rows, groups them the same way for the coverage count, and words the alerts. Pure: no database, no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from skintag.errors import ArgumentError
from skintag.fairness import FairnessReport, Grouped, fairness_report, make_groups
from skintag.fairness.report import OUTSIDE
from skintag.fairness.rules import per_row_thresholds

#: Case attributes the monitoring can group by (column → title).
ATTRIBUTES: dict[str, str] = {
    "skin_type": "Fitzpatrick skin type", "age_band": "Age band", "sex": "Sex", "site": "Body site",
    "domain": "Imaging domain", "model_version": "Model version",
}
DEFAULT_TARGET_SENSITIVITY = 0.95
#: The columns of :meth:`CaseLog.cases` that :func:`monitor`, :func:`months`, :func:`versions` and
#: :func:`select_window` read (``cases(columns=MONITOR_COLUMNS)`` skips the rest, and the decision history).
MONITOR_COLUMNS: tuple[str, ...] = (
    "recorded_at", "skin_type", "age_band", "sex", "site", "domain", "model_name", "model_version", "y_score",
    "threshold", "y_pred", "confirmed", "y_true",
)


@dataclass(frozen=True)
class Monitoring:
    """One monitoring view.

    Attributes
    ----------
    report : the fairness report on the confirmed cases (None when there are none).
    sensitivity : per group: ``positives``, ``tpr``, ``tpr_lo``, ``tpr_hi``, ``insufficient`` and ``below_target``
        (the whole interval below the target).
    coverage : per group: ``cases``, ``confirmed``, ``unconfirmed`` and ``share_confirmed`` (all cases in the window,
        rejected photos included).
    alerts : one sentence per group whose sensitivity interval lies below the target and per gap "outside tolerance".
    notes : how the rule was audited and what was left out.
    threshold : the screening threshold audited (NaN when cases were scored at several); rule : the rule in words.
    """

    report: FairnessReport | None
    sensitivity: pd.DataFrame
    coverage: pd.DataFrame
    alerts: tuple[str, ...]
    notes: tuple[str, ...]
    threshold: float
    rule: str
    target: float


def months(cases: pd.DataFrame) -> list[str]:
    """The months (``YYYY-MM``, UTC) that hold cases, newest first."""
    if cases.empty:
        return []
    stamps = cases["recorded_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    return sorted(stamps.dt.to_period("M").astype(str).unique().tolist(), reverse=True)


def versions(cases: pd.DataFrame) -> list[str]:
    """Model versions (``name vX``) in the order they first scored a case."""
    if cases.empty:
        return []
    first = cases.assign(v=_version_label(cases)).groupby("v", sort=False)["recorded_at"].min().sort_values()
    return first.index.tolist()


def _version_label(cases: pd.DataFrame) -> pd.Series:
    return cases["model_name"].fillna("?").astype(str) + " v" + cases["model_version"].fillna("?").astype(str)


def select_window(cases: pd.DataFrame, *, month: str | None = None, since_version: str | None = None) -> pd.DataFrame:
    """The cases recorded in ``month`` (``YYYY-MM``), and/or since ``since_version`` first scored a case (a label of
    :func:`versions`); None = no limit."""
    out = cases
    if month is not None:
        try:
            period = pd.Period(month, freq="M")
        except ValueError as error:
            raise ArgumentError(f"month {month!r} is not a month (YYYY-MM)") from error
        stamps = out["recorded_at"].dt.tz_convert("UTC").dt.tz_localize(None)
        out = out[stamps.dt.to_period("M") == period]
    if since_version is not None:
        labels = _version_label(cases)
        if since_version not in set(labels):
            raise ArgumentError(f"No case was scored by {since_version!r}; versions in the log: {versions(cases)}")
        start = cases.loc[labels == since_version, "recorded_at"].min()
        out = out[out["recorded_at"] >= start]
    return out.reset_index(drop=True)


def _groups(values: pd.Series, attribute: str, grouping: str | None) -> Grouped:
    return make_groups(values.astype(object).to_numpy(), _grouping(attribute, grouping), column=attribute)


def _grouping(attribute: str, grouping: str | None) -> str | None:
    return grouping if attribute == "skin_type" else None


def coverage(cases: pd.DataFrame, attribute: str = "skin_type", grouping: str | None = "six") -> pd.DataFrame:
    """Cases, confirmed and unconfirmed per group (the grouping of the report), in display order."""
    _check_attribute(attribute)
    grouped = _groups(_attribute_values(cases, attribute), attribute, grouping)
    frame = pd.DataFrame({"group": grouped.labels, "confirmed": cases["confirmed"].to_numpy(dtype=bool)})
    table = (frame.groupby("group")["confirmed"].agg(cases="size", confirmed="sum")
             .reindex(list(grouped.order), fill_value=0))
    table["unconfirmed"] = table["cases"] - table["confirmed"]
    table["share_confirmed"] = np.where(table["cases"] > 0, table["confirmed"] / table["cases"].clip(lower=1), np.nan)
    table.index.name = "group"
    return table.astype({"cases": int, "confirmed": int, "unconfirmed": int})


def _check_attribute(attribute: str) -> None:
    if attribute not in ATTRIBUTES:
        raise ArgumentError(f"Unknown attribute {attribute!r}; expected one of {list(ATTRIBUTES)}")


def _attribute_values(cases: pd.DataFrame, attribute: str) -> pd.Series:
    return _version_label(cases) if attribute == "model_version" else cases[attribute]


def monitor(cases: pd.DataFrame, *, attribute: str = "skin_type", grouping: str | None = "six",
            target_sensitivity: float = DEFAULT_TARGET_SENSITIVITY, tolerance: float = 0.05, n_boot: int = 1000,
            auroc_n_boot: int = 0, random_state: int | None = 0) -> Monitoring:
    """The monitoring view of ``cases`` (a window of :meth:`CaseLog.cases`).

    The audited rule is the triage rule the cases were scored with: "malignant" when the calibrated score is at or
    above the screening (MODERATE) threshold, each case at the threshold it was scored with (a window may hold several
    model versions or image domains). Only when a case does not record its threshold is each case's own call
    (``y_pred``: MODERATE or HIGH) audited instead, and AUROC is then that of the calls. AUROC intervals
    (``auroc_n_boot`` resamples) are off by default: monitoring is about sensitivity, and they cost most of the
    report's time on a large log (the Fairness Audit page has them).
    """
    _check_attribute(attribute)
    if not 0.0 < target_sensitivity <= 1.0:
        raise ArgumentError(f"target sensitivity {target_sensitivity} must be in (0, 1]")
    cov = coverage(cases, attribute, grouping)
    scored = cases[cases["confirmed"] & cases["y_score"].notna()].reset_index(drop=True)
    notes: list[str] = []
    thresholds = sorted(float(t) for t in scored["threshold"].dropna().unique())
    y_score = scored["y_score"].to_numpy(dtype=float)
    domains = None
    if scored["threshold"].isna().any():  # a case without its threshold: only its call can be audited
        threshold: float | dict[str, float] = 0.5
        y_score = scored["y_pred"].to_numpy(dtype=float)
        rule = "each case's own triage call (MODERATE or HIGH = malignant): some cases do not record their threshold"
        notes.append("Some cases do not record the threshold they were scored at, so the calls are audited.")
    elif len(thresholds) <= 1:
        threshold = thresholds[0] if thresholds else 0.5
        rule = f"malignant when the calibrated score ≥ the screening threshold {threshold:.4g} (MODERATE or above)"
    else:  # several model versions or image domains: each case at the threshold it was scored with
        threshold, domains = per_row_thresholds(scored["threshold"].to_numpy(dtype=float))
        rule = ("malignant when the calibrated score ≥ the screening threshold each case was scored with "
                f"({', '.join(f'{t:.4g}' for t in thresholds)}; MODERATE or above)")
    if scored["threshold"].notna().all():
        below = scored["y_score"].to_numpy(dtype=float) < scored["threshold"].to_numpy(dtype=float)
        promoted = int((below & (scored["y_pred"] == 1).to_numpy()).sum())
        if promoted:
            notes.append(f"{promoted} confirmed case(s) were raised from LOW to MODERATE (inflammatory-dominant); "
                         "the audit counts them by their score.")
    shown = float(threshold) if not isinstance(threshold, dict) else float("nan")
    rejected = int((cases["confirmed"] & cases["y_score"].isna()).sum())
    if rejected:
        notes.append(f"{rejected} confirmed case(s) had no score (the photo was rejected) and are not audited.")
    empty = pd.DataFrame(columns=["positives", "tpr", "tpr_lo", "tpr_hi", "insufficient", "below_target"])
    if scored.empty:
        return Monitoring(None, empty, cov, (), (*notes, "No confirmed outcomes in this window yet."), shown,
                          rule, target_sensitivity)
    grouped = _groups(_attribute_values(scored, attribute), attribute, grouping)
    report = fairness_report(scored["y_true"].to_numpy(dtype=int), y_score, grouped, threshold=threshold,
                             domains=domains, grouping=_grouping(attribute, grouping), tolerance=tolerance, n_boot=n_boot,
                             auroc_n_boot=auroc_n_boot, random_state=random_state)
    bg = report.by_group
    sens = pd.DataFrame({
        "positives": bg["positives"].astype(int), "tpr": bg["tpr"], "tpr_lo": bg["tpr_lo"], "tpr_hi": bg["tpr_hi"],
        "insufficient": bg["tpr_insufficient"].astype(bool),
    })
    sens["below_target"] = (sens["tpr_hi"] < target_sensitivity).fillna(False).astype(bool)
    sens.index.name = "group"
    alerts = [
        f"Sensitivity for {ATTRIBUTES[attribute].lower()} {g}: {r.tpr:.2f} (95 % interval {r.tpr_lo:.2f}–"
        f"{r.tpr_hi:.2f}, {r.positives} confirmed malignant) is below the target {target_sensitivity:.2f}."
        + (" Few cases: the interval is wide." if r.insufficient else "")
        for g, r in sens[sens["below_target"]].iterrows()
    ]
    gaps = report.gaps
    for metric in gaps.index:
        g = gaps.loc[metric]
        if g["verdict"] == OUTSIDE:
            alerts.append(f"The {str(metric).upper()} gap between {ATTRIBUTES[attribute].lower()} groups is "
                          f"{g['difference']:.3f} (interval {g['difference_lo']:.3f}–{g['difference_hi']:.3f}): "
                          f"outside the tolerance {g['tolerance']:.2f}.")
    return Monitoring(report, sens, cov, tuple(alerts), tuple(notes), shown, rule, target_sensitivity)
