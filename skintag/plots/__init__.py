"""plotly figure builders (no streamlit calls): one module per page."""
