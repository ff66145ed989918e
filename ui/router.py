"""Keeps every page behind app.py's router."""

import streamlit as st


def require_app() -> None:
    """Hands a page over to app.py when Streamlit ran it alone.

    On a freshly started server, a direct link to a page (e.g. /runs) makes Streamlit run the
    page file by itself in its legacy pages/ folder mode, without the router's page config
    and sidebar, until app.py has run once. Switching that mode off and rerunning sends the
    session through app.py, which then opens the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
