"""Streamlit pieces of the Clinician Triage page: example images and the renderers of the result card, quality report,
explanations and downloads. Results come from :mod:`skintag.triage` and :mod:`skintag.explain`, the bundle from
:func:`skintag.ui.common.get_bundle`; this module only lays them out. Uploaded images stay in memory (never written to
disk)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from skintag.documents.case_report import (
    OUT_OF_DOMAIN_TEXT,
    CaseDetails,
    case_json,
    interval_applies,
    interval_text,
    render_report_html,
)
from skintag.errors import BadImageError
from skintag.fitzpatrick import SIX_LABELS
from skintag.images import DecodedImage, IntakeLimits, decode_image, decode_image_bounded
from skintag.plots import triage as plots
from skintag.triage import CATEGORY_DISPLAY, TriageResult, format_probability

if TYPE_CHECKING:  # pragma: no cover
    from skintag.model.bundle import ModelBundle
    from skintag.settings import Settings
    from skintag.triage import TriageSettings

EXAMPLE_DATASETS = (("ham10000", "HAM10000 (dermoscopic)"), ("pad_ufes_20", "PAD-UFES-20 (smartphone)"))
EXAMPLES_PER_DATASET = 3
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]
#: The image-type choice on the page → the ``domain`` handed to :func:`skintag.triage.triage`.
DOMAIN_CHOICES: dict[str, str] = {"Not sure (detect it)": "auto", "Dermoscopic": "dermoscopic",
                                  "Clinical photo": "clinical"}
#: Colour maps of the explanation overlays and the words at the two ends of their legends.
ATTENTION_COLORMAP, SHAP_COLORMAP = "inferno", "jet"
ATTENTION_LEGEND = ("least attention", "most attention")
SHAP_LEGEND = ("no evidence for malignancy", "strongest evidence for malignancy")
MAP_KINDS = {"MAP-head attention": "map_head", "Attention rollout": "rollout"}


def example_images(data_dir: Path, per_dataset: int = EXAMPLES_PER_DATASET) -> dict[str, Path]:
    """A few real photos from the data root (label → path); read in place, never copied."""
    out: dict[str, Path] = {}
    for folder, label in EXAMPLE_DATASETS:
        images = Path(data_dir) / folder / "images"
        if not images.is_dir():
            continue
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for p in files[:per_dataset]:
            out[f"{label}: {p.name}"] = p
    return out


#: Uploads a session keeps decoded (and triage results it keeps), most recent first out last.
SESSION_CACHE_SIZE = 4


def _session_lru(name: str, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` in this session, keeping the :data:`SESSION_CACHE_SIZE` most recent values in
    ``st.session_state[name]`` (in memory, never serialised or written to disk)."""
    cache: OrderedDict[str, Any] = st.session_state.setdefault(name, OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = compute()
    cache[key] = value
    while len(cache) > SESSION_CACHE_SIZE:
        cache.popitem(last=False)
    return value


def decode_upload(data: bytes, settings: Settings, *, trusted: bool = False) -> DecodedImage:
    """The upload decoded once per session and content (keyed by the SHA-256 of its bytes), not on every widget
    interaction. An upload or camera photo (``trusted=False``) is decoded in a child process stopped after
    ``settings.decode_timeout_s`` (:func:`skintag.images.decode_image_bounded`); an example image from the data root in
    this process. A refusal is cached too, and raised again.

    Raises
    ------
    BadImageError
        As :func:`skintag.images.decode_image`, or ``reason="timeout"``.
    """
    limits = IntakeLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)

    def _decode() -> DecodedImage | BadImageError:
        try:
            if trusted:
                return decode_image(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
            return decode_image_bounded(data, limits=limits, timeout_s=settings.decode_timeout_s)
        except BadImageError as exc:
            return exc

    got = _session_lru("decoded_uploads", hashlib.sha256(data).hexdigest(), _decode)
    if isinstance(got, BadImageError):
        raise got
    return got


def cached_triage(bundle: ModelBundle, decoded: DecodedImage, settings: TriageSettings, domain: str) -> TriageResult:
    """:func:`run_triage` of a decoded upload, once per session, model, image content, crop, domain and attention."""
    key = f"{bundle.fingerprint}|{decoded.sha256}|{settings.crop}|{domain}|{settings.attention}"
    return _session_lru("triage_results", key, lambda: run_triage(bundle, decoded.image, settings, domain))


def run_triage(bundle: ModelBundle, data: Any, settings: TriageSettings, domain: str) -> TriageResult:
    """:func:`skintag.triage.triage` with the image type the clinician chose (``domain``: "auto", "dermoscopic" or
    "clinical")."""
    import inspect

    from skintag.triage import triage

    if "domain" in inspect.signature(triage).parameters:
        return triage(bundle, data, settings=settings, domain=domain)
    return triage(bundle, data, settings=settings)  # an engine without domains: one validated domain


def crop_tier_warning(full: TriageResult, cropped: TriageResult) -> str | None:
    """A sentence when cropping changes the result's tier (or turns a score into a retake), else None."""
    if full.status != "ok" and cropped.status != "ok":
        return None
    if full.status != cropped.status or full.tier != cropped.tier:
        before = full.tier if full.status == "ok" else "no score (retake)"
        after = cropped.tier if cropped.status == "ok" else "no score (retake)"
        return (f"Cropping changes the result: the whole photo gives **{before}** "
                f"({format_probability(full.p_malignant)}), the crop gives **{after}** "
                f"({format_probability(cropped.p_malignant)}). Check that the crop holds the whole lesion with a "
                "margin of normal skin; when in doubt, use the more urgent of the two.")
    return None


def render_domain(result: TriageResult) -> None:
    """The out-of-domain banner (an error box) when the image lies outside the validated domain, and a line saying
    which domain's calibration was used and how it was decided."""
    if result.status != "ok":
        return
    in_domain = getattr(result, "in_domain", True)
    if in_domain is False:
        st.error(f"**{OUT_OF_DOMAIN_TEXT}**", icon="🚫")
    domain = getattr(result, "domain", None)
    if domain is None:
        return
    source = getattr(result, "domain_source", None)
    how = {"declared": "as declared", "detected": "detected from the image"}.get(str(source), str(source or ""))
    distance, limit = getattr(result, "domain_distance", None), getattr(result, "domain_threshold", None)
    measured = (f" · embedding distance {distance:.2f} (limit {limit:.2f})"
                if isinstance(distance, float) and isinstance(limit, float) else "")
    st.caption(f"Image type: **{domain}** ({how}) · inside the validated domain: "
               f"**{'yes' if in_domain else 'no'}**{measured}")


def render_quality(result: TriageResult) -> None:
    q = result.quality
    icon = {"pass": "✅", "warn": "⚠️", "reject": "⛔"}[q.verdict]
    with st.expander(f"{icon} Image quality: {q.verdict}", expanded=q.verdict != "pass"):
        if q.checks:
            rows = [
                {"check": c.get("name"), "measured": c.get("value"), "warn limit": c.get("warn_limit"),
                 "reject limit": c.get("reject_limit"), "verdict": c.get("verdict"), "note": c.get("message")}
                for c in q.checks
            ]
            st.dataframe(rows, hide_index=True, width="stretch")
        for r in q.reasons:
            st.caption(r)


def render_result_card(result: TriageResult) -> None:
    """Tier in colour, calibrated risk with its uncertainty, category bars, top-3, advice and discordance."""
    if result.status != "ok":
        st.error(f"**{result.advice.headline}**\n\n" + "\n".join(f"- {r}" for r in result.quality.reasons))
        return
    colour = result.tier_colour
    promoted = " <span style='font-size:0.8em'>(raised from LOW — inflammatory)</span>" if result.promoted else ""
    st.markdown(
        f"<div style='padding:0.6em 1em;border-radius:8px;background:{colour};color:white;font-size:1.6em;"
        f"font-weight:700' data-testid='triage-tier'>{result.tier}{promoted}</div>",
        unsafe_allow_html=True,
    )
    st.metric("Calibrated probability of malignancy", format_probability(result.p_malignant), help=result.uncertainty)
    rest = result.uncertainty
    if interval_applies(result) and getattr(result, "interval_label", None):
        st.caption(interval_text(result))
        rest = rest.removeprefix(str(result.interval_label)).strip()  # the label was just shown: say it once
    st.caption(f"Confidence: **{result.confidence}**. {rest}".strip())
    if result.discordant:
        st.warning(f"**Discordant case — clinician review recommended.** {result.discordance_reason}", icon="⚠️")
    st.markdown(f"**Advice: {result.advice.headline}**")
    for d in result.advice.details:
        st.markdown(f"- {d}")
    st.markdown("**Category breakdown** — dominant: " + CATEGORY_DISPLAY[result.dominant_category or "benign"])
    st.markdown(plots.category_bars_html(result), unsafe_allow_html=True)
    st.markdown("**Most likely conditions**")
    st.table([{"condition": c.name, "category": c.category, "probability": f"{c.probability:.1%}"}
              for c in result.top_conditions])
    with st.expander("ABCDE guide"):
        for letter, name, desc in result.abcde:
            st.markdown(f"- **{letter} — {name}**: {desc}")
    m = result.model
    t = result.thresholds
    points = " · ".join(f"{k} {v:.2f}" for k, v in t.items())
    st.caption(f"Model {m.get('name')} v{m.get('version')} · thresholds {points}")


def model_input_view(bundle: ModelBundle, result: TriageResult) -> tuple[Any, str] | None:
    """The picture the model saw at its input size, enlarged with nearest-neighbour pixels, and its caption."""
    if result.image is None:
        return None
    from skintag.explain.attention import model_input_image

    seen = model_input_image(bundle, result.image)
    big = plots.enlarge_nearest(seen)
    factor = big.size[0] // seen.size[0]
    return big, f"What the model saw: {seen.size[0]}×{seen.size[1]} px (shown ×{factor}, nearest pixels)"


def attention_overlays(result: TriageResult) -> dict[str, Any]:
    """Caption → overlay image of the attention maps carried by the result (empty when there are none)."""
    if result.status != "ok" or result.attention is None or result.image is None:
        return {}
    from skintag.explain.attention import overlay

    return {
        caption: overlay(result.image, getattr(result.attention, kind), colormap=ATTENTION_COLORMAP)
        for caption, kind in MAP_KINDS.items()
    }


def legend(colormap: str, words: tuple[str, str], title: str = "") -> None:
    st.markdown(plots.colour_legend_html(colormap, *words, title=title), unsafe_allow_html=True)


def sanity_results(bundle: ModelBundle, result: TriageResult, *, run: bool) -> dict[str, Any]:
    """Map kind → the randomisation check of that attention map on this image (computed when ``run`` asks, then kept
    for the session); empty until asked."""
    from skintag.explain.sanity import attention_sanity
    from skintag.explain.shap_image import image_hash

    key = f"sanity::{bundle.fingerprint}::{image_hash(result.image)}"
    if run and key not in st.session_state:
        st.session_state[key] = {kind: attention_sanity(bundle, [result.image], kind=kind)
                                 for kind in MAP_KINDS.values()}
    return st.session_state.get(key, {})


def render_sanity(check: Any) -> None:
    """One map's randomisation check, shown under that map: a failure in an error box saying what it means."""
    if check.passed:
        st.success(f"Sanity check passed. {check.summary()}", icon="✅")
    else:
        st.error(f"**Sanity check failed: do not read this map as the model's reasoning.** It barely changes when the "
                 f"trained weights are replaced by random ones, so it may show image structure rather than what the "
                 f"model learned. {check.summary()}", icon="⛔")


def render_maps(overlays: dict[str, Any], checks: dict[str, Any]) -> None:
    """The attention maps side by side, each with its colour legend and, once run, its sanity check beneath it."""
    for col, (caption, img) in zip(st.columns(len(overlays)), overlays.items(), strict=True):
        with col:
            st.image(img, caption=caption, width="stretch")
            legend(ATTENTION_COLORMAP, ATTENTION_LEGEND)
            check = checks.get(MAP_KINDS.get(caption, ""))
            if check is not None:
                render_sanity(check)


def calibration_domain(bundle: ModelBundle, result: TriageResult) -> str | None:
    """The result's domain when the bundle has a calibrator for it, else None (the bundle's default calibration): a
    declared domain the bundle lacks has none."""
    domain = getattr(result, "domain", None)
    return domain if domain in (getattr(bundle, "domains", None) or {}) else None


def shap_target(bundle: ModelBundle, result: TriageResult) -> tuple[str, str | None]:
    """Which output SHAP explains for this result: ("calibrated", None), or ("raw", why) when the calibrated
    probability is flat around the image (a calibration plateau, where every SHAP value would be 0)."""
    from skintag.explain.shap_image import calibration_is_flat

    raw = result.p_malignant_raw
    if raw is None:
        return "calibrated", None
    if calibration_is_flat(bundle, raw, domain=calibration_domain(bundle, result)):
        return "raw", (f"The calibrated probability is flat around this image: every raw head score within ±0.05 of "
                       f"its own ({raw:.3f}) is calibrated to the same {format_probability(result.p_malignant)}, so "
                       "SHAP values of the calibrated probability would all be 0. The map explains the raw head score "
                       "instead (before calibration): it shows what pushes the score, not the displayed probability.")
    return "calibrated", None


def shap_on_request(bundle: ModelBundle, result: TriageResult, max_evals: int, cache_dir: Path, *, run: bool,
                    output: str = "calibrated") -> Any:
    """The SHAP explanation of this image if it was computed in this session (or ``run`` asks for it now, with a
    progress bar; repeats come from the on-disk cache), else None."""
    from skintag.errors import SkintagError
    from skintag.explain.shap_image import explain_shap, image_hash

    domain = calibration_domain(bundle, result)
    key = f"shap::{bundle.fingerprint}::{image_hash(result.image)}::{max_evals}::{output}::{domain}"
    if run and key not in st.session_state:
        bar = st.progress(0.0, text="SHAP: 0 evaluations")

        def _progress(done: int, total: int) -> None:
            bar.progress(min(1.0, done / total), text=f"SHAP: {done}/{total} evaluations")

        try:
            st.session_state[key] = explain_shap(bundle, result.image, max_evals=max_evals, progress=_progress,
                                                 cache_dir=cache_dir, output=output, domain=domain)  # type: ignore[arg-type]
        except SkintagError as exc:
            st.error(f"SHAP failed: {exc}")
        bar.empty()
    return st.session_state.get(key)


def shap_overlay(result: TriageResult, shap_result: Any) -> Any:
    from skintag.explain.attention import overlay

    return overlay(result.image, shap_result.heatmap(), colormap=SHAP_COLORMAP)


def render_case_form() -> CaseDetails | None:
    """Optional case details for the exports; None (with the reason shown) when a field is invalid."""
    from skintag.errors import SkintagError

    with st.expander("Case details for the report (optional)"):
        c1, c2, c3 = st.columns(3)
        case_id = c1.text_input("Case id", key="case_id")
        lesion_id = c2.text_input("Lesion id", key="lesion_id")
        skin_type = c3.selectbox("Fitzpatrick skin type", ["not recorded", *SIX_LABELS], key="case_skin_type")
        body_site = st.text_input("Body site", key="case_body_site", placeholder="e.g. left forearm, dorsal")
        note = st.text_area("Clinician note", key="case_note")
        st.caption("Do not enter the patient's name. The uploaded file's name is never copied into the exports.")
    try:
        return CaseDetails(case_id=case_id, lesion_id=lesion_id, body_site=body_site, note=note,
                           skin_type="" if skin_type == "not recorded" else skin_type)
    except SkintagError as exc:
        st.error(f"Case details not added to the report: {exc}")
        return None


def render_downloads(result: TriageResult, overlays: dict[str, Any], details: CaseDetails | None,
                     extra: dict[str, Any]) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("Download case (JSON)", case_json(result, details=details, extra=extra),
                       file_name="skintag_case.json", mime="application/json", key="dl_json")
    c2.download_button("Download report (HTML)", render_report_html(result, overlays=overlays, details=details),
                       file_name="skintag_case_report.html", mime="text/html", key="dl_html")
