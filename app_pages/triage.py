"""Clinician Triage: a lesion photo in, an urgency tier with calibrated risk, advice and explanations out."""

from __future__ import annotations

import streamlit as st

from skintag.errors import BadImageError, SkintagError
from skintag.triage import DISCLAIMER, TriageSettings, triage
from skintag.ui import triage as ui
from skintag.ui.common import get_bundle, get_settings, start_bundle_load

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

try:
    bundle = get_bundle(settings)
except SkintagError as exc:
    st.error(f"No model bundle loaded: {exc}")
    st.stop()
try:
    with st.spinner("Scoring…"):
        result = triage(bundle, data, settings=TriageSettings.from_settings(settings, crop=crop, attention=True))
except BadImageError as exc:
    st.error(f"This file cannot be used ({exc.reason}): {exc}")
    st.stop()
except SkintagError as exc:
    st.error(f"Triage failed: {exc}")
    st.stop()

left, right = st.columns([1, 1])
with right:  # the result first: it reaches the screen before the images and maps are drawn
    ui.render_result_card(result)
overlays = ui.attention_overlays(result)
with left:
    st.image(result.image, caption=f"{name} — as scored", width="stretch")
    ui.render_quality(result)
    if overlays:
        st.markdown("**Why: where the model looked**")
        for col, (caption, img) in zip(st.columns(len(overlays)), overlays.items(), strict=True):
            col.image(img, caption=caption, width="stretch")

if result.status == "ok":
    st.subheader("Explanations on request")
    c1, c2 = st.columns([1, 2])
    with c1:
        n_evals = st.number_input("SHAP budget (evaluations)", 20, 2000, int(settings.shap_max_evals), step=20,
                                  key="shap_evals")
        run_shap = st.button("Compute SHAP explanation", key="shap_btn")
    with c2:
        shap_result = ui.shap_on_request(bundle, result, int(n_evals), settings.app_data_dir, run=run_shap)
        if shap_result is not None:
            overlays["SHAP (evidence for malignancy)"] = ui.shap_overlay(result, shap_result)
            st.image(overlays["SHAP (evidence for malignancy)"], width=320,
                     caption=f"SHAP, {shap_result.max_evals} evaluations{' (cached)' if shap_result.cached else ''}")
    with st.expander("Sanity check: do the maps depend on the learned weights?"):
        st.caption("Adebayo et al. (2018): a faithful map must change when the trained weights are replaced by random "
                   "ones. Spearman ρ between this image's maps from the trained and a randomised backbone.")
        if st.button("Run the randomisation check", key="sanity_btn"):
            for line in ui.sanity_lines(bundle, result):
                st.write(line)

ui.render_downloads(result, overlays, extra={"file_name": name, "crop": crop})
