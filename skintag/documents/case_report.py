"""One-page case report: a self-contained HTML file (images embedded as base64 data URIs, inline CSS, no scripts).

It holds the photo that was scored, the explanation overlay(s), the result (tier, calibrated risk and its uncertainty,
category breakdown, top-3 conditions, discordance), the image-quality checks, the advice, the ABCDE guide, the
disclaimer and the model name, version, fingerprint and thresholds, the image domain (declared or detected, and whether
the image is inside the domain the model was validated on), and the clinician's optional :class:`CaseDetails` (case and
lesion id, body site, Fitzpatrick skin type, note; every text escaped). :func:`case_json` is the matching JSON export.

Privacy: neither export carries the uploaded file's name (it often holds a patient's name or a date); identify the case
with :attr:`CaseDetails.case_id` instead.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from skintag import fitzpatrick
from skintag.errors import ConfigError
from skintag.plots.triage import category_bars_html
from skintag.triage import TIER_COLOURS, TriageResult, format_probability

#: Longest accepted text of each field (characters).
MAX_ID_CHARS = 100
MAX_NOTE_CHARS = 2000
#: Keys of ``extra`` that are never written to a case export (they may identify the patient).
PRIVATE_EXTRA_KEYS = frozenset({"file_name", "filename", "name", "path"})


@dataclass(frozen=True)
class CaseDetails:
    """Optional details a clinician enters with a case; every field may be left empty.

    Attributes
    ----------
    case_id, lesion_id : the clinic's own identifiers (at most :data:`MAX_ID_CHARS` characters).
    body_site : where the lesion is, in the clinician's words (e.g. "left forearm, dorsal").
    skin_type : Fitzpatrick type as its Roman label "I"-"VI", or "" when not recorded; 1-6, "iv" etc. are accepted and
        normalised by :func:`skintag.fitzpatrick.parse` (exact types only).
    note : free text (at most :data:`MAX_NOTE_CHARS` characters).

    Raises
    ------
    ConfigError
        (an :class:`~skintag.errors.ArgumentError`) for a skin type that is not an exact type I-VI, or text too long.
    """

    case_id: str = ""
    lesion_id: str = ""
    body_site: str = ""
    skin_type: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("case_id", "lesion_id", "body_site", "skin_type", "note"):
            object.__setattr__(self, name, str(getattr(self, name) or "").strip())
            limit = MAX_NOTE_CHARS if name == "note" else MAX_ID_CHARS
            if len(getattr(self, name)) > limit:
                raise ConfigError(f"CaseDetails.{name} is {len(getattr(self, name))} characters; at most {limit}")
        if self.skin_type:
            value = fitzpatrick.parse(self.skin_type, accept="exact")
            if not value.ok:
                raise ConfigError(f"CaseDetails.skin_type {self.skin_type!r} is not a Fitzpatrick type; expected "
                                  f"{fitzpatrick.EXPECTED['exact']}")
            object.__setattr__(self, "skin_type", fitzpatrick.label(value.exact) if value.exact else "")

    @property
    def empty(self) -> bool:
        return not any(asdict(self).values())

    def to_dict(self) -> dict[str, str | None]:
        """Every field, an empty one as None."""
        return {k: (v or None) for k, v in asdict(self).items()}


_CASE_LABELS = {"case_id": "Case id", "lesion_id": "Lesion id", "body_site": "Body site",
                "skin_type": "Fitzpatrick skin type", "note": "Clinician note"}


def domain_summary(result: TriageResult) -> dict[str, object]:
    """The image-domain fields of a result (None where the result has none: an older engine or a refused photo)."""
    return {
        "domain": getattr(result, "domain", None),
        "domain_source": getattr(result, "domain_source", None),
        "in_domain": getattr(result, "in_domain", None),
        "domain_distance": getattr(result, "domain_distance", None),
        "domain_threshold": getattr(result, "domain_threshold", None),
    }


def interval_applies(result: TriageResult) -> bool:
    """True when the result's interval may be shown as applying to it: a score, an interval, and inside the domain."""
    return result.status == "ok" and result.p_interval is not None and getattr(result, "in_domain", True) is not False


