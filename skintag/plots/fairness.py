"""plotly figures for the Fairness Audit page and the HTML report, built from a :class:`FairnessReport` (no streamlit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from skintag import fitzpatrick
from skintag.fairness.report import RATE_NAMES, FairnessReport
from skintag.stats import ECE_BINS

if TYPE_CHECKING:  # the what-if needs scikit-learn; the figure only reads its table
    from skintag.fairness.mitigation import MitigationResult

_OTHER = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def group_colors(groups: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Colours per group: the skin-tone ramp of :func:`skintag.fitzpatrick.colour` for Fitzpatrick labels (markers
    outlined so the light ones stay visible; grey for unknown), a categorical palette otherwise."""
    return {
        g: fitzpatrick.colour(g) if fitzpatrick.is_skin_label(g) else _OTHER[i % len(_OTHER)]
        for i, g in enumerate(groups)
    }


_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down", "star")
FLAGGED_OPACITY = 0.35


def group_styles(groups: tuple[str, ...] | list[str]) -> dict[str, dict[str, str]]:
    """Per group a line dash and a marker symbol as well as the colour, so that neighbouring skin tones (and any
    colours) can be told apart without relying on colour alone."""
    return {g: {"dash": _DASHES[i % len(_DASHES)], "symbol": _SYMBOLS[i % len(_SYMBOLS)]} for i, g in enumerate(groups)}


def _fmt(x: float) -> str:
    return "undefined" if not np.isfinite(x) else f"{x:.3f}"


def rates_figure(report: FairnessReport, metrics: tuple[str, ...] = ("tpr", "fpr")) -> go.Figure:
    """Per-group rates with their Wilson intervals as error bars; insufficient-evidence groups drawn hollow."""
    bg = report.by_group
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[RATE_NAMES[m] for m in metrics])
    colors = group_colors(list(bg.index))
    for j, m in enumerate(metrics, start=1):
        flag = bg["tpr_insufficient"] if m in ("tpr",) else bg["fpr_insufficient"]
        y = bg[m].to_numpy(dtype=float)
        fig.add_trace(
            go.Scatter(
                x=list(bg.index), y=y, mode="markers",
                marker={"size": 13, "color": [colors[g] for g in bg.index], "line": {"width": 2, "color": "#333"},
                        "symbol": ["circle-open" if f else "circle" for f in flag],
                        "opacity": [FLAGGED_OPACITY if f else 1.0 for f in flag]},
                error_y={"type": "data", "symmetric": False, "array": bg[f"{m}_hi"] - bg[m],
                         "arrayminus": bg[m] - bg[f"{m}_lo"], "color": "#555"},
                customdata=np.stack([bg["n"], bg["positives"], bg["negatives"], bg[f"{m}_lo"], bg[f"{m}_hi"]], axis=1),
                hovertemplate=(f"%{{x}}: {m.upper()} %{{y:.3f}} (%{{customdata[3]:.3f}}–%{{customdata[4]:.3f}})"
                               "<br>n=%{customdata[0]}, malignant=%{customdata[1]}, benign=%{customdata[2]}"
                               "<extra></extra>"),
                name=RATE_NAMES[m], showlegend=False,
            ),
            row=1, col=j,
        )
        overall = float(report.overall[m])
        if np.isfinite(overall):
            fig.add_hline(y=overall, line_dash="dot", line_color="#888", row=1, col=j,
                          annotation_text=f"overall {overall:.2f}", annotation_position="top left")
        fig.update_yaxes(range=[0, 1.02], row=1, col=j)
    fig.update_layout(
        height=380, margin={"l": 40, "r": 20, "t": 60, "b": 40},
        title=f"At threshold {report.threshold:.4f} — hollow, faded markers: insufficient evidence (not in the gap)",
    )
    return fig


