"""Overview: what SkinTag is, who each page is for, and what is loaded."""

from __future__ import annotations

import streamlit as st

from skintag.errors import ModelBundleError
from skintag.model.manifest import read_manifest
from skintag.ui.common import DISCLAIMER, get_settings, safe_md

settings = get_settings()

st.title("SkinTag")
st.markdown(
    "AI-assisted skin-lesion triage with Fitzpatrick-stratified fairness analytics. "
    "Every number on these pages is computed by the `skintag` package from the loaded model bundle and data."
)
st.warning(DISCLAIMER, icon="⚠️")

cols = st.columns(3)
cols[0].markdown(
    "#### 🩺 Clinician Triage\nUpload or photograph a lesion: urgency tier, calibrated risk, likely conditions, "
    "image-quality checks and why the model said so (attention, SHAP)."
)
cols[1].markdown(
    "#### ⚖️ Fairness Audit\nSensitivity and specificity by Fitzpatrick skin type with confidence intervals, "
    "equalized-odds gaps and verdicts, ROC and calibration by group, a mitigation what-if and exports."
)
cols[2].markdown(
    "#### 🗂️ Dataset Explorer\nWhat the data holds: skin types × diagnoses × domains, label mappings and their audit, "
    "annotator agreement, images and data cards."
)

st.subheader("Loaded model")
try:
    manifest = read_manifest(settings.model_dir)
except ModelBundleError as exc:
    st.error(f"{safe_md(exc)}. Set `SKINTAG_MODEL_DIR` to a model bundle directory, or rebuild the demo bundle (see README).")
else:
    backbone = manifest.get("backbone") or {}
    data = manifest.get("training_data") or {}

    def m(value: object) -> str:  # manifest text is shown as text, never as Markdown or HTML
        return safe_md(value)

    st.markdown(
        f"**{m(manifest.get('name', '?'))}** version {m(manifest.get('version', '?'))}: "
        f"{m(manifest.get('description', ''))}  \n"
        f"Backbone {m(backbone.get('architecture', '?'))} ({m(backbone.get('source', '?'))}), "
        f"{m(manifest.get('image_size', '?'))} px input; trained on {m(', '.join(data.get('datasets', [])) or '?')} "
        f"({m(data.get('split_source', '?'))} split: {m(data.get('n_train', '?'))} train / "
        f"{m(data.get('n_val', '?'))} val / {m(data.get('n_test', '?'))} test images). The Model Card page has its "
        "metrics with confidence intervals."
    )
