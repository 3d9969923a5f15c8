"""Frame-level widgets shared by every page: settings, the disclaimer and the model/data status badge."""

from __future__ import annotations

import streamlit as st

from skintag.errors import ModelBundleError
from skintag.model.manifest import read_manifest
from skintag.settings import Settings

DISCLAIMER = (
    "**SkinTag is an AI screening aid, not a diagnosis.** False negatives and false positives happen. "
    "See a qualified clinician regardless of the result, and seek care at once for a lesion that changes fast, "
    "bleeds or hurts."
)


def get_settings() -> Settings:
    """Settings from the environment (cheap; read per run so a changed environment is honoured)."""
    return Settings.from_env()


def render_sidebar(settings: Settings) -> None:
    """The shared sidebar: intended use, disclaimer, and which model and data the app is using."""
    with st.sidebar:
        st.markdown("### Intended use")
        st.caption(
            "Decision support for clinicians triaging skin lesions, and fairness auditing of triage models "
            "by Fitzpatrick skin type. Not for self-diagnosis; not a medical device."
        )
        st.warning(DISCLAIMER, icon="⚠️")
        st.markdown("### Status")
        try:
            manifest = read_manifest(settings.model_dir)
            st.success(f"Model: **{manifest.get('name', '?')}** v{manifest.get('version', '?')}", icon="🧠")
        except ModelBundleError as exc:
            st.error(f"Model not loaded: {exc}", icon="🧠")
        if settings.data_dir.is_dir():
            st.info(f"Data root: `{settings.data_dir}`", icon="🗂️")
        else:
            st.info(f"No data root at `{settings.data_dir}` (set `SKINTAG_DATA_DIR`).", icon="🗂️")