def roc_figure(report: FairnessReport) -> go.Figure:
    """ROC curve per group with the operating point at the report's threshold."""
    curves = report.roc_curves()
    bg = report.by_group
    colors = group_colors(list(bg.index))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "#bbb"},
                             showlegend=False, hoverinfo="skip"))
    styles = group_styles(list(bg.index))
    for g, c in curves.items():
        flagged = bool(bg.at[g, "auroc_insufficient"])
        mark = " ⚠ too few cases" if flagged else ""
        fig.add_trace(go.Scatter(
            x=c["fpr"], y=c["tpr"], mode="lines", name=f"{g} (AUROC {_fmt(float(bg.at[g, 'auroc']))}{mark})",
            line={"color": colors[g], "width": 1 if flagged else 2, "dash": "dot" if flagged else styles[g]["dash"]},
            opacity=FLAGGED_OPACITY if flagged else 1.0, legendgroup=g,
        ))
        fig.add_trace(go.Scatter(
            x=[bg.at[g, "fpr"]], y=[bg.at[g, "tpr"]], mode="markers", legendgroup=g, showlegend=False,
            marker={"size": 12, "color": colors[g], "line": {"width": 2, "color": "#000"}, "symbol": "diamond"},
            hovertemplate=f"{g} at {report.threshold:.4f}: TPR %{{y:.3f}}, FPR %{{x:.3f}}<extra></extra>",
        ))
    fig.update_layout(
        height=440, xaxis_title="False-positive rate", yaxis_title="Sensitivity (TPR)",
        title=f"ROC by group — diamonds: operating point at {report.threshold:.4f}; faded dotted: too few cases",
        margin={"l": 50, "r": 20, "t": 60, "b": 50},
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def calibration_figure(report: FairnessReport, n_bins: int = ECE_BINS) -> go.Figure:
    """Reliability curve per group (observed malignant fraction vs mean score per bin), ECE in the legend."""
    table, ece = report.calibration(n_bins=n_bins)
    colors = group_colors(list(report.groups))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "#bbb"},
                             name="perfect calibration", hoverinfo="skip"))
    styles = group_styles(list(report.groups))
    flags = report.by_group["ece_insufficient"]
    for g in report.groups:
        t = table[table["group"] == g]
        if t.empty:
            continue
        flagged = bool(flags[g])
        fig.add_trace(go.Scatter(
            x=t["mean_score"], y=t["observed"], mode="lines+markers",
            name=f"{g} (ECE {ece[g]:.3f}{' ⚠ too few cases' if flagged else ''})",
            marker={"size": np.clip(np.sqrt(t["n"].to_numpy()) * 1.5, 5, 18), "color": colors[g],
                    "line": {"width": 1, "color": "#333"}, "symbol": styles[g]["symbol"]},
            line={"color": colors[g], "dash": "dot" if flagged else styles[g]["dash"]},
            opacity=FLAGGED_OPACITY if flagged else 1.0,
            customdata=np.stack([t["n"], t["observed_lo"], t["observed_hi"]], axis=1),
            hovertemplate=("mean score %{x:.2f} → observed %{y:.2f} (%{customdata[1]:.2f}–%{customdata[2]:.2f}), "
                           "n=%{customdata[0]}<extra>" + g + "</extra>"),
        ))
    fig.update_layout(height=440, xaxis_title="Mean predicted P(malignant)", yaxis_title="Observed malignant fraction",
                      title="Calibration by group (marker size ∝ √n; faded dotted: too few cases)", margin={"l": 50, "r": 20, "t": 60, "b": 50})
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def intersection_heatmap(report: FairnessReport, metric: str = "tpr") -> go.Figure:
    """Heatmap of a rate over the two components of an intersection grouping, cell text with the value and n."""
    bg = report.by_group
    if "group_a" not in bg.columns:
        raise ValueError("intersection_heatmap needs a report over an intersection of two group columns")
    rows = list(dict.fromkeys(bg["group_a"]))
    cols = list(dict.fromkeys(bg["group_b"]))
    z = np.full((len(rows), len(cols)), np.nan)
    text = np.full((len(rows), len(cols)), "no rows", dtype=object)
    flag_col = {"tpr": "tpr_insufficient", "fpr": "fpr_insufficient", "ppv": "ppv_insufficient",
                "npv": "npv_insufficient"}.get(metric, "tpr_insufficient")
    grey = np.full((len(rows), len(cols)), np.nan)
    for _, r in bg.iterrows():
        i, j = rows.index(r["group_a"]), cols.index(r["group_b"])
        if r[flag_col]:  # too few cases: no colour on the scale (colour would read as certainty)
            grey[i, j] = 0.0
            text[i, j] = f"{_fmt(float(r[metric]))} ⚠<br>n={int(r['n'])}, +{int(r['positives'])}"
        else:
            z[i, j] = r[metric]
            text[i, j] = f"{_fmt(float(r[metric]))}<br>n={int(r['n'])}, +{int(r['positives'])}"
    # each cell's text is drawn by the layer that colours it, so plotly picks a font colour that contrasts with it
    # (on one transparent text layer above, dark text sat unreadable on dark green)
    coloured, greyed = ~np.isnan(z), ~np.isnan(grey)
    empty = ~(coloured | greyed)
    fig = go.Figure([
        go.Heatmap(z=z, x=cols, y=rows, colorscale="RdYlGn" if metric != "fpr" else "RdYlGn_r", zmin=0, zmax=1,
                   colorbar={"title": metric.upper()}, hoverongaps=False, text=np.where(coloured, text, ""),
                   texttemplate="%{text}", hoverinfo="text"),
        go.Heatmap(z=grey, x=cols, y=rows, colorscale=[[0, "#e6e6e6"], [1, "#e6e6e6"]], showscale=False,
                   hoverongaps=False, text=np.where(greyed, text, ""), texttemplate="%{text}", hoverinfo="text"),
        go.Heatmap(z=np.where(empty, 0.0, np.nan), x=cols, y=rows, text=np.where(empty, text, ""),
                   texttemplate="%{text}", showscale=False, hoverongaps=False,
                   colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]], hoverinfo="text"),
    ])
    fig.update_layout(height=120 + 60 * len(rows),
                      title=f"{RATE_NAMES[metric]} by intersection (grey ⚠: too few cases, no colour)",
                      margin={"l": 80, "r": 20, "t": 60, "b": 50}, yaxis={"autorange": "reversed"})
    return fig


