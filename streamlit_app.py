"""SkinTag entry point and frame.

``streamlit run streamlit_app.py`` finds the ``st.App`` below and serves this file through it; its lifespan starts
loading the model bundle in a background thread as the server starts. Streamlit then runs this file (as
``__main__``) for every page view: page config, settings from the environment, the shared sidebar and navigation. The
pages live in ``app_pages/``, a folder Streamlit does not auto-discover, so every URL, ``/triage`` included, is served
through this frame."""

from __future__ import annotations

import contextlib
from pathlib import Path

import streamlit as st

from skintag.errors import ModelBundleError
from skintag.ui.common import get_settings, preload_bundle, render_sidebar, start_bundle_load

HERE = Path(__file__).resolve().parent
# (file, title, icon) — a page appears once its file exists.
PAGES = [
    ("app_pages/home.py", "Overview", "🏠"),
    ("app_pages/triage.py", "Clinician Triage", "🩺"),
    ("app_pages/worklist.py", "Worklist", "📋"),
    ("app_pages/fairness_audit.py", "Fairness Audit", "⚖️"),
    ("app_pages/monitoring.py", "Monitoring", "📈"),
    ("app_pages/dataset_explorer.py", "Dataset Explorer", "🗂️"),
    ("app_pages/model_card.py", "Model Card", "📄"),
]


def frame() -> None:
    """One page view: the frame around the page the URL names."""
    st.set_page_config(page_title="SkinTag", page_icon="🩺", layout="wide")
    settings = get_settings()
    with contextlib.suppress(ModelBundleError):  # no bundle: the sidebar says so, and the triage page explains
        start_bundle_load(settings)  # already loading when served through `app`; returns at once
    render_sidebar(settings)
    nav = st.navigation([st.Page(str(HERE / f), title=t, icon=i) for f, t, i in PAGES if (HERE / f).is_file()])
    nav.run()


if __name__ == "__main__":  # a page view (Streamlit's script runner, AppTest)
    frame()
else:  # imported by `streamlit run` (or an ASGI server) to build the server
    app = st.App(__file__, lifespan=preload_bundle)
