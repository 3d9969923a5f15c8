"""Overview: what SkinTag is, who each page is for, and what is loaded."""

from __future__ import annotations

import streamlit as st

from skintag.errors import ModelBundleError
from skintag.model.manifest import read_manifest
from skintag.ui.common import DISCLAIMER, get_settings

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
    st.error(f"{exc}. Set `SKINTAG_MODEL_DIR` to a model bundle directory, or rebuild the demo bundle (see README).")
else:
    summary = manifest.get("metrics_summary") or {}
    st.markdown(
        f"**{manifest.get('name', '?')}** version {manifest.get('version', '?')}, "
        f"backbone `{manifest.get('backbone', {}).get('source', '?') if isinstance(manifest.get('backbone'), dict) else manifest.get('backbone', '?')}`, "
        f"trained on {', '.join(manifest.get('training_data', []) or ['?'])}."
    )
    if summary:
        st.json(summary, expanded=False)
