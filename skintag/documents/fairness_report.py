"""The fairness report as one self-contained HTML file: summary, gaps, per-group table, warnings and the plotly charts
(rates, ROC, calibration, threshold sweep, and the intersection heatmap for an intersection grouping). plotly.js is
inlined once, so the file opens offline. The text parts come from :mod:`skintag.fairness.export`, the charts from
:mod:`skintag.plots.fairness`."""

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


def render_fairness_html(
    report: FairnessReport, path: str | Path | None = None, *, include_plotlyjs: bool | str = True
) -> str:
    """A single HTML file of the report; written to ``path`` when given, and returned.

    ``include_plotlyjs=True`` inlines plotly.js once (≈4.7 MB, works offline); ``"cdn"`` makes a small file that needs
    the internet to draw the charts.
    """
    summary = "".join(f"<li>{html.escape(line[2:])}</li>" for line in summary_lines(report))
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SkinTag fairness report</title>
<style>{_STYLE}</style></head><body>
<h1>SkinTag fairness report</h1><ul>{summary}</ul>
<h2>Gaps</h2>{gap_table(report).to_html(escape=True)}
<h2>By group</h2>{display_table(report).to_html(escape=True)}
{"<h2>Warnings</h2><ul class='warn'>" + warn + "</ul>" if warn else ""}
<h2>Charts</h2>{_charts_html(report, include_plotlyjs)}
</body></html>
"""
    return write_text(doc, path)
