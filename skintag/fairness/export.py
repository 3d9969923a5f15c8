"""Exports of a :class:`FairnessReport`: JSON (everything, NaN as null), CSV (the per-group tables) and Markdown
(provenance, settings, verdicts, tables), plus the display tables the page, the HTML document
(:mod:`skintag.documents.fairness_report`) and the model card share. No figures here: this module sits below
:mod:`skintag.plots`.

Every export records what it describes — model name, version and fingerprint, the predictions file's SHA-256, the
time, every setting, the intersections and the mitigation attached with :meth:`FairnessReport.with_context`. Text that
came from the data (group names, column names, file names) is made inert: a CSV cell that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets a leading apostrophe, and Markdown
escapes its markup characters and HTML (the HTML document escapes everything it writes).
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from skintag.fairness.report import FairnessReport

_FLAGGED = {"tpr": "tpr_insufficient", "fpr": "fpr_insufficient", "tnr": "fpr_insufficient",
            "ppv": "ppv_insufficient", "npv": "npv_insufficient", "auroc": "auroc_insufficient",
            "ece": "ece_insufficient"}
FLAG_MARK = "⚠"
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # markup that can act inside a line (emphasis, code, links, cells)


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


def _frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in df.reset_index().to_dict(orient="records")]


def mitigation_to_dict(result: Any) -> dict[str, Any]:
    """A mitigation what-if (``MitigationResult``) as plain data."""
    return {
        "method": result.method, "sensitivity_floor": result.sensitivity_floor, "words": result.words,
        "fit_rows": result.fit_rows, "eval_rows": result.eval_rows, "split": result.split, "note": result.note,
        "thresholds": dict(result.thresholds), "skipped": list(result.skipped),
        "table": _frame_records(result.table), "summary": {str(k): v.to_dict() for k, v in result.summary.iterrows()},
    }


def _core_dict(report: FairnessReport) -> dict[str, Any]:
    return {
        "threshold": report.threshold,
        "rule": report.rule,
        "thresholds_by_domain": report.thresholds_by_domain,
        "grouping": report.grouping,
        "grouping_title": report.grouping_title,
        "gap_method": report.method,
        "gaps": {str(m): row.to_dict() for m, row in report.gaps.iterrows()},
        "comparisons": _frame_records(report.comparisons.set_index("metric")) if len(report.comparisons) else [],
        "overall": report.overall.to_dict(),
        "by_group": {str(g): row.to_dict() for g, row in report.by_group.iterrows()},
        "equalized_odds_difference": report.equalized_odds_difference,
        "equalized_odds_ci": list(report.equalized_odds_ci),
        "warnings": list(report.warnings),
    }


def settings_dict(report: FairnessReport) -> dict[str, Any]:
    """Every setting the numbers depend on (plus page-level settings attached as context)."""
    return {
        "threshold": report.threshold, "rule": report.rule, "thresholds_by_domain": report.thresholds_by_domain,
        "grouping": report.grouping, "reference": report.reference, "ci": report.ci, "n_boot": report.n_boot,
        "auroc_n_boot": report.auroc_n_boot, "min_positives": report.min_positives,
        "min_negatives": report.min_negatives, "include_flagged": report.include_flagged,
        "tolerance": {str(m): float(t) for m, t in report.gaps["tolerance"].items()},
        "random_state": report.random_state,
        "resampling_unit": "patient" if report.clustered else "image (row)",
        "n_patients": report.n_clusters if report.clustered else None,
        "n_rows": report.n_rows, "n_dropped_missing_score": report.n_dropped,
        **dict(report.context.get("settings") or {}),
    }


def report_to_dict(report: FairnessReport) -> dict[str, Any]:
    """Everything in the report as plain JSON-ready Python (NaN → None): provenance, settings, the report, the
    intersections, the mitigation and the attribute grid when attached."""
    ctx = report.context
    out = {
        "provenance": ctx.get("provenance"),
        "settings": settings_dict(report),
        **_core_dict(report),
        # flat copies of the settings, as before
        "reference": report.reference, "ci": report.ci, "n_boot": report.n_boot, "auroc_n_boot": report.auroc_n_boot,
        "min_positives": report.min_positives, "min_negatives": report.min_negatives,
        "include_flagged": report.include_flagged, "random_state": report.random_state, "n_rows": report.n_rows,
        "n_dropped_missing_score": report.n_dropped,
        "intersections": {str(k): _core_dict(r) for k, r in (ctx.get("intersections") or {}).items()},
        "mitigation": mitigation_to_dict(ctx["mitigation"]) if ctx.get("mitigation") is not None else None,
        "attributes": _frame_records(ctx["attributes"]) if ctx.get("attributes") is not None else None,
    }
    return _clean(out)


def write_text(text: str, path: str | Path | None) -> str:
    """Write ``text`` to ``path`` (UTF-8) when a path is given; return the text either way."""
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def report_to_json(report: FairnessReport, path: str | Path | None = None) -> str:
    return write_text(json.dumps(report_to_dict(report), indent=2, allow_nan=False), path)


# --- injection-safe text ----------------------------------------------------------------------------------------------
def csv_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting with =, +, -, @, tab or CR gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(CSV_TRIGGERS):
        return "'" + value
    return value


def csv_safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with :func:`csv_safe` applied to its text cells, index and column names (numbers untouched)."""
    out = df.copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_bool_dtype(out[c])):
            out[c] = out[c].map(csv_safe)
    out.columns = [csv_safe(str(c)) for c in out.columns]
    if not pd.api.types.is_numeric_dtype(out.index):
        out.index = pd.Index([csv_safe(str(i)) for i in out.index], name=csv_safe(out.index.name)
                             if isinstance(out.index.name, str) else out.index.name)
    return out


