"""Dataset Explorer: what the data holds — skin types × diagnoses × domains, demographics, label audit, annotator
agreement, images and data cards. Thin view over skintag.ui.explorer / skintag.plots.explorer / skintag.cards.
"""

from __future__ import annotations

import streamlit as st

from skintag import cards
from skintag.errors import SkintagError
from skintag.ui import explorer as ui
from skintag.ui.common import get_settings, safe_md

settings = get_settings()
st.title("Dataset Explorer")
st.caption("Every count and chart below is computed from the files under the data root by `skintag.data`.")

# The data root is a server path: it comes from the settings (SKINTAG_DATA_DIR) only, never from a visitor.
root = str(settings.data_dir)
st.caption(f"Data root: {safe_md(root)} (set by `SKINTAG_DATA_DIR` when the app starts).")
present = ui.present_datasets(root) if settings.data_dir.is_dir() else []
if not present:
    ui.render_empty_state(root)
    st.stop()

datasets = st.multiselect("Datasets", present, default=present, key="datasets")
if not datasets:
    st.info("Select at least one dataset.")
    st.stop()

try:
    loaded = ui.load_table(root, tuple(datasets))
except SkintagError as exc:
    st.error(f"Could not load the selected datasets: {safe_md(exc)}")
    st.stop()
df = loaded.table

ui.render_overview(df)

tabs = st.tabs(
    ["Skin type × diagnosis", "Domains & demographics", "Label audit", "Skin-type provenance", "Images", "Data card"]
)
with tabs[0]:
    ui.render_skin_by_diagnosis(df)
with tabs[1]:
    ui.render_demographics(df)
with tabs[2]:
    ui.render_audit(loaded.audit)
with tabs[3]:
    ui.render_provenance(df)
with tabs[4]:
    ui.render_image_grid(df)
with tabs[5]:
    card_ids = [cards.parse_card(p).id for p in cards.list_data_cards()]
    default = card_ids.index(datasets[0]) if datasets[0] in card_ids else 0
    ui.render_card(st.selectbox("Data card", card_ids, index=default, key="card"))
