"""plotly figures of a triage result (no streamlit calls): the three-category breakdown and the top conditions."""

from __future__ import annotations

from typing import Any

from skintag.triage import CATEGORIES, CATEGORY_DISPLAY, TriageResult

CATEGORY_COLOURS = {"malignant": "#c62828", "inflammatory": "#ef6c00", "benign": "#2e7d32"}


def category_figure(result: TriageResult) -> Any:
    """Horizontal bars of the three category masses (malignant = calibrated P(malignant)); empty if no score."""
    import plotly.graph_objects as go

    cats = result.categories or {}
    names = [CATEGORY_DISPLAY[c] + (" ◀" if c == result.dominant_category else "") for c in CATEGORIES]
    values = [float(cats.get(c, 0.0)) for c in CATEGORIES]
    fig = go.Figure(
        go.Bar(
            x=values, y=names, orientation="h", marker_color=[CATEGORY_COLOURS[c] for c in CATEGORIES],
            text=[f"{v:.0%}" for v in values], textposition="auto", hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        height=170, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"range": [0, 1], "tickformat": ".0%"},
        yaxis={"autorange": "reversed"}, showlegend=False,
    )
    return fig


def top_conditions_figure(result: TriageResult) -> Any:
    """Bars of the top-3 conditions coloured by their category."""
    import plotly.graph_objects as go

    conds = list(result.top_conditions)
    fig = go.Figure(
        go.Bar(
            x=[c.probability for c in conds], y=[c.name for c in conds], orientation="h",
            marker_color=[CATEGORY_COLOURS.get(c.category, "#616161") for c in conds],
            text=[f"{c.probability:.0%}" for c in conds], textposition="auto",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        height=150, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"range": [0, 1], "tickformat": ".0%"},
        yaxis={"autorange": "reversed"}, showlegend=False,
    )
    return fig