def md_escape(text: Any) -> str:
    """Text from the data made inert in Markdown: HTML escaped, Markdown markup backslash-escaped, one line."""
    import html

    s = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def report_to_csv(report: FairnessReport, path: str | Path | None = None) -> str:
    """Provenance and settings as ``# key,value`` lines (``pandas.read_csv(..., comment="#")`` skips them), then one
    table: the per-group rows (section ``groups``) with the threshold and gap verdicts, the intersections' rows
    (``intersection: <name>``) and the mitigation rows (``mitigation``)."""
    meta = {"provenance": report.context.get("provenance"), "settings": settings_dict(report)}
    lines = []
    for key, value in _flatten(_clean(meta)).items():
        lines.append(f"# {csv_safe(key)},{json.dumps(value, ensure_ascii=False)}")
    frames = [_csv_groups(report, "groups")]
    for name, inter in (report.context.get("intersections") or {}).items():
        frames.append(_csv_groups(inter, f"intersection: {name}"))
    mit = report.context.get("mitigation")
    if mit is not None:
        t = mit.table.copy()
        t.insert(0, "section", "mitigation")
        frames.append(t)
    table = pd.concat(frames)
    table.index.name = "group"
    buf = io.StringIO()
    csv_safe_frame(table).to_csv(buf, float_format="%.6g")
    return write_text("\n".join(lines) + "\n" + buf.getvalue(), path)


def _csv_groups(report: FairnessReport, section: str) -> pd.DataFrame:
    bg = report.by_group
    bg.insert(0, "threshold", report.threshold)
    bg.insert(0, "section", section)
    for m, row in report.gaps.iterrows():
        bg[f"{m}_gap"] = row["difference"]
        bg[f"{m}_gap_verdict"] = row["verdict"]
    return bg


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


