"""Streamlit-side helpers: cached resources, plotly figure builders, the shared sidebar."""
