"""The only package of skintag that imports streamlit: cached resources, shared widgets and renderers."""
