"""Fitzpatrick Fairness Audit: per-group rates with intervals and evidence flags, gap verdicts with a stated error
rate, all attributes in one grid, cohort filters, drill-down to a group's rows and images, ROC/calibration by group,
intersections, a sensitivity-holding mitigation what-if and exports — at the rule triage applies or any threshold.
Thin view over skintag.fairness / skintag.ui.fairness / skintag.plots.fairness.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from skintag.errors import SkintagError
from skintag.fairness import audit_attributes, filter_cohort, validate_predictions
from skintag.fairness.data import guess_columns
from skintag.fairness.groups import GROUPINGS
from skintag.fairness.mitigation import ANALYSIS_NOTE, METHODS
from skintag.fairness.multi import ATTRIBUTES, attribute_groups, present_attributes
from skintag.fairness.provenance import provenance, sha256_bytes
from skintag.fairness.rules import PATIENT_COLUMN, ROW_THRESHOLD_COLUMNS, rule_arguments, thresholds_of_rows
from skintag.plots import fairness as plots
from skintag.ui import fairness as ui
from skintag.ui.common import get_settings, safe_md

settings = get_settings()
st.title("⚖️ Fairness Audit")
st.caption(
    "How the malignancy score behaves across skin types (or any other group) under the rule triage applies, or at a "
    "threshold you choose. Rates carry 95 % Wilson intervals; gap verdicts come from simultaneous pairwise intervals "
    "with a stated false-alarm rate; numbers from too few cases are flagged ⚠, not hidden."
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
        df_all = ui.load_path(str(default_path), mtime, str(settings.data_dir))
        raw = default_path.read_bytes()
        key = f"{default_path}:{mtime}"
        file_name = default_path.name
        manifest = ui.bundle_manifest(default_path, settings)
        st.caption(f"{safe_md(default_path)} — {len(df_all):,} rows")
    else:
        upload = st.file_uploader("Predictions CSV (one row per image)", type=["csv"], key="upload")
        if upload is None:
            st.info("Upload a CSV with a 0/1 label column, a score column and at least one group column.")
            st.stop()
        raw = upload.getvalue()
        df_all = ui.load_bytes(raw)
        key = ui.bytes_key(raw)
        file_name = upload.name
        manifest = None  # another model's scores: no bundle rule applies
except SkintagError as exc:
    st.error(f"Could not read the predictions: {safe_md(str(exc))}")
    st.stop()

columns = [str(c) for c in df_all.columns]
guess = guess_columns(df_all)
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
    checked = validate_predictions(df_all, y_true, y_score, [group_col])
except SkintagError as exc:
    st.error(f"The mapped columns cannot be audited: {safe_md(str(exc))}")
    st.stop()
for note in checked.notes:
    st.info(safe_md(note))

# --- cohort -----------------------------------------------------------------------------------------------------
attrs = present_attributes(df_all)
filters: dict[str, list[str]] = {}
with st.expander("Cohort filters"):
    fcols = st.columns(max(len(attrs), 1))
    for fc, (col, grouping_) in zip(fcols, attrs.items(), strict=False):
        order = attribute_groups(df_all, col, grouping_ if col != "fitzpatrick" else "six").order
        filters[col] = fc.multiselect(col, list(order), key=f"filter_{col}")
df = filter_cohort(df_all, filters) if any(filters.values()) else df_all
active = {c: v for c, v in filters.items() if v}
if active:
    st.caption(safe_md("Cohort: " + "; ".join(f"{c} ∈ {{{', '.join(v)}}}" for c, v in active.items()))
               + f" — {len(df):,} rows")
if df.empty:
    st.error("No rows left after the cohort filters.")
    st.stop()
key = f"{key}|{sorted(active.items())}"

# --- the rule ---------------------------------------------------------------------------------------------------
rules = ui.rule_options(manifest)
default_key = next(iter(rules))
start = rules[default_key].single if default_key != ui.CUSTOM else ui.NO_BUNDLE_START
rule_source = f"{source}|{(manifest or {}).get('name')}|{(manifest or {}).get('version')}"
if st.session_state.get("rule_source") != rule_source:  # a new source: start from its own rule (or 0.5)
    st.session_state["rule_source"] = rule_source
    st.session_state["rule"] = default_key
    st.session_state["threshold"] = st.session_state["threshold_box"] = float(start or ui.NO_BUNDLE_START)


def _apply_rule() -> None:
    t = rules[st.session_state["rule"]].single
    if t is not None and st.session_state["rule"] != ui.CUSTOM:
        st.session_state["threshold"] = st.session_state["threshold_box"] = t


def _slider_moved() -> None:
    st.session_state["rule"] = ui.CUSTOM
    st.session_state["threshold_box"] = st.session_state["threshold"]


def _box_changed() -> None:
    st.session_state["rule"] = ui.CUSTOM
    st.session_state["threshold"] = st.session_state["threshold_box"]


def _reset() -> None:
    st.session_state["rule"] = default_key
    st.session_state["threshold"] = st.session_state["threshold_box"] = float(start or ui.NO_BUNDLE_START)


def _set_target(audit: object, target: float) -> None:
    t = audit.threshold_for_sensitivity(target)  # type: ignore[attr-defined]
    st.session_state["rule"] = ui.CUSTOM
    st.session_state["threshold"] = st.session_state["threshold_box"] = t


skin = ui.is_skin_type_column(df, group_col)
r1, r2, r3 = st.columns([2, 2, 1])
rule_key = r1.selectbox("Decision rule", list(rules), format_func=lambda k: rules[k].label, key="rule",
                        on_change=_apply_rule)
r2.slider("Threshold (malignant when score ≥ threshold)", 0.0, 1.0, step=0.0001, format="%.4f", key="threshold",
          on_change=_slider_moved)
r3.number_input("Threshold", 0.0, 1.0, step=0.0001, format="%.4f", key="threshold_box", on_change=_box_changed)
if rule_key != ui.CUSTOM and rules[rule_key].single is None:  # the slider holds one number; this rule has several
    per_domain = " · ".join(f"{safe_md(d)} {t:.4f}" for d, t in rules[rule_key].thresholds.items())
    per_row = (" A table that records each photo's threshold (a cross-fitted set's out-of-fold ones) is audited at "
               "those." if ROW_THRESHOLD_COLUMNS.get(rule_key) in df.columns else "")
    r2.caption(f"Not in use: this rule has one threshold per image domain ({per_domain}).{per_row} Moving the slider "
               "audits one custom threshold instead.")
b1, b2, b3 = st.columns([1, 1, 2])
b1.button("Reset to the bundle rule" if manifest else "Reset to 0.5", key="reset", on_click=_reset)
target = b2.number_input("Target sensitivity", 0.50, 1.0, 0.95, 0.01, key="target_sens")
if manifest is None:
    st.caption("An uploaded file is another model's scores: no bundle threshold applies. The audit starts at 0.5; set "
               "the threshold that model's own rule uses.")

grouping = (st.selectbox("Grouping", GROUPINGS, format_func=ui.GROUPING_LABELS.get, key="grouping") if skin else None)
if not skin:
    st.caption(f"Groups: the values of {safe_md(group_col)} (age is banded).")
rule = rules[rule_key]
if rule_key == ui.CUSTOM:
    rule = rule.__class__(ui.CUSTOM, "Custom threshold", {"*": float(st.session_state["threshold"])},
                          f"a custom threshold: malignant when score ≥ {float(st.session_state['threshold']):.4f}")
args = rule_arguments(df, rule)
st.info(f"**Audited rule:** {args['rule']}.", icon="📏")

with st.expander("Evidence, reference and patients"):
    d1, d2, d3, d4, d5 = st.columns(5)
    min_pos = int(d1.number_input("Min. malignant per group", 1, 100, 5, key="min_pos"))
    min_neg = int(d2.number_input("Min. benign per group", 1, 100, 5, key="min_neg"))
    tolerance = d3.slider("Tolerance (largest acceptable gap)", 0.0, 0.30, 0.05, 0.01, key="tolerance")
    include_flagged = d4.checkbox("Include flagged groups in the gaps", key="include_flagged")
    has_patients = PATIENT_COLUMN in df.columns and df[PATIENT_COLUMN].notna().any()
    by_patient = d5.checkbox("Resample patients", value=bool(has_patients), key="by_patient",
                             disabled=not has_patients,
                             help="Intervals resample patients (several images per patient are not independent)."
                             if has_patients else "No patient ids in the file or the data registry.")
patients = PATIENT_COLUMN if (has_patients and by_patient) else None

try:
    domains = args["domains"]
    audit = ui.get_audit(f"{key}|{None if domains is None else hash(tuple(domains))}", df, y_true, y_score, group_col,
                         grouping, patients=patients, _domains=domains)
    b3.button("Set the threshold for the target sensitivity", key="set_target", on_click=_set_target,
              args=(audit, float(target)))
    ref_options = ["between_groups", "overall", *audit.group_names]
    if st.session_state.get("reference") not in ref_options:
        st.session_state["reference"] = "between_groups"  # the grouping changed: its groups are gone
    reference = st.selectbox(
        "Reference", ref_options, key="reference",
        format_func=lambda r: {"between_groups": "Between groups (all pairs)", "overall": "Overall rate"}.get(
            r, f"Group {r}"),
    )
    options = dict(min_positives=min_pos, min_negatives=min_neg, tolerance=tolerance,
                   include_flagged=include_flagged, reference=reference, random_state=0)
    bar = st.progress(0.0, text="Auditing…")  # the AUROC bootstrap of a large file takes seconds, once per audit
    report = audit.report(args["threshold"], rule=args["rule"], **options,
                          progress=lambda done, words: bar.progress(min(1.0, done), text=words))
    bar.empty()
except SkintagError as exc:
    st.error(f"Cannot build the report: {safe_md(str(exc))}")
    st.stop()

# --- results ----------------------------------------------------------------------------------------------------
shown = (f"threshold {float(args['threshold']):.4f}" if not isinstance(args["threshold"], dict)
         else "the audited rule (several thresholds: per image domain or per photo)")
st.subheader(f"{safe_md(report.grouping_title)} at {shown}")
ui.render_headline(report)
ui.render_warnings(report)
ui.render_table(report)
ui.render_charts(report, tolerance)

st.subheader("All attributes")
grid_options = {k: v for k, v in options.items() if k != "reference"}
grid, _ = audit_attributes(df, y_true, y_score, args["threshold"], domains=args["domains"], clusters=patients,
                           attributes={c: ATTRIBUTES[c] for c in attrs}, n_boot=200, auroc_n_boot=0, **grid_options)
if len(grid):
    st.dataframe(grid.round(3), width="stretch", key="attribute_grid")
    st.caption("pass = within tolerance, fail = outside tolerance (false-alarm rate ≤ 5 %), inconclusive = the evidence "
               "cannot decide (cases per group that would decide beside it).")

st.subheader("Rows of a group")
drill = st.selectbox("Group", list(audit.group_names), key="drill_group")
ui.render_group_rows(df, audit, drill, y_true, y_score)

st.subheader("Intersections")
others = [c for c in columns if c not in (y_true, y_score, group_col) and (1 < df[c].nunique() <= 12 or c == "age")]
intersections = {}
if others:
    i1, i2 = st.columns(2)
    default_second = others.index("sex") if "sex" in others else 0
    second = i1.selectbox("Intersect with", others, index=default_second, key="intersect_with")
    metric = i2.selectbox("Rate", ["tpr", "fpr", "ppv", "npv"], format_func=str.upper, key="intersect_metric")
    try:
        inter = ui.get_audit(f"{key}|{None if domains is None else hash(tuple(domains))}", df, y_true, y_score,
                             group_col, grouping, second, None, patients=patients, _domains=domains).report(
            args["threshold"], rule=args["rule"], auroc_n_boot=0, **options | {"reference": "between_groups"})
        intersections[inter.grouping_title] = inter
        st.plotly_chart(plots.intersection_heatmap(inter, metric), width="stretch", key="fig_heatmap")
        st.caption(
            f"{safe_md(inter.grouping_title)}: equalized-odds difference {ui.fmt(inter.equalized_odds_difference)}; "
            f"{sum(inter.by_group['tpr_insufficient'])} of {len(inter.groups)} cells have fewer than {min_pos} "
            "malignant cases (grey, ⚠)."
        )
    except SkintagError as exc:
        st.error(f"Cannot build the intersection: {safe_md(str(exc))}")
else:
    st.caption("No second group column with 2-12 values to intersect with.")

st.subheader("Mitigation what-if")
st.info(ANALYSIS_NOTE, icon="🔬")
mitigation = None
m1, m2 = st.columns(2)
method = m1.radio("Method", list(METHODS), format_func=METHODS.get, key="mitigation_method")
floor = m2.slider("Sensitivity floor for every group", 0.50, 1.0, 0.90, 0.01, key="sens_floor",
                  disabled=method != "sensitivity_floor")
# the what-if starts from the audited rule: one threshold, or each row's (its image domain's, or its out-of-fold one)
if isinstance(args["threshold"], dict):
    base: float | np.ndarray = thresholds_of_rows(args["threshold"], args["domains"])
    base_key = hashlib.sha256(base.tobytes()).hexdigest()[:16]
    st.caption("The what-if starts from the audited rule: each row at its own threshold "
               f"({np.nanmin(base):.4f}–{np.nanmax(base):.4f}); groups that are not optimised keep theirs.")
else:
    base = float(args["threshold"])
    base_key = repr(base)
if st.toggle("Run the what-if", key="run_mitigation"):
    try:
        mitigation = ui.get_mitigation(f"{key}|{base_key}", df, y_true, y_score, group_col, grouping, base, min_pos,
                                       min_neg, method, floor, patients)
        st.markdown(f"**{safe_md(mitigation.words)}**")
        st.caption(f"Fitted on one part, reported on the other: {mitigation.split}.")
        st.plotly_chart(plots.mitigation_figure(mitigation), width="stretch", key="fig_mitigation")
        st.dataframe(mitigation.table.round(3), width="stretch", key="mitigation_table")
        st.dataframe(mitigation.summary.round(3), width="stretch", key="mitigation_summary")
        if mitigation.skipped:
            st.caption(f"Not optimised (too few cases, or unknown skin type): {safe_md(', '.join(mitigation.skipped))}.")
    except SkintagError as exc:
        st.error(f"The what-if cannot run: {safe_md(str(exc))}")

st.subheader("Download the report")
full = report.with_context(
    provenance=provenance(predictions_name=file_name, predictions_sha256=sha256_bytes(raw), manifest=manifest),
    settings={"cohort_filters": {c: list(v) for c, v in active.items()},
              "decision_rule": {**rule.to_dict(), "applied": args["rule"]},
              "group_column": group_col},
    intersections=intersections, mitigation=mitigation, attributes=grid if len(grid) else None,
)
ui.render_downloads(full)
