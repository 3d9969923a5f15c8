"""Pictures of a triage result (no streamlit calls): the three-category bars, the enlarged model input and the colour
legend of the maps."""

from __future__ import annotations

from typing import Any

from skintag.triage import CATEGORIES, CATEGORY_DISPLAY, TriageResult

CATEGORY_COLOURS = {"malignant": "#c62828", "inflammatory": "#ef6c00", "benign": "#2e7d32"}


def category_bars_html(result: TriageResult) -> str:
    """HTML bars of the three category masses (malignant = calibrated P(malignant)), the dominant one marked: static
    markup with inline styles, so the triage card draws it at once (no chart library to load in the browser) and the
    case report embeds the same rows."""
    import html

    cats = result.categories or {}
    rows = []
    for c in CATEGORIES:
        v = min(max(float(cats.get(c, 0.0)), 0.0), 1.0)
        mark = " ◀ dominant" if c == result.dominant_category else ""
        rows.append(
            f"<tr data-category='{c}' data-value='{v:.6f}'><td style='padding:2px 8px 2px 0;white-space:nowrap'>"
            f"{html.escape(CATEGORY_DISPLAY[c] + mark)}</td><td style='width:55%;padding:2px 0'>"
            f"<div style='background:#eee;border-radius:3px;height:14px;width:100%'><div style='width:{100 * v:.1f}%;"
            f"height:14px;border-radius:3px;background:{CATEGORY_COLOURS[c]}'></div></div></td>"
            f"<td style='padding:2px 0 2px 8px;text-align:right'>{v:.0%}</td></tr>"
        )
    return ("<table data-testid='category-bars' style='border-collapse:collapse;width:100%;border:none'>"
            + "".join(rows) + "</table>")


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
