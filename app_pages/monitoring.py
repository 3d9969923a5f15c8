"""Monitoring: the fairness report on the case log's confirmed outcomes, by skin type or another case attribute, over a
time window; sensitivity per group with its interval against the target, alerts, and the cases per group still waiting
for an outcome. Thin view over skintag.caselog.monitor / skintag.ui.caselog / skintag.ui.fairness."""

from __future__ import annotations

import streamlit as st

from skintag.caselog.monitor import (
    ATTRIBUTES,
    DEFAULT_TARGET_SENSITIVITY,
    MONITOR_COLUMNS,
    monitor,
    months,
    select_window,
    versions,
)
from skintag.errors import SkintagError
from skintag.fairness.groups import GROUPINGS
from skintag.ui import caselog as ui
from skintag.ui import fairness as fairness_ui
from skintag.ui.common import get_settings, safe_md

ALL = "All time"

settings = get_settings()
st.title("📈 Monitoring")
st.caption(
    "How the triage rule performs on confirmed outcomes (histopathology, clinical or follow-up) recorded in the case "
    "log, per skin type and other attributes. Sensitivity carries its 95 % Wilson interval; the gaps carry bootstrap "
    "intervals and verdicts, as on the Fairness Audit page."
)
ui.gate()
log, log_error = ui.get_caselog(settings)
if log is None:
    ui.log_unavailable(log_error or "")
    st.stop()
try:
    cases = log.cases(columns=MONITOR_COLUMNS)
except SkintagError as exc:
    ui.log_unavailable(str(exc))
    st.stop()
if cases.empty:
    st.info(f"The case log {safe_md(log.where)} holds no cases yet: triage images on the Worklist page first.")
    st.stop()

c1, c2, c3 = st.columns(3)
window = c1.radio("Window", ["Month", "Since a model version"], horizontal=True, key="window_kind")
if window == "Month":
    month = c1.selectbox("Month", [ALL, *months(cases)], key="month")
    chosen = select_window(cases, month=None if month == ALL else month)
    window_text = "all time" if month == ALL else month
else:
    version = c1.selectbox("Model version", versions(cases), key="since_version")
    chosen = select_window(cases, since_version=version)
    window_text = f"since {version}"
attribute = c2.selectbox("Group by", list(ATTRIBUTES), format_func=ATTRIBUTES.get, key="attribute")
grouping = (c2.selectbox("Grouping", GROUPINGS, format_func=fairness_ui.GROUPING_LABELS.get, key="grouping")
            if attribute == "skin_type" else None)
target = c3.slider("Target sensitivity", 0.50, 1.00, DEFAULT_TARGET_SENSITIVITY, 0.01, key="target")
tolerance = c3.slider("Tolerance (largest acceptable gap)", 0.0, 0.30, 0.05, 0.01, key="tolerance")

try:
    view = monitor(chosen, attribute=attribute, grouping=grouping, target_sensitivity=target, tolerance=tolerance,
                   random_state=0)
except SkintagError as exc:
    st.error(f"Cannot build the monitoring report: {safe_md(exc)}")
    st.stop()

n_conf = int(chosen["confirmed"].sum())
m1, m2, m3 = st.columns(3)
m1.metric("Cases in window", f"{len(chosen):,}", help=safe_md(window_text))
m2.metric("Confirmed outcomes", f"{n_conf:,}")
m3.metric("Awaiting an outcome", f"{len(chosen) - n_conf:,}")
st.caption(f"Audited rule: {safe_md(view.rule)}.")
for note in view.notes:
    st.info(safe_md(note))
if view.alerts:
    for alert in view.alerts:
        st.error(safe_md(alert), icon="🚨")
elif view.report is not None:
    st.success(f"No group's sensitivity interval lies below {target:.2f} and no gap is outside tolerance "
               f"({safe_md(window_text)}).", icon="✅")

st.subheader("Sensitivity per group against the target")
if not view.sensitivity.empty:
    st.dataframe(view.sensitivity.round(3), width="stretch", key="sensitivity_table")
st.subheader("Outcomes still missing per group")
st.dataframe(view.coverage.round(3), width="stretch", key="coverage_table")

if view.report is not None:
    st.subheader(
        f"Fairness report — {safe_md(view.report.grouping_title)}, {safe_md(window_text)}"
    )
    fairness_ui.render_headline(view.report)
    fairness_ui.render_warnings(view.report)
    fairness_ui.render_table(view.report)
