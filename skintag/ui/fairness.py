"""Streamlit pieces of the Fairness Audit page: where the predictions come from, cached loading and audits, and the
renderers of each section. Numbers come from :mod:`skintag.fairness`, figures from :mod:`skintag.plots.fairness`.
No torch is imported here (the page must open without it).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from skintag import fitzpatrick
from skintag.documents.fairness_report import render_fairness_html
from skintag.errors import ModelBundleError
from skintag.fairness import FairnessAudit, FairnessReport, age_band, make_groups
from skintag.fairness.data import DEFAULT_PREDICTIONS, default_operating_point, read_predictions
from skintag.fairness.export import display_table
from skintag.fairness.report import INCONCLUSIVE, NOT_ASSESSABLE, OUTSIDE, WITHIN
from skintag.model.manifest import read_manifest
from skintag.plots import fairness as plots
from skintag.settings import Settings

PREDICTIONS_ENV = "SKINTAG_PREDICTIONS"
NONE = "(none)"
SKIN_TYPE_NAMES = ("fitzpatrick", "fst", "fitzpatrick_scale", "skin_type", "skin_tone", "fitzpatrick_group")
GROUPING_LABELS = {"six": "Six types (I … VI)", "three": "I-II / III-IV / V-VI", "binary": "I-III vs IV-VI"}
VERDICT_ICON = {WITHIN: "✅", OUTSIDE: "❌", INCONCLUSIVE: "❔", NOT_ASSESSABLE: "➖"}


def default_predictions_path(settings: Settings) -> Path:
    """``$SKINTAG_PREDICTIONS`` if set, else ``<model bundle>/eval/predictions_pad_ufes_20.csv``."""
    env = os.environ.get(PREDICTIONS_ENV)
    return Path(env).expanduser() if env else settings.model_dir / DEFAULT_PREDICTIONS


def start_threshold(predictions: Path | None, settings: Settings) -> tuple[float, str]:
    """The slider's starting threshold and where it came from: the default operating point of the bundle manifest
    beside the predictions file (``<bundle>/eval/…`` → ``<bundle>/manifest.json``), else of the configured bundle,
    else 0.5."""
    candidates = [predictions.parent.parent] if predictions is not None else []
    candidates.append(settings.model_dir)
    for folder in candidates:
        try:
            op = default_operating_point(read_manifest(folder))
        except ModelBundleError:
            continue
        if op is not None:
            return op[1], f"operating point '{op[0]}' of {folder.name}/manifest.json"
    return 0.5, "0.5 (no operating point in a bundle manifest)"


@st.cache_resource(show_spinner="Reading predictions…", max_entries=4)
def load_path(path: str, mtime: float) -> pd.DataFrame:
    """The predictions CSV at ``path`` (cached per path and modification time; shared read-only, never mutated).
    ``cache_resource`` rather than ``cache_data``: no pickling of the table."""
    return read_predictions(path)


@st.cache_resource(show_spinner="Reading the upload…", max_entries=4)
def load_bytes(data: bytes) -> pd.DataFrame:
    return read_predictions(data)


def bytes_key(data: bytes) -> str:
    """A content key for caching audits of an uploaded file."""
    return hashlib.sha256(data).hexdigest()[:16]


def is_skin_type_column(df: pd.DataFrame, column: str) -> bool:
    """Named like a Fitzpatrick column, or ≥ 95 % of its non-missing values parse as skin types."""
    if column.lower() in SKIN_TYPE_NAMES:
        return True
    values = df[column].dropna()
    if values.empty or values.nunique() > 12:
        return False
    exact, coarse, ok = fitzpatrick.parse_array(values.to_numpy(dtype=object), accept="any")
    return bool(ok.mean() >= 0.95 and (coarse >= 0).mean() >= 0.95)


def column_values(df: pd.DataFrame, column: str) -> tuple[np.ndarray, str]:
    """Values of a group column as used for grouping (``age`` → age bands) and the name to show."""
    if column.lower() == "age" and pd.api.types.is_numeric_dtype(df[column]):
        return age_band(df[column].to_numpy()), "age_band"
    return df[column].to_numpy(dtype=object), column


@st.cache_resource(show_spinner="Preparing the audit…", max_entries=16)
def get_audit(
    key: str, _df: pd.DataFrame, y_true: str, y_score: str, column: str, grouping: str | None,
    column2: str | None = None, grouping2: str | None = None,
) -> FairnessAudit:
    """One :class:`FairnessAudit` per (data, mapping, grouping); the slider then only calls ``.report``."""
    values, name = column_values(_df, column)
    grouped = make_groups(values, grouping, column=name)
    if column2:
        from skintag.fairness import intersect

        values2, name2 = column_values(_df, column2)
        grouped = intersect(grouped, make_groups(values2, grouping2, column=name2))
    return FairnessAudit(_df[y_true].to_numpy(), _df[y_score].to_numpy(), grouped,
                         grouping=grouping if not column2 else (grouping, grouping2))


@st.cache_resource(show_spinner="Running the what-if (fairlearn ThresholdOptimizer)…", max_entries=8)
def get_mitigation(key: str, _df: pd.DataFrame, y_true: str, y_score: str, column: str, grouping: str | None,
                   threshold: float, min_positives: int, min_negatives: int) -> Any:
    from skintag.fairness import mitigation_whatif

    values, name = column_values(_df, column)
    groups = make_groups(values, grouping, column=name)
    return mitigation_whatif(_df[y_true].to_numpy(), _df[y_score].to_numpy(), groups, threshold=threshold,
                             grouping=grouping, min_positives=min_positives, min_negatives=min_negatives,
                             random_state=0)


def fmt(x: float) -> str:
    return "undefined" if not np.isfinite(x) else f"{x:.3f}"


def render_headline(report: FairnessReport) -> None:
    """Equalized-odds difference and the two gap verdicts as metrics."""
    gaps = report.gaps
    lo, hi = report.equalized_odds_ci
    cols = st.columns(4)
    cols[0].metric("Rows audited", f"{report.n_rows:,}", help=f"{report.n_dropped} dropped (missing score)")
    ci = f"{lo:.3f}–{hi:.3f}" if np.isfinite(lo) else "no interval"
    cols[1].metric("Equalized-odds difference", fmt(report.equalized_odds_difference), help=f"95 % interval {ci}")
    for col, m in zip(cols[2:], ("tpr", "fpr"), strict=True):
        r = gaps.loc[m]
        col.metric(
            f"{m.upper()} gap", f"{fmt(float(r['difference']))}",
            help=f"interval {fmt(float(r['difference_lo']))}–{fmt(float(r['difference_hi']))}; ratio "
                 f"{fmt(float(r['ratio']))}; tolerance {r['tolerance']:.2f}",
        )
        col.markdown(f"{VERDICT_ICON[r['verdict']]} **{r['verdict']}**")


def render_warnings(report: FairnessReport) -> None:
    for w in report.warnings:
        st.warning(w, icon="⚠️")


def render_table(report: FairnessReport) -> None:
    """Per-group table: value (95 % interval), flags, notes; and the gap table."""
    st.dataframe(display_table(report), width="stretch", key="group_table")
    g = report.gaps
    st.dataframe(pd.DataFrame({
        "difference": [f"{fmt(r['difference'])} ({fmt(r['difference_lo'])}–{fmt(r['difference_hi'])})"
                       for _, r in g.iterrows()],
        "ratio": [f"{fmt(r['ratio'])} ({fmt(r['ratio_lo'])}–{fmt(r['ratio_hi'])})" for _, r in g.iterrows()],
        "verdict": g["verdict"].to_numpy(), "groups used": g["groups_used"].to_numpy(),
        "left out": g["groups_left_out"].to_numpy(),
    }, index=pd.Index(["TPR gap", "FPR gap"], name="gap")), width="stretch", key="gap_table")


def render_downloads(report: FairnessReport) -> None:
    """Download buttons; the HTML report (with plotly.js inlined, ~5 MB) is built only on request."""
    cols = st.columns(4)
    cols[0].download_button("JSON", report.to_json(), "fairness_report.json", "application/json", key="dl_json")
    cols[1].download_button("CSV", report.to_csv(), "fairness_report.csv", "text/csv", key="dl_csv")
    cols[2].download_button("Markdown", report.to_markdown(), "fairness_report.md", "text/markdown", key="dl_md")
    if cols[3].toggle("Build HTML report", key="build_html", help="Self-contained: works offline (~5 MB)."):
        cols[3].download_button("HTML", render_fairness_html(report), "fairness_report.html", "text/html", key="dl_html")


def render_charts(report: FairnessReport, tolerance: float) -> None:
    tabs = st.tabs(["TPR & FPR", "ROC", "Calibration", "Threshold sweep"])
    with tabs[0]:
        st.plotly_chart(plots.rates_figure(report), width="stretch", key="fig_rates")
    with tabs[1]:
        st.plotly_chart(plots.roc_figure(report), width="stretch", key="fig_roc")
    with tabs[2]:
        st.plotly_chart(plots.calibration_figure(report), width="stretch", key="fig_cal")
        _, ece = report.calibration()
        st.caption("ECE by group: " + ", ".join(f"{g} {v:.3f}" for g, v in ece.items()))
    with tabs[3]:
        sweep = report.threshold_sweep()
        st.plotly_chart(plots.sweep_figure(sweep, report.threshold, tolerance), width="stretch", key="fig_sweep")
        st.dataframe(sweep.round(3), width="stretch", hide_index=True, key="sweep_table")
