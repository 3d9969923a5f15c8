"""Fitzpatrick Fairness Audit: per-group sensitivity and false-positive rates with intervals, small-group flags, gap
verdicts, ROC/calibration by group, intersections, a mitigation what-if and downloads — live at any threshold.
Thin view over skintag.fairness / skintag.ui.fairness / skintag.plots.fairness.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from skintag.errors import SkintagError
from skintag.fairness import validate_predictions
from skintag.fairness.data import guess_columns
from skintag.fairness.groups import GROUPINGS
from skintag.fairness.mitigation import ANALYSIS_NOTE
from skintag.plots import fairness as plots
from skintag.ui import fairness as ui
from skintag.ui.common import get_settings

settings = get_settings()
st.title("⚖️ Fairness Audit")
st.caption(
    "How the malignancy score behaves across skin types (or any other group) at a threshold you choose. Rates carry "
    "95 % Wilson intervals, AUROC and the gaps bootstrap intervals; groups with too few cases are flagged, not hidden."
)

# --- data -------------------------------------------------------------------------------------------------------
default_path = ui.default_predictions_path(settings)
source = st.radio("Predictions", ["Model bundle evaluation", "Upload a CSV"], horizontal=True, key="source")
try:
    if source == "Model bundle evaluation":
        if not default_path.is_file():
            st.info(
                f"No evaluation predictions at `{default_path}` (the training pipeline's `evaluate` stage writes them; "
                "or set `SKINTAG_PREDICTIONS`). Choose **Upload a CSV** to audit any model's predictions."
            )
            st.stop()
        mtime = default_path.stat().st_mtime
        df = ui.load_path(str(default_path), mtime)
        key = f"{default_path}:{mtime}"
        path_for_op: Path | None = default_path
        st.caption(f"`{default_path}` — {len(df):,} rows")
    else:
        upload = st.file_uploader("Predictions CSV (one row per image)", type=["csv"], key="upload")
        if upload is None:
            st.info("Upload a CSV with a 0/1 label column, a score column and at least one group column.")
            st.stop()
        df = ui.load_bytes(upload.getvalue())
        key = ui.bytes_key(upload.getvalue())
        path_for_op = None
except SkintagError as exc:
    st.error(f"Could not read the predictions: {exc}")
    st.stop()

columns = [str(c) for c in df.columns]
guess = guess_columns(df)
with st.expander("Column mapping", expanded=source != "Model bundle evaluation"):
    c1, c2, c3 = st.columns(3)
    y_true = c1.selectbox("Label (0/1, 1 = malignant)", columns,
                          index=columns.index(guess["y_true"]) if guess["y_true"] else 0, key="col_y_true")
    y_score = c2.selectbox("Score (P(malignant))", columns,
                           index=columns.index(guess["y_score"]) if guess["y_score"] else min(1, len(columns) - 1),
                           key="col_y_score")
    group_col = c3.selectbox("Group column", columns,
                             index=columns.index(guess["group"]) if guess["group"] else 0, key="col_group")
try:
    checked = validate_predictions(df, y_true, y_score, [group_col])
except SkintagError as exc:
    st.error(f"The mapped columns cannot be audited: {exc}")
    st.stop()
for note in checked.notes:
    st.info(note)

# --- controls ---------------------------------------------------------------------------------------------------
skin = ui.is_skin_type_column(df, group_col)
start, start_from = ui.start_threshold(path_for_op, settings)
c1, c2, c3 = st.columns(3)
grouping = (
    c1.selectbox("Grouping", GROUPINGS, format_func=ui.GROUPING_LABELS.get, key="grouping") if skin else None
)
if not skin:
    c1.caption(f"Groups: the values of `{group_col}` (age is banded).")
tolerance = c2.slider("Tolerance (largest acceptable gap)", 0.0, 0.30, 0.05, 0.01, key="tolerance")
# Start at the exact operating point: rounding it to the step would move it across a calibration step and change
# every rate (isotonic calibration makes many scores equal to the operating point).
threshold = c3.slider("Threshold (malignant when score ≥ threshold)", 0.0, 1.0, float(start), 0.001, format="%.4f",
                      key="threshold", help=f"Starts at {start_from}.")
with st.expander("Evidence and reference"):
    d1, d2, d3, d4 = st.columns(4)
    min_pos = int(d1.number_input("Min. malignant per group", 1, 100, 5, key="min_pos"))
    min_neg = int(d2.number_input("Min. benign per group", 1, 100, 5, key="min_neg"))
    include_flagged = d3.checkbox("Include flagged groups in the gaps", key="include_flagged")

try:
    audit = ui.get_audit(key, df, y_true, y_score, group_col, grouping)
    ref_options = ["between_groups", "overall", *audit.group_names]
    if st.session_state.get("reference") not in ref_options:
        st.session_state["reference"] = "between_groups"  # the grouping changed: its groups are gone
    reference = d4.selectbox(
        "Reference", ref_options, key="reference",
        format_func=lambda r: {"between_groups": "Between groups (max − min)", "overall": "Overall rate"}.get(
            r, f"Group {r}"),
    )
    report = audit.report(threshold, min_positives=min_pos, min_negatives=min_neg, tolerance=tolerance,
                          include_flagged=include_flagged, reference=reference, random_state=0)
except SkintagError as exc:
    st.error(f"Cannot build the report: {exc}")
    st.stop()

# --- results ----------------------------------------------------------------------------------------------------
st.subheader(f"{report.grouping_title} at threshold {report.threshold:.4f}")
ui.render_headline(report)
ui.render_warnings(report)
ui.render_table(report)
ui.render_charts(report, tolerance)

st.subheader("Intersections")
others = [c for c in columns if c not in (y_true, y_score, group_col) and (1 < df[c].nunique() <= 12 or c == "age")]
if others:
    i1, i2 = st.columns(2)
    default_second = others.index("sex") if "sex" in others else 0
    second = i1.selectbox("Intersect with", others, index=default_second, key="intersect_with")
    metric = i2.selectbox("Rate", ["tpr", "fpr", "ppv", "npv"], format_func=str.upper, key="intersect_metric")
    try:
        inter = ui.get_audit(key, df, y_true, y_score, group_col, grouping, second, None).report(
            threshold, min_positives=min_pos, min_negatives=min_neg, tolerance=tolerance,
            include_flagged=include_flagged, auroc_n_boot=0, random_state=0)  # the heatmap shows rates only
        st.plotly_chart(plots.intersection_heatmap(inter, metric), width="stretch", key="fig_heatmap")
        st.caption(
            f"{inter.grouping_title}: equalized-odds difference {ui.fmt(inter.equalized_odds_difference)}; "
            f"{sum(inter.by_group['tpr_insufficient'])} of {len(inter.groups)} cells have fewer than {min_pos} "
            "malignant cases."
        )
    except SkintagError as exc:
        st.error(f"Cannot build the intersection: {exc}")
else:
    st.caption("No second group column with 2-12 values to intersect with.")

st.subheader("Mitigation what-if")
st.info(ANALYSIS_NOTE, icon="🔬")
if st.toggle("Run the equalized-odds what-if", key="run_mitigation"):
    try:
        result = ui.get_mitigation(key, df, y_true, y_score, group_col, grouping, threshold, min_pos, min_neg)
        st.plotly_chart(plots.mitigation_figure(result), width="stretch", key="fig_mitigation")
        st.dataframe(result.table.round(3), width="stretch", key="mitigation_table")
        st.dataframe(result.summary.round(3), width="stretch", key="mitigation_summary")
        if result.skipped:
            st.caption(f"Not optimised (too few cases, or unknown skin type): {', '.join(result.skipped)}.")
    except SkintagError as exc:
        st.error(f"The what-if cannot run: {exc}")

st.subheader("Download the report")
ui.render_downloads(report)
