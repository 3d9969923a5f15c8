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


def enlarge_nearest(image: Any, min_side: int = 224) -> Any:
    """A PIL image enlarged by the smallest whole factor that makes its shorter side at least ``min_side`` pixels, with
    nearest-neighbour resampling, so that each model pixel shows as a sharp square block (no smoothing invents detail).
    An image already that large is returned unchanged."""
    from PIL import Image

    factor = max(1, -(-int(min_side) // max(1, min(image.size))))
    if factor == 1:
        return image
    return image.resize((image.size[0] * factor, image.size[1] * factor), Image.Resampling.NEAREST)


def colour_legend_html(colormap: str, low: str, high: str, *, title: str = "", stops: int = 11) -> str:
    """HTML of a horizontal colour bar for a heat-map colormap, with the words for its low and high ends.

    The gradient samples the same OpenCV colormap the overlays are drawn with (:func:`skintag.explain.attention.colorize`)
    at ``stops`` evenly spaced values from 0 to 1, so the bar matches the maps exactly.
    """
    import html

    import numpy as np

    from skintag.explain.attention import colorize

    rgb = colorize(np.linspace(0.0, 1.0, stops)[None, :], colormap)[0]
    gradient = ", ".join(f"rgb({r},{g},{b}) {100 * i / (stops - 1):.0f}%" for i, (r, g, b) in enumerate(rgb))
    head = f"<div style='font-size:0.8em;margin-bottom:2px'>{html.escape(title)}</div>" if title else ""
    return (
        f"<div data-testid='colour-legend' data-colormap='{html.escape(colormap)}' style='margin:2px 0 10px'>{head}"
        f"<div style='height:12px;border-radius:3px;border:1px solid #999;background:linear-gradient(to right, "
        f"{gradient})'></div><div style='display:flex;justify-content:space-between;font-size:0.8em'>"
        f"<span>{html.escape(low)}</span><span>{html.escape(high)}</span></div></div>"
    )