def interval_text(result: TriageResult) -> str:
    """The interval in words: the engine's ``interval_label`` when it has one (it says what the interval is), else
    the bare range."""
    label = getattr(result, "interval_label", None)
    if label:
        return str(label)
    lo, hi = result.p_interval or (None, None)
    return f"95 % interval {_pct(lo)}–{_pct(hi)}"


OUT_OF_DOMAIN_TEXT = (
    "Outside the validated domain: this image does not resemble the images the model was validated on, so the score "
    "has not been validated for it and no interval applies. Do not rely on the tier; assess the lesion clinically."
)


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


def case_json(
    result: TriageResult,
    *,
    details: CaseDetails | None = None,
    extra: Mapping[str, Any] | None = None,
    indent: int = 2,
) -> str:
    """The case as JSON text: ``result.to_dict()`` (its domain fields included), a timestamp, the clinician's
    ``details`` under ``"case"`` (every field, None when empty), and any extra fields (e.g. crop, SHAP settings) under
    ``"extra"``. Keys of :data:`PRIVATE_EXTRA_KEYS` (the upload's file name) are never written."""
    payload = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **result.to_dict()}
    for key, value in domain_summary(result).items():
        payload.setdefault(key, value)
    payload["case"] = (details or CaseDetails()).to_dict()
    kept = {k: v for k, v in (extra or {}).items() if k.lower() not in PRIVATE_EXTRA_KEYS}
    if kept:
        payload["extra"] = kept
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
table{border-collapse:collapse;width:100%} td,th{padding:3px 6px;border-bottom:1px solid #eee;text-align:left}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:8px} .disc{background:#fdecea;border-left:4px solid #c62828;padding:8px}
.note{white-space:pre-wrap}
"""


def render_report_html(
    result: TriageResult,
    *,
    image: Image.Image | None = None,
    overlays: Mapping[str, Image.Image] | None = None,
    details: CaseDetails | None = None,
    title: str = "SkinTag case report",
    generated_at: datetime | None = None,
) -> str:
    """Render the one-page case report.

    Parameters
    ----------
    result : the triage result.
    image : the photo that was scored (default ``result.image``).
    overlays : caption → explanation overlay image (e.g. {"MAP-head attention": ..., "SHAP": ...}).
    details : the clinician's case details (shown, escaped, when any field is filled).
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
    case = details or CaseDetails()
    if not case.empty:
        parts.append("<h2>Case</h2><table>")
        for key, text in case.to_dict().items():
            if text:
                cls = " class='note'" if key == "note" else ""
                parts.append(f"<tr><th>{_e(_CASE_LABELS[key])}</th><td{cls}>{_e(text)}</td></tr>")
        parts.append("</table>")
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
        dom = domain_summary(result)
        if dom["in_domain"] is False:
            parts.append(f"<p class='disc' data-testid='out-of-domain'><b>{_e(OUT_OF_DOMAIN_TEXT)}</b></p>")
        if dom["domain"] is not None or dom["in_domain"] is not None:
            distance = dom["domain_distance"]
            threshold = dom["domain_threshold"]
            measured = (f" · embedding distance {distance:.2f} (limit {threshold:.2f})"
                        if isinstance(distance, float) and isinstance(threshold, float) else "")
            inside = {True: "yes", False: "no", None: "not assessed"}[dom["in_domain"]]  # type: ignore[index]
            parts.append(f"<p>Image domain: <b>{_e(dom['domain'] or 'unknown')}</b> ({_e(dom['domain_source'] or '—')})"
                         f" · inside the validated domain: <b>{_e(inside)}</b>{_e(measured)}</p>")
        interval = ""
        if interval_applies(result):
            interval = f" ({interval_text(result)})"
        parts.append(f"<p>Calibrated probability of malignancy: <b>{_e(format_probability(result.p_malignant))}</b>{_e(interval)}. "
                     f"Confidence: <b>{_e(result.confidence)}</b>. {_e(result.uncertainty)}</p>")
        parts.append(category_bars_html(result))
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
    parts.append("<h2>ABCDE guide</h2><ul>")
    parts.extend(f"<li><b>{_e(a)} — {_e(n)}</b>: {_e(d)}</li>" for a, n, d in result.abcde)
    parts.append("</ul></body></html>")
    return "".join(parts)
