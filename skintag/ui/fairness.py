"""Streamlit pieces of the Fairness Audit page: where the predictions come from, the decision rule, cached loading and
audits, and the renderers of each section. Numbers come from :mod:`skintag.fairness`, figures from
:mod:`skintag.plots.fairness`. No torch is imported here (the page must open without it).
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
from skintag.fairness import FairnessAudit, FairnessReport
from skintag.fairness.data import DEFAULT_PREDICTIONS, attach_registry, read_predictions
from skintag.fairness.export import display_table, gap_table
from skintag.fairness.multi import attribute_groups
from skintag.fairness.report import INCONCLUSIVE, NOT_ASSESSABLE, OUTSIDE, WITHIN
from skintag.fairness.rules import DecisionRule, bundle_rules
from skintag.model.manifest import read_manifest
from skintag.plots import fairness as plots
from skintag.settings import Settings
from skintag.ui.common import safe_md

PREDICTIONS_ENV = "SKINTAG_PREDICTIONS"
NONE = "(none)"
CUSTOM = "custom"
SKIN_TYPE_NAMES = ("fitzpatrick", "fst", "fitzpatrick_scale", "skin_type", "skin_tone", "fitzpatrick_group")
GROUPING_LABELS = {"six": "Six types (I … VI)", "three": "I-II / III-IV / V-VI", "binary": "I-III vs IV-VI"}
VERDICT_ICON = {WITHIN: "✅", OUTSIDE: "❌", INCONCLUSIVE: "❔", NOT_ASSESSABLE: "➖"}
NO_BUNDLE_START = 0.5


def default_predictions_path(settings: Settings) -> Path:
    """``$SKINTAG_PREDICTIONS`` if set, else ``<model bundle>/eval/predictions_pad_ufes_20.csv``."""
    env = os.environ.get(PREDICTIONS_ENV)
    return Path(env).expanduser() if env else settings.model_dir / DEFAULT_PREDICTIONS


def bundle_manifest(predictions: Path | None, settings: Settings) -> dict[str, Any] | None:
    """The manifest of the bundle beside the predictions file (``<bundle>/eval/…``), else of the configured bundle;
    None for an upload (another model's scores: no bundle rule applies to them)."""
    if predictions is None:
        return None
    for folder in (predictions.parent.parent, settings.model_dir):
        try:
            return read_manifest(folder)
        except ModelBundleError:
            continue
    return None


def rule_options(manifest: dict[str, Any] | None) -> dict[str, DecisionRule]:
    """The bundle's rules (triage referral first) and the custom threshold."""
    rules = dict(bundle_rules(manifest))
    rules[CUSTOM] = DecisionRule(CUSTOM, "Custom threshold (slider)", {"*": NO_BUNDLE_START}, "")
    return rules


@st.cache_resource(show_spinner="Reading predictions…", max_entries=4)
def load_path(path: str, mtime: float, data_dir: str) -> pd.DataFrame:
    """The predictions CSV at ``path`` with patient ids and image files joined from the data registry where the data
    root has them (cached per path, modification time and data root; shared read-only, never mutated).
    ``cache_resource`` rather than ``cache_data``: no pickling of the table."""
    return attach_registry(read_predictions(path), data_dir)


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


@st.cache_resource(show_spinner="Preparing the audit…", max_entries=16)
def get_audit(
    key: str, _df: pd.DataFrame, y_true: str, y_score: str, column: str, grouping: str | None,
    column2: str | None = None, grouping2: str | None = None, patients: str | None = None,
    _domains: np.ndarray | None = None,
) -> FairnessAudit:
    """One :class:`FairnessAudit` per (data, filters, mapping, grouping, patients); the slider then only calls
    ``.report``. ``key`` must identify the data, the cohort filters and the rule's domains."""
    grouped = attribute_groups(_df, column, grouping)
    if column2:
        from skintag.fairness import intersect

        grouped = intersect(grouped, attribute_groups(_df, column2, grouping2))
    return FairnessAudit(_df[y_true].to_numpy(), _df[y_score].to_numpy(), grouped,
                         grouping=grouping if not column2 else (grouping, grouping2),
                         clusters=None if patients is None else _df[patients].to_numpy(dtype=object),
                         domains=_domains)


@st.cache_resource(show_spinner="Running the what-if…", max_entries=8)
def get_mitigation(key: str, _df: pd.DataFrame, y_true: str, y_score: str, column: str, grouping: str | None,
                   _threshold: float | np.ndarray, min_positives: int, min_negatives: int, method: str, floor: float,
                   patients: str | None) -> Any:
    """The what-if from the audited rule, ``_threshold`` (one number, or one per row of ``_df``); ``key`` must identify
    the data, the cohort filters and that rule."""
    from skintag.fairness import mitigation_whatif

    return mitigation_whatif(_df[y_true].to_numpy(), _df[y_score].to_numpy(), attribute_groups(_df, column, grouping),
                             threshold=_threshold, grouping=grouping, min_positives=min_positives,
                             min_negatives=min_negatives, method=method, sensitivity_floor=floor,
                             clusters=None if patients is None else _df[patients].to_numpy(dtype=object),
                             random_state=0)


def fmt(x: float) -> str:
    return "undefined" if not np.isfinite(x) else f"{x:.3f}"


def render_headline(report: FairnessReport) -> None:
    """Equalized-odds difference and the two gap verdicts as metrics, with the cases that would decide."""
    gaps = report.gaps
    lo, hi = report.equalized_odds_ci
    cols = st.columns(4)
    unit = f"{report.n_clusters:,} patients resampled" if report.clustered else "images treated as independent"
    cols[0].metric("Rows audited", f"{report.n_rows:,}", help=f"{report.n_dropped} dropped (missing score); {unit}")
    ci = f"{lo:.3f}–{hi:.3f}" if np.isfinite(lo) else "no interval"
    cols[1].metric("Equalized-odds difference", fmt(report.equalized_odds_difference),
                   help=f"simultaneous {report.ci:.0%} interval {ci}")
    for col, m in zip(cols[2:], ("tpr", "fpr"), strict=True):
        r = gaps.loc[m]
        col.metric(
            f"{m.upper()} gap", f"{fmt(float(r['difference']))}",
            help=f"simultaneous interval {fmt(float(r['difference_lo']))}–{fmt(float(r['difference_hi']))}; ratio "
                 f"{fmt(float(r['ratio']))}; tolerance {r['tolerance']:.2f}; {int(r['comparisons'])} comparisons",
        )
        need = f" — about {int(r['n_needed']):,} per group would decide" if np.isfinite(r["n_needed"]) else ""
        col.markdown(f"{VERDICT_ICON[r['verdict']]} **{r['verdict']}**{need}")
    st.caption(f"Verdicts: {report.method}.")


def render_warnings(report: FairnessReport) -> None:
    for w in report.warnings:
        st.warning(safe_md(w), icon="⚠️")


def render_table(report: FairnessReport) -> None:
    """Per-group table (value (95 % interval), ⚠ from too few cases, confusion counts, flags) and the gap table."""
    st.dataframe(display_table(report), width="stretch", key="group_table")
    st.dataframe(gap_table(report), width="stretch", key="gap_table")


def render_downloads(report: FairnessReport, stem: str = "fairness_report") -> None:
    """Download buttons; the full HTML report (plotly.js inlined, ~5 MB) is built only on request."""
    cols = st.columns(5)
    cols[0].download_button("JSON", report.to_json(), f"{stem}.json", "application/json", key="dl_json")
    cols[1].download_button("CSV", report.to_csv(), f"{stem}.csv", "text/csv", key="dl_csv")
    cols[2].download_button("Markdown", report.to_markdown(), f"{stem}.md", "text/markdown", key="dl_md")
    cols[3].download_button("HTML (tables, < 1 MB)", render_fairness_html(report, charts=False), f"{stem}.html",
                            "text/html", key="dl_html_small")
    if cols[4].toggle("Build full HTML", key="build_html", help="With the charts, works offline (~5 MB)."):
        cols[4].download_button("HTML with charts", render_fairness_html(report), f"{stem}_full.html", "text/html",
                                key="dl_html")


def render_charts(report: FairnessReport, tolerance: float) -> None:
    tabs = st.tabs(["TPR & FPR", "ROC", "Calibration", "Threshold sweep"])
    with tabs[0]:
        st.plotly_chart(plots.rates_figure(report), width="stretch", key="fig_rates")
    with tabs[1]:
        st.plotly_chart(plots.roc_figure(report), width="stretch", key="fig_roc")
    with tabs[2]:
        st.plotly_chart(plots.calibration_figure(report), width="stretch", key="fig_cal")
        bg = report.by_group
        st.caption("ECE by group: " + ", ".join(
            f"{safe_md(g)} {v:.3f}{' ⚠ too few cases' if bg.at[g, 'ece_insufficient'] else ''}" for g, v in bg["ece"].items()))
    with tabs[3]:
        sweep = report.threshold_sweep()
        st.plotly_chart(plots.sweep_figure(sweep, report.threshold, tolerance), width="stretch", key="fig_sweep")
        st.dataframe(sweep.round(3), width="stretch", hide_index=True, key="sweep_table")


def render_group_rows(df: pd.DataFrame, audit: FairnessAudit, group: str, y_true: str, y_score: str,
                      max_images: int = 12) -> None:
    """The rows of one group, and their images where the data root has them."""
    rows = df.iloc[audit.rows_of(group)]
    st.dataframe(rows.drop(columns=[c for c in rows.columns if c.startswith("cond_prob_")]), width="stretch",
                 key="drill_rows")
    if "image_path" in rows.columns and "has_image" in rows.columns:
        shown = rows[rows["has_image"].fillna(False).astype(bool)].head(max_images)
        if len(shown):
            st.image([str(p) for p in shown["image_path"]], width=120,
                     caption=[f"{i} · y={y} · p={s:.2f}" for i, y, s in
                              zip(shown.get("image_id", shown.index), shown[y_true], shown[y_score], strict=False)])