# --- display tables ---------------------------------------------------------------------------------------------------
def _cell(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else ""
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "undefined" if not np.isfinite(value) else f"{value:.{digits}f}"
    return md_escape(value)


def interval_cell(value: float, lo: float, hi: float, flagged: bool = False) -> str:
    """"0.812 (0.780–0.840)"; "undefined" without a value; the value alone without an interval; ⚠ when flagged."""
    if not np.isfinite(value):
        return "undefined"
    text = f"{value:.3f}" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{value:.3f} ({lo:.3f}–{hi:.3f})"
    return f"{text} {FLAG_MARK}" if flagged else text


def flags_text(row: pd.Series) -> str:
    """The evidence flags of one group row, spelled out."""
    names = [m.upper() for m in ("tpr", "fpr", "ppv", "npv", "auroc", "ece") if bool(row.get(f"{m}_insufficient"))]
    return ("insufficient evidence: " + ", ".join(names)) if names else ""


def display_table(report: FairnessReport) -> pd.DataFrame:
    """The per-group table as text cells "value (lo–hi)" (⚠ on a value from fewer than the minimum cases), the
    confusion counts, flags spelled out — for Markdown/HTML, the page and the model card."""
    bg = report.by_group
    out = pd.DataFrame(index=bg.index)
    out["n"] = bg["n"]
    if "patients" in bg.columns:
        out["patients"] = bg["patients"]
    out["malignant"] = bg["positives"]
    out["benign"] = bg["negatives"]
    for c in ("tp", "fn", "fp", "tn"):
        out[c.upper()] = bg[c]
    for m in ("tpr", "fpr", "tnr", "ppv", "npv", "auroc"):
        out[m.upper()] = [interval_cell(float(r[m]), float(r[f"{m}_lo"]), float(r[f"{m}_hi"]),
                                        bool(r[_FLAGGED[m]])) for _, r in bg.iterrows()]
    out["ECE"] = [interval_cell(float(r["ece"]), np.nan, np.nan, bool(r["ece_insufficient"])) for _, r in bg.iterrows()]
    out["flags"] = [flags_text(r) for _, r in bg.iterrows()]
    out["notes"] = bg["notes"]
    return out


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (index first; NaN as "undefined", booleans as "yes"/"", text escaped)."""
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(md_escape(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([_cell(idx)] + [_cell(v) for v in row.to_numpy()]) + " |")
    return "\n".join(lines)


def summary_lines(report: FairnessReport) -> list[str]:
    """The report's provenance, settings and headline as Markdown bullet lines ("- …"); data-derived text escaped."""
    lo, hi = report.equalized_odds_ci
    eod = report.equalized_odds_difference
    prov = report.context.get("provenance") or {}
    lines = []
    model = prov.get("model")
    if model:
        lines.append(f"- Model: {md_escape(model.get('name'))} {md_escape(model.get('version'))}, fingerprint "
                     f"{md_escape(model.get('fingerprint'))}")
    elif prov:
        lines.append("- Model: not a SkinTag bundle (uploaded predictions)")
    if prov.get("predictions"):
        lines.append(f"- Predictions: {md_escape(prov['predictions'].get('file'))}, SHA-256 "
                     f"{md_escape(prov['predictions'].get('sha256'))}")
    if prov.get("created"):
        lines.append(f"- Created: {md_escape(prov['created'])}")
    unit = (f"patients resampled within groups ({report.n_clusters} patients; Rao-Scott design-effect-adjusted "
            "Wilson/Newcombe intervals, patient-bootstrap AUROC)") if report.clustered else "images treated as independent"
    lines += [
        f"- Grouping: {md_escape(report.grouping_title)}; rule: {md_escape(report.rule)}",
        f"- Rows: {report.n_rows}" + (f" ({report.n_dropped} dropped: missing score)" if report.n_dropped else ""),
        f"- Intervals: {report.ci:.0%}; Wilson for rates, bootstrap for AUROC ({report.auroc_n_boot} resamples, "
        f"random_state {report.random_state}); {unit}",
        f"- Gap verdicts: {report.method}",
        f"- Reference: {md_escape(report.reference)}; insufficient evidence below {report.min_positives} malignant or "
        f"{report.min_negatives} benign cases; flagged groups "
        f"{'included in' if report.include_flagged else 'left out of'} the gaps",
        f"- Equalized-odds difference: {_cell(eod)}"
        + (f" (simultaneous interval {lo:.3f}–{hi:.3f})" if np.isfinite(lo) and np.isfinite(hi) else ""),
    ]
    for key, value in (report.context.get("settings") or {}).items():
        lines.append(f"- {md_escape(key)}: {md_escape(value)}")
    return lines


def gap_table(report: FairnessReport) -> pd.DataFrame:
    """The TPR and FPR gaps as text cells: max − min with its simultaneous interval, ratio, tolerance, verdict, the
    cases per group that would decide an inconclusive verdict, groups used."""
    g = report.gaps
    out = pd.DataFrame(index=pd.Index([m.upper() for m in g.index], name="gap"))
    out["difference"] = [interval_cell(float(r["difference"]), float(r["difference_lo"]), float(r["difference_hi"]))
                         for _, r in g.iterrows()]
    out["ratio"] = [_cell(r["ratio"]) for _, r in g.iterrows()]
    out["tolerance"] = g["tolerance"].to_numpy()
    out["verdict"] = g["verdict"].to_numpy()
    out["cases per group to decide"] = [f"{int(v):,}" if np.isfinite(v) else "" for v in g["n_needed"]]
    out["groups used"] = g["groups_used"].to_numpy()
    out["left out"] = g["groups_left_out"].to_numpy()
    return out


def mitigation_lines(result: Any) -> list[str]:
    return [f"- {result.words}", f"- Method: {result.method}", f"- {result.note}"]


def report_to_markdown(report: FairnessReport, path: str | Path | None = None) -> str:
    parts = ["# SkinTag fairness report", "", *summary_lines(report), "", "## Gaps", "",
             markdown_table(gap_table(report)), "", "## By group", "", markdown_table(display_table(report))]
    ctx = report.context
    if ctx.get("attributes") is not None:
        parts += ["", "## All attributes", "", markdown_table(ctx["attributes"])]
    for name, inter in (ctx.get("intersections") or {}).items():
        parts += ["", f"## Intersection: {md_escape(name)}", "", markdown_table(gap_table(inter)), "",
                  markdown_table(display_table(inter))]
    if ctx.get("mitigation") is not None:
        mit = ctx["mitigation"]
        parts += ["", "## Mitigation what-if", "", *mitigation_lines(mit), "", markdown_table(mit.table.round(3)), "",
                  markdown_table(mit.summary.round(3))]
    if report.warnings:
        parts += ["", "## Warnings", ""] + [f"- {md_escape(w)}" for w in report.warnings]
    return write_text("\n".join(parts) + "\n", path)
