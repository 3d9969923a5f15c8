"""Text exports of a :class:`FairnessReport`: JSON (everything, NaN as null), CSV (the per-group table) and Markdown
(summary, gaps and per-group table), plus the display tables the page, the HTML document
(:mod:`skintag.documents.fairness_report`) and the model card share. No figures here: this module sits below
:mod:`skintag.plots`."""

from __future__ import annotations

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


def write_text(text: str, path: str | Path | None) -> str:
    """Write ``text`` to ``path`` (UTF-8) when a path is given; return the text either way."""
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def report_to_json(report: FairnessReport, path: str | Path | None = None) -> str:
    return write_text(json.dumps(report_to_dict(report), indent=2, allow_nan=False), path)


def report_to_csv(report: FairnessReport, path: str | Path | None = None) -> str:
    """The per-group table (all columns) with the threshold and gap verdicts repeated on each row."""
    bg = report.by_group
    bg.insert(0, "threshold", report.threshold)
    for m, row in report.gaps.iterrows():
        bg[f"{m}_gap"] = row["difference"]
        bg[f"{m}_gap_verdict"] = row["verdict"]
    return write_text(bg.to_csv(float_format="%.6g"), path)


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


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (index first; NaN as "undefined", booleans as "yes"/"", pipes escaped)."""
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([_cell(idx)] + [_cell(v) for v in row.to_numpy()]) + " |")
    return "\n".join(lines)


def summary_lines(report: FairnessReport) -> list[str]:
    """The report's settings and headline as Markdown bullet lines ("- …")."""
    lo, hi = report.equalized_odds_ci
    eod = report.equalized_odds_difference
    lines = [
        f"- Grouping: {report.grouping_title}; threshold {report.threshold:.4f} (malignant when score ≥ threshold)",
        f"- Rows: {report.n_rows}" + (f" ({report.n_dropped} dropped: missing score)" if report.n_dropped else ""),
        f"- Intervals: {report.ci:.0%}; Wilson for rates, bootstrap for AUROC ({report.auroc_n_boot} resamples) and "
        f"gaps ({report.n_boot} resamples, stratified by group, random_state {report.random_state})",
        f"- Reference: {report.reference}; insufficient evidence below {report.min_positives} malignant (TPR) or "
        f"{report.min_negatives} benign (FPR) cases; flagged groups "
        f"{'included in' if report.include_flagged else 'left out of'} the gaps",
        f"- Equalized-odds difference: {_cell(eod)}"
        + (f" ({lo:.3f}–{hi:.3f})" if np.isfinite(lo) and np.isfinite(hi) else ""),
    ]
    return lines


def gap_table(report: FairnessReport) -> pd.DataFrame:
    """The TPR and FPR gaps as text cells: difference and ratio with intervals, tolerance, verdict, groups used."""
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
    parts = ["# SkinTag fairness report", "", *summary_lines(report), "", "## Gaps", "",
             markdown_table(gap_table(report)), "", "## By group", "", markdown_table(display_table(report))]
    if report.warnings:
        parts += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return write_text("\n".join(parts) + "\n", path)
