"""SkinTag entry point: page config, settings from the environment, the shared sidebar and navigation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from skintag.ui.common import get_settings, render_sidebar

st.set_page_config(page_title="SkinTag", page_icon="🩺", layout="wide")

HERE = Path(__file__).resolve().parent
# (file, title, icon) — a page appears once its file exists.
PAGES = [
    ("pages/home.py", "Overview", "🏠"),
    ("pages/triage.py", "Clinician Triage", "🩺"),
    ("pages/fairness_audit.py", "Fairness Audit", "⚖️"),
    ("pages/dataset_explorer.py", "Dataset Explorer", "🗂️"),
    ("pages/model_card.py", "Model Card", "📄"),
]

settings = get_settings()
render_sidebar(settings)
nav = st.navigation([st.Page(str(HERE / f), title=t, icon=i) for f, t, i in PAGES if (HERE / f).is_file()])
nav.run()
