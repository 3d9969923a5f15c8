"""Exports of a :class:`FairnessReport`: JSON (everything, NaN as null), CSV (the per-group table), Markdown (summary,
gaps and per-group table) and a self-contained HTML report with the plotly charts embedded (plotly.js inlined once,
so the file opens offline)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from skintag.fairness.report import FairnessReport

_TABLE_COLS = ("n", "positives", "negatives", "tpr", "fpr", "tnr", "ppv", "npv", "auroc")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value


def report_to_dict(report: FairnessReport) -> dict[str, Any]:
    """Everything in the report as plain JSON-ready Python (NaN → None)."""
    bg = report.by_group
    return _clean({
        "threshold": report.threshold,
        "grouping": report.grouping,
        "grouping_title": report.grouping_title,
        "reference": report.reference,
        "ci": report.ci,
        "n_boot": report.n_boot,
        "auroc_n_boot": report.auroc_n_boot,
        "min_positives": report.min_positives,
        "min_negatives": report.min_negatives,
        "include_flagged": report.include_flagged,
        "random_state": report.random_state,
        "n_rows": report.n_rows,
        "n_dropped_missing_score": report.n_dropped,
        "equalized_odds_difference": report.equalized_odds_difference,
        "equalized_odds_ci": list(report.equalized_odds_ci),
        "gaps": {str(m): row.to_dict() for m, row in report.gaps.iterrows()},
        "overall": report.overall.to_dict(),
        "by_group": {str(g): row.to_dict() for g, row in bg.iterrows()},
        "warnings": list(report.warnings),
    })


def _write(text: str, path: str | Path | None) -> str:
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def report_to_json(report: FairnessReport, path: str | Path | None = None) -> str:
    return _write(json.dumps(report_to_dict(report), indent=2, allow_nan=False), path)


def report_to_csv(report: FairnessReport, path: str | Path | None = None) -> str:
    """The per-group table (all columns) with the threshold and gap verdicts repeated on each row."""
    bg = report.by_group
    bg.insert(0, "threshold", report.threshold)
    for m, row in report.gaps.iterrows():
        bg[f"{m}_gap"] = row["difference"]
        bg[f"{m}_gap_verdict"] = row["verdict"]
    return _write(bg.to_csv(float_format="%.6g"), path)


def _cell(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else ""
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "undefined" if not np.isfinite(value) else f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def _interval(row: pd.Series, m: str) -> str:
    v, lo, hi = float(row[m]), float(row[f"{m}_lo"]), float(row[f"{m}_hi"])
    if not np.isfinite(v):
        return "undefined"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{v:.3f}"
    return f"{v:.3f} ({lo:.3f}–{hi:.3f})"


def display_table(report: FairnessReport) -> pd.DataFrame:
    """The per-group table as text cells "value (lo–hi)", flags spelled out — for Markdown/HTML and the page."""
    bg = report.by_group
    out = pd.DataFrame(index=bg.index)
    out["n"] = bg["n"]
    out["malignant"] = bg["positives"]
    out["benign"] = bg["negatives"]
    for m in ("tpr", "fpr", "tnr", "ppv", "npv", "auroc"):
        out[m.upper()] = [_interval(r, m) for _, r in bg.iterrows()]
    out["flags"] = [
        ", ".join(x for x, f in (("TPR insufficient", r["tpr_insufficient"]), ("FPR insufficient", r["fpr_insufficient"]))
                  if f)
        for _, r in bg.iterrows()
    ]
    out["notes"] = bg["notes"]
    return out


def _markdown_table(df: pd.DataFrame) -> str:
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([_cell(idx)] + [_cell(v) for v in row.to_numpy()]) + " |")
    return "\n".join(lines)


def _summary_lines(report: FairnessReport) -> list[str]:
    lo, hi = report.equalized_odds_ci
    eod = report.equalized_odds_difference
    lines = [
        f"- Grouping: {report.grouping_title}; threshold {report.threshold:.4f} (malignant when score ≥ threshold)",
        f"- Rows: {report.n_rows}" + (f" ({report.n_dropped} dropped: missing score)" if report.n_dropped else ""),
        f"- Intervals: {report.ci:.0%}; Wilson for rates, bootstrap for AUROC ({report.auroc_n_boot} resamples) and "
        f"gaps ({report.n_boot} resamples, stratified by group, seed {report.random_state})",
        f"- Reference: {report.reference}; insufficient evidence below {report.min_positives} malignant (TPR) or "
        f"{report.min_negatives} benign (FPR) cases; flagged groups "
        f"{'included in' if report.include_flagged else 'left out of'} the gaps",
        f"- Equalized-odds difference: {_cell(eod)}"
        + (f" ({lo:.3f}–{hi:.3f})" if np.isfinite(lo) and np.isfinite(hi) else ""),
    ]
    return lines


def _gap_table(report: FairnessReport) -> pd.DataFrame:
    g = report.gaps
    out = pd.DataFrame(index=pd.Index([m.upper() for m in g.index], name="gap"))
    out["difference"] = [f"{_cell(r['difference'])} ({_cell(r['difference_lo'])}–{_cell(r['difference_hi'])})"
                         for _, r in g.iterrows()]
    out["ratio"] = [f"{_cell(r['ratio'])} ({_cell(r['ratio_lo'])}–{_cell(r['ratio_hi'])})" for _, r in g.iterrows()]
    out["tolerance"] = g["tolerance"].to_numpy()
    out["verdict"] = g["verdict"].to_numpy()
    out["groups used"] = g["groups_used"].to_numpy()
    out["left out"] = g["groups_left_out"].to_numpy()
    return out


def report_to_markdown(report: FairnessReport, path: str | Path | None = None) -> str:
    parts = ["# SkinTag fairness report", "", *_summary_lines(report), "", "## Gaps", "",
             _markdown_table(_gap_table(report)), "", "## By group", "", _markdown_table(display_table(report))]
    if report.warnings:
        parts += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return _write("\n".join(parts) + "\n", path)


def report_to_html(report: FairnessReport, path: str | Path | None = None, *, include_plotlyjs: bool | str = True) -> str:
    """A single HTML file: summary, gaps, per-group table, warnings and the charts (rates, ROC, calibration, sweep).

    ``include_plotlyjs=True`` inlines plotly.js once (≈4.7 MB, works offline); ``"cdn"`` makes a small file that needs
    the internet to draw the charts.
    """
    from skintag.plots import fairness as plots

    figs = [plots.rates_figure(report), plots.roc_figure(report), plots.calibration_figure(report),
            plots.sweep_figure(report.threshold_sweep(), report.threshold, float(report.gaps["tolerance"].max()))]
    if "group_a" in report.by_group.columns:
        figs.append(plots.intersection_heatmap(report, "tpr"))
    chart_html = [
        f.to_html(full_html=False, include_plotlyjs=include_plotlyjs if i == 0 else False, default_width="100%")
        for i, f in enumerate(figs)
    ]
    summary = "".join(f"<li>{html.escape(line[2:])}</li>" for line in _summary_lines(report))
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SkinTag fairness report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:0.9em}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th{{background:#f3f3f3}}.warn li{{color:#8a5300}}</style></head><body>
<h1>SkinTag fairness report</h1><ul>{summary}</ul>
<h2>Gaps</h2>{_gap_table(report).to_html(escape=True)}
<h2>By group</h2>{display_table(report).to_html(escape=True)}
{"<h2>Warnings</h2><ul class='warn'>" + warn + "</ul>" if warn else ""}
<h2>Charts</h2>{"".join(chart_html)}
</body></html>
"""
    return _write(doc, path)