def sweep_figure(sweep: pd.DataFrame, threshold: float, tolerance: float | None = None) -> go.Figure:
    """TPR gap, FPR gap and equalized-odds difference across thresholds, with the current threshold marked."""
    fig = go.Figure()
    for col, name, dash in (("tpr_gap", "TPR gap", "solid"), ("fpr_gap", "FPR gap", "dash"),
                            ("equalized_odds_difference", "Equalized-odds difference", "dot")):
        fig.add_trace(go.Scatter(x=sweep["threshold"], y=sweep[col], mode="lines+markers", name=name,
                                 line={"dash": dash}))
    fig.add_vline(x=threshold, line_color="#d62728", annotation_text=f"threshold {threshold:.4f}")
    if tolerance is not None:
        fig.add_hline(y=tolerance, line_dash="dot", line_color="#888", annotation_text=f"tolerance {tolerance:.2f}")
    fig.update_layout(height=380, xaxis_title="Threshold", yaxis_title="Gap (max − min)",
                      title="Threshold sweep (between-group gaps, flagged groups left out)",
                      margin={"l": 50, "r": 20, "t": 60, "b": 50})
    return fig


def mitigation_figure(result: MitigationResult) -> go.Figure:
    """TPR and FPR per group before and after the what-if's per-group thresholds (held-out part)."""
    t = result.table
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Sensitivity (TPR)", "False-positive rate (FPR)"])
    for j, m in enumerate(("tpr", "fpr"), start=1):
        for when, color, pattern in (("before", "#7f7f7f", ""), ("after", "#1f77b4", "/")):
            fig.add_trace(go.Bar(x=list(t.index), y=t[f"{m}_{when}"], name=when, marker_color=color,
                                 marker_pattern_shape=pattern, showlegend=j == 1, legendgroup=when), row=1, col=j)
        fig.update_yaxes(range=[0, 1], row=1, col=j)
    fig.update_layout(barmode="group", height=360,
                      title="What-if on the held-out part: per-group thresholds (analysis only)",
                      margin={"l": 40, "r": 20, "t": 60, "b": 40})
    return fig
