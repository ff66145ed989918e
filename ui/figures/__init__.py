"""Plotly figures, one module per view. Pure functions of arrays: no Streamlit calls, easy
to test."""
