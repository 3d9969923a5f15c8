"""The fairness report as one self-contained HTML file: provenance, settings, gaps, per-group table, the attribute
grid, intersections, the mitigation what-if, warnings and (in the full version) the plotly charts. The full version
inlines plotly.js once, so it opens offline (≈5 MB); ``charts=False`` gives the tables alone (well under 1 MB). The text
parts come from :mod:`skintag.fairness.export`, the charts from :mod:`skintag.plots.fairness`. Everything written is
HTML-escaped (group names, column names, file names come from the data)."""

from __future__ import annotations

import html
from pathlib import Path

from skintag.fairness.export import display_table, gap_table, summary_lines, write_text
from skintag.fairness.report import FairnessReport
from skintag.plots import fairness as plots

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}.warn li{color:#8a5300}"""


def _charts_html(report: FairnessReport, include_plotlyjs: bool | str) -> str:
    """The report's figures as HTML fragments, plotly.js included (as asked) with the first one only."""
    figs = [plots.rates_figure(report), plots.roc_figure(report), plots.calibration_figure(report),
            plots.sweep_figure(report.threshold_sweep(), report.threshold, float(report.gaps["tolerance"].max()))]
    if "group_a" in report.by_group.columns:
        figs.append(plots.intersection_heatmap(report, "tpr"))
    return "".join(
        f.to_html(full_html=False, include_plotlyjs=include_plotlyjs if i == 0 else False, default_width="100%")
        for i, f in enumerate(figs)
    )


def _unmd(line: str) -> str:
    """A summary line without its Markdown bullet and backslash escapes (the HTML escapes it again)."""
    import re

    return re.sub(r"\\(.)", r"\1", line[2:])


def render_fairness_html(
    report: FairnessReport, path: str | Path | None = None, *, include_plotlyjs: bool | str = True,
    charts: bool = True,
) -> str:
    """A single HTML file of the report; written to ``path`` when given, and returned.

    ``include_plotlyjs=True`` inlines plotly.js once (≈4.7 MB, works offline); ``"cdn"`` makes a small file that needs
    the internet to draw the charts; ``charts=False`` leaves the charts out (tables only, < 1 MB).
    """
    summary = "".join(f"<li>{html.escape(_unmd(line))}</li>" for line in summary_lines(report))
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
    ctx = report.context
    extra = []
    if ctx.get("attributes") is not None:
        extra.append(f"<h2>All attributes</h2>{ctx['attributes'].round(3).to_html(escape=True)}")
    for name, inter in (ctx.get("intersections") or {}).items():
        extra.append(f"<h2>Intersection: {html.escape(str(name))}</h2>{gap_table(inter).to_html(escape=True)}"
                     f"{display_table(inter).to_html(escape=True)}")
    if ctx.get("mitigation") is not None:
        mit = ctx["mitigation"]
        extra.append(f"<h2>Mitigation what-if</h2><p><b>{html.escape(mit.words)}</b></p><p>{html.escape(mit.method)}; "
                     f"{html.escape(mit.split)}. {html.escape(mit.note)}</p>{mit.table.round(3).to_html(escape=True)}"
                     f"{mit.summary.round(3).to_html(escape=True)}")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SkinTag fairness report</title>
<style>{_STYLE}</style></head><body>
<h1>SkinTag fairness report</h1><ul>{summary}</ul>
<h2>Gaps</h2>{gap_table(report).to_html(escape=True)}
<h2>By group</h2>{display_table(report).to_html(escape=True)}
{"".join(extra)}
{"<h2>Warnings</h2><ul class='warn'>" + warn + "</ul>" if warn else ""}
{"<h2>Charts</h2>" + _charts_html(report, include_plotlyjs) if charts else ""}
</body></html>
"""
    return write_text(doc, path)
