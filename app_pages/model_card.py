"""Model card of the loaded bundle, rendered from the bundle's generated model_card.md."""

from __future__ import annotations

import streamlit as st

from skintag.ui.common import get_settings, safe_md

settings = get_settings()
card = settings.model_dir / "model_card.md"
if not card.is_file():
    st.title("Model card")
    st.error(f"No model card at {safe_md(card)}: the model bundle is missing or incomplete.")
else:
    text = card.read_text(encoding="utf-8")
    if text.startswith("---"):
        # YAML front matter is metadata; show it folded, the body as markdown.
        _, front, body = text.split("---", 2)
        with st.expander("Card metadata"):
            st.code(front.strip(), language="yaml")
        text = body
    st.markdown(text)  # the generated card carries its own title
