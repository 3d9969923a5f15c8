"""Clinician Triage: a lesion photo in, an urgency tier with calibrated risk, advice and explanations out."""

from __future__ import annotations

import streamlit as st

from skintag.errors import BadImageError, SkintagError
from skintag.explain.attention import attention_scope
from skintag.images import draw_crop_box
from skintag.triage import DISCLAIMER, TriageSettings
from skintag.ui import triage as ui
from skintag.ui.common import get_bundle, get_settings, safe_md, start_bundle_load

settings = get_settings()
st.title("🩺 Clinician Triage")
st.warning(DISCLAIMER, icon="⚠️")

try:
    start_bundle_load(settings)  # the frame started it already; the page only waits for it once there is an image
except SkintagError as exc:
    st.error(f"No model bundle loaded: {exc}")
    st.stop()

source = st.radio("Image source", ["Upload", "Camera", "Example"], horizontal=True, key="source")
data, name = None, None
if source == "Upload":
    f = st.file_uploader("Lesion photo (JPEG, PNG, WebP or HEIC)", key="upload")
    if f is not None:
        data, name = f.getvalue(), f.name
elif source == "Camera":
    f = st.camera_input("Photograph the lesion", key="camera")
    if f is not None:
        data, name = f.getvalue(), "camera.jpg"
else:
    examples = ui.example_images(settings.data_dir)
    if not examples:
        st.info(f"No example images under `{settings.data_dir}`.")
    else:
        choice = st.selectbox("Example image", list(examples), key="example")
        data, name = examples[choice].read_bytes(), examples[choice].name
domain = ui.DOMAIN_CHOICES[st.radio("Image type", list(ui.DOMAIN_CHOICES), horizontal=True, key="domain",
                                     help="Dermoscopic: taken through a dermatoscope. Clinical photo: an ordinary "
                                          "camera or phone photo. Not sure: the model detects it from the image.")]
if data is None:
    st.info("Upload a photo, take one with the camera, or pick an example to start.")
    st.stop()

crop = None
if st.checkbox("Crop to the lesion", key="crop_on"):
    c1, c2 = st.columns(2)
    x0, x1 = c1.slider("Horizontal range (%)", 0, 100, (10, 90), key="crop_x")
    y0, y1 = c2.slider("Vertical range (%)", 0, 100, (10, 90), key="crop_y")
    if x1 > x0 and y1 > y0:
        crop = (x0 / 100, y0 / 100, x1 / 100, y1 / 100)


def _refuse(exc: SkintagError) -> None:
    if isinstance(exc, BadImageError):
        st.error(f"This file cannot be used ({exc.reason}): {safe_md(str(exc))}")
    else:
        st.error(f"Triage failed: {safe_md(str(exc))}")
    st.stop()


try:  # decoding needs no model: it runs while the bundle may still be loading
    decoded = ui.decode_upload(data, settings, trusted=source == "Example")  # once per upload, by content hash
except SkintagError as exc:
    _refuse(exc)
try:
    bundle = get_bundle(settings)
except SkintagError as exc:
    st.error(f"No model bundle loaded: {exc}")
    st.stop()
try:
    with st.spinner("Scoring…"):
        result = ui.cached_triage(bundle, decoded, TriageSettings.from_settings(settings, crop=crop, attention=True),
                                  domain)
        whole = result if crop is None else ui.cached_triage(bundle, decoded, TriageSettings.from_settings(settings),
                                                             domain)
except SkintagError as exc:
    _refuse(exc)

# The result card comes first: on a narrow screen the columns stack, and the card stays on top.
card, pictures = st.columns([1, 1])
with card:
    ui.render_domain(result)
    changed = ui.crop_tier_warning(whole, result) if crop is not None else None
    if changed:
        st.warning(changed, icon="✂️")
    ui.render_result_card(result)
overlays = ui.attention_overlays(result)
with pictures:
    if crop is not None and whole.image is not None:
        st.image(draw_crop_box(whole.image, crop), caption="The photo, crop outlined (only the box is scored)",
                 width="stretch")
    else:
        st.image(result.image, caption="The photo as scored", width="stretch")
    st.text(f"File: {name}")  # the file name as plain text, never Markdown
    seen = ui.model_input_view(bundle, result) if result.status == "ok" else None
    if seen is not None:
        st.image(seen[0], caption=seen[1], width=224)
    ui.render_quality(result)
    if overlays:
        st.markdown("**Why: where the model looked**")
        if scope := attention_scope(bundle.backbone):
            st.caption(scope)
        run_sanity = st.button("Check the maps against a randomised model", key="sanity_btn",
                               help="Adebayo et al. (2018): a faithful map must change when the trained weights are "
                                    "replaced by random ones (Spearman ρ between the two maps of this image).")
        ui.render_maps(overlays, ui.sanity_results(bundle, result, run=run_sanity))

if result.status == "ok":
    st.subheader("Explanations on request")
    target, why = ui.shap_target(bundle, result)
    c1, c2 = st.columns([1, 2])
    with c1:
        n_evals = st.number_input("SHAP budget (evaluations)", 20, 2000, int(settings.shap_max_evals), step=20,
                                  key="shap_evals")
        run_shap = st.button("Compute SHAP explanation", key="shap_btn")
        if why:
            st.info(why)
    with c2:
        shap_result = ui.shap_on_request(bundle, result, int(n_evals), settings.app_data_dir, run=run_shap,
                                         output=target)
        if shap_result is not None and shap_result.cache_note:
            st.info(safe_md(shap_result.cache_note), icon="🗄️")
        if shap_result is not None:
            what = "raw head score" if target == "raw" else "calibrated probability"
            label = f"SHAP of the {what} (evidence for malignancy)"
            overlays[label] = ui.shap_overlay(result, shap_result)
            st.image(overlays[label], width=320,
                     caption=f"SHAP, {shap_result.max_evals} evaluations{' (cached)' if shap_result.cached else ''}"
                             f"{' — raw head score' if target == 'raw' else ''}")
            ui.legend(ui.SHAP_COLORMAP, ui.SHAP_LEGEND, title=f"SHAP of the {what}, scaled to its largest value")

details = ui.render_case_form()
ui.render_downloads(result, overlays, details, extra={"crop": crop, "domain_choice": domain})
