"""One-page case report: a self-contained HTML file (images embedded as base64 data URIs, inline CSS, no scripts).

It holds the photo that was scored, the explanation overlay(s), the result (tier, calibrated risk and its uncertainty,
category breakdown, top-3 conditions, discordance), the image-quality checks, the advice, the ABCDE guide, the
disclaimer and the model name, version, fingerprint and thresholds. :func:`case_json` is the matching JSON export.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from skintag.plots.triage import CATEGORY_COLOURS
from skintag.triage import CATEGORY_DISPLAY, TIER_COLOURS, TriageResult, format_probability


def image_data_uri(image: Image.Image, *, max_side: int = 640, fmt: str = "PNG") -> str:
    """``data:`` URI of an image, downscaled so its longer side is at most ``max_side``."""
    im = image.convert("RGB")
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))),
                       Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def case_json(result: TriageResult, *, extra: Mapping[str, Any] | None = None, indent: int = 2) -> str:
    """The case as JSON text: ``result.to_dict()`` plus a timestamp and any extra fields (e.g. crop, SHAP settings)."""
    payload = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **result.to_dict()}
    if extra:
        payload["extra"] = dict(extra)
    return json.dumps(payload, indent=indent, ensure_ascii=False)


def _e(x: Any) -> str:
    return html.escape(str(x))


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:900px;margin:24px auto;color:#222;font-size:14px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:18px 0 6px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:12px} .row{display:flex;gap:16px;flex-wrap:wrap} .row figure{margin:0;flex:1;min-width:200px}
figure img{width:100%;border:1px solid #ccc;border-radius:4px} figcaption{font-size:12px;color:#555}
.tier{display:inline-block;color:#fff;padding:6px 14px;border-radius:6px;font-weight:700;font-size:18px}
.bar{background:#eee;border-radius:3px;height:14px;width:100%} .bar>div{height:14px;border-radius:3px}
table{border-collapse:collapse;width:100%} td,th{padding:3px 6px;border-bottom:1px solid #eee;text-align:left}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:8px} .disc{background:#fdecea;border-left:4px solid #c62828;padding:8px}
"""


def render_report_html(
    result: TriageResult,
    *,
    image: Image.Image | None = None,
    overlays: Mapping[str, Image.Image] | None = None,
    title: str = "SkinTag case report",
    generated_at: datetime | None = None,
) -> str:
    """Render the one-page case report.

    Parameters
    ----------
    result : the triage result.
    image : the photo that was scored (default ``result.image``).
    overlays : caption → explanation overlay image (e.g. {"MAP-head attention": ..., "SHAP": ...}).
    title : page title.
    generated_at : timestamp printed on the report (default now, UTC).
    """
    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    photo = image if image is not None else result.image
    model = result.model
    parts: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<div class='meta'>Generated {_e(when)} · model <b>{_e(model.get('name'))}</b> version "
        f"{_e(model.get('version'))} · fingerprint {_e(str(model.get('fingerprint') or '')[:16])} · thresholds "
        f"moderate {result.thresholds['moderate']:.2f}, high {result.thresholds['high']:.2f}</div>",
        f"<p class='warn'><b>Disclaimer.</b> {_e(result.disclaimer)}</p>",
    ]
    figures = []
    if photo is not None:
        figures.append(f"<figure><img alt='photo' src='{image_data_uri(photo)}'><figcaption>Photo as scored"
                       "</figcaption></figure>")
    for caption, ov in (overlays or {}).items():
        figures.append(f"<figure><img alt='{_e(caption)}' src='{image_data_uri(ov)}'><figcaption>{_e(caption)}"
                       "</figcaption></figure>")
    if figures:
        parts.append("<div class='row'>" + "".join(figures) + "</div>")

    parts.append("<h2>Result</h2>")
    if result.status != "ok":
        parts.append(f"<p class='disc'><b>{_e(result.advice.headline)}</b></p>")
    else:
        colour = TIER_COLOURS.get(result.tier or "", "#616161")
        promoted = " (raised from LOW: inflammatory)" if result.promoted else ""
        parts.append(f"<p><span class='tier' style='background:{colour}'>{_e(result.tier)}</span>{_e(promoted)}</p>")
        interval = ""
        if result.p_interval is not None:
            interval = f" (held-out 95 % interval {_pct(result.p_interval[0])}–{_pct(result.p_interval[1])})"
        parts.append(f"<p>Calibrated probability of malignancy: <b>{_e(format_probability(result.p_malignant))}</b>{_e(interval)}. "
                     f"Confidence: <b>{_e(result.confidence)}</b>. {_e(result.uncertainty)}</p>")
        rows = []
        for cat in ("malignant", "inflammatory", "benign"):
            v = (result.categories or {}).get(cat, 0.0)
            mark = " ◀ dominant" if cat == result.dominant_category else ""
            rows.append(
                f"<tr><td>{_e(CATEGORY_DISPLAY[cat])}{_e(mark)}</td><td style='width:55%'><div class='bar'>"
                f"<div style='width:{100 * v:.1f}%;background:{CATEGORY_COLOURS[cat]}'></div></div></td>"
                f"<td>{_pct(v)}</td></tr>"
            )
        parts.append("<table>" + "".join(rows) + "</table>")
        parts.append("<h2>Most likely conditions</h2><table><tr><th>Condition</th><th>Category</th>"
                     "<th>Probability</th></tr>")
        for c in result.top_conditions:
            parts.append(f"<tr><td>{_e(c.name)}</td><td>{_e(c.category)}</td><td>{_pct(c.probability)}</td></tr>")
        parts.append("</table>")
        if result.discordant:
            parts.append(f"<p class='disc'><b>Discordant case — clinician review.</b> "
                         f"{_e(result.discordance_reason)}</p>")
        parts.append(f"<h2>Advice</h2><p><b>{_e(result.advice.headline)}</b></p>")
    if result.advice.details:
        parts.append("<ul>" + "".join(f"<li>{_e(d)}</li>" for d in result.advice.details) + "</ul>")

    parts.append(f"<h2>Image quality: {_e(result.quality.verdict)}</h2>")
    if result.quality.checks:
        parts.append("<table><tr><th>Check</th><th>Measured</th><th>Verdict</th><th>Note</th></tr>")
        for c in result.quality.checks:
            value = c.get("value")
            shown = f"{value:.1f}" if isinstance(value, float) else _e(value)
            parts.append(f"<tr><td>{_e(c.get('name'))}</td><td>{shown}</td><td>{_e(c.get('verdict'))}</td>"
                         f"<td>{_e(c.get('message', ''))}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>ABCDE self-check</h2><ul>")
    parts.extend(f"<li><b>{_e(a)} — {_e(n)}</b>: {_e(d)}</li>" for a, n, d in result.abcde)
    parts.append("</ul></body></html>")
    return "".join(parts)
