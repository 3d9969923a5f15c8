"""Streamlit pieces of the Clinician Triage page: example images and the renderers of the result card, quality report,
explanations and downloads. Results come from :mod:`skintag.triage` and :mod:`skintag.explain`, the bundle from
:func:`skintag.ui.common.get_bundle`; this module only lays them out. Uploaded images stay in memory (never written to
disk)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from skintag.documents.case_report import case_json, render_report_html
from skintag.plots import triage as plots
from skintag.triage import CATEGORY_DISPLAY, TriageResult, format_probability

if TYPE_CHECKING:  # pragma: no cover
    from skintag.model.bundle import ModelBundle

EXAMPLE_DATASETS = (("ham10000", "HAM10000 (dermoscopic)"), ("pad_ufes_20", "PAD-UFES-20 (smartphone)"))
EXAMPLES_PER_DATASET = 3
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]


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
    st.caption(f"Confidence: **{result.confidence}**. {result.uncertainty}")
    st.markdown("**Category breakdown** — dominant: " + CATEGORY_DISPLAY[result.dominant_category or "benign"])
    st.plotly_chart(plots.category_figure(result), width="stretch", key="category_chart")
    st.markdown("**Most likely conditions**")
    st.table([{"condition": c.name, "category": c.category, "probability": f"{c.probability:.1%}"}
              for c in result.top_conditions])
    if result.discordant:
        st.warning(f"**Discordant case — clinician review recommended.** {result.discordance_reason}", icon="⚠️")
    st.markdown(f"**Advice: {result.advice.headline}**")
    for d in result.advice.details:
        st.markdown(f"- {d}")
    with st.expander("ABCDE guide"):
        for letter, name, desc in result.abcde:
            st.markdown(f"- **{letter} — {name}**: {desc}")
    m = result.model
    st.caption(
        f"Model {m.get('name')} v{m.get('version')} · thresholds moderate {result.thresholds['moderate']:.2f}, "
        f"high {result.thresholds['high']:.2f}"
    )


def attention_overlays(result: TriageResult) -> dict[str, Any]:
    """Caption → overlay image of the attention maps carried by the result (empty when there are none)."""
    if result.status != "ok" or result.attention is None or result.image is None:
        return {}
    from skintag.explain.attention import overlay

    return {
        "MAP-head attention": overlay(result.image, result.attention.map_head),
        "Attention rollout": overlay(result.image, result.attention.rollout),
    }


def shap_on_request(bundle: ModelBundle, result: TriageResult, max_evals: int, cache_dir: Path, *, run: bool) -> Any:
    """The SHAP explanation of this image if it was computed in this session (or ``run`` asks for it now, with a
    progress bar; repeats come from the on-disk cache), else None."""
    from skintag.errors import SkintagError
    from skintag.explain.shap_image import explain_shap, image_hash

    key = f"shap::{bundle.fingerprint}::{image_hash(result.image)}::{max_evals}"
    if run and key not in st.session_state:
        bar = st.progress(0.0, text="SHAP: 0 evaluations")

        def _progress(done: int, total: int) -> None:
            bar.progress(min(1.0, done / total), text=f"SHAP: {done}/{total} evaluations")

        try:
            st.session_state[key] = explain_shap(bundle, result.image, max_evals=max_evals, progress=_progress,
                                                 cache_dir=cache_dir)
        except SkintagError as exc:
            st.error(f"SHAP failed: {exc}")
        bar.empty()
    return st.session_state.get(key)


def shap_overlay(result: TriageResult, shap_result: Any) -> Any:
    from skintag.explain.attention import overlay

    return overlay(result.image, shap_result.heatmap(), colormap="jet")


def sanity_lines(bundle: ModelBundle, result: TriageResult) -> list[str]:
    """One summary line per attention map of the randomisation check on this image."""
    from skintag.explain.sanity import attention_sanity

    return [attention_sanity(bundle, [result.image], kind=k).summary() for k in ("map_head", "rollout")]


def render_downloads(result: TriageResult, overlays: dict[str, Any], extra: dict[str, Any]) -> None:
    c1, c2 = st.columns(2)
    c1.download_button("Download case (JSON)", case_json(result, extra=extra), file_name="skintag_case.json",
                       mime="application/json", key="dl_json")
    c2.download_button("Download report (HTML)", render_report_html(result, overlays=overlays),
                       file_name="skintag_case_report.html", mime="text/html", key="dl_html")
