"""Keeps every page behind app.py's router."""

import contextlib
import logging
import sys
import threading
from typing import Iterator

import streamlit as st

_LOGGER = logging.getLogger(__name__)


def require_app() -> None:
    """Hands a page over to app.py when Streamlit ran it alone.

    On a freshly started server, a direct link to a page (e.g. /runs) makes Streamlit run the
    page file by itself in its legacy pages/ folder mode, without the router's page config
    and sidebar, until app.py has run once. Switching that mode off and rerunning sends the
    session through app.py, which then opens the same page. A session that has already been
    through app.py (AppTest restores the legacy mode before every run) just goes on, so its
    widget events are not lost to a rerun.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
    # Two sessions of a fresh server (a class reconnecting after a restart) can both start
    # in the legacy mode before either switches it off: a run that did not come through
    # app.py reruns, whoever switched the mode off.
    if not getattr(_this_run, "through_app", False) and not st.session_state.get("routed"):
        st.rerun()


_this_run = threading.local()  # script runs happen one per thread at a time


def mark_routed() -> None:
    """Called by app.py: this session has been through the router."""
    st.session_state["routed"] = True


@contextlib.contextmanager
def routing() -> Iterator[None]:
    """app.py runs the chosen page inside this: the page knows it came through the router."""
    _this_run.through_app = True
    try:
        yield
    finally:
        _this_run.through_app = False


def keep_keras_state() -> None:
    """Stops Streamlit from clearing Keras's global state after every script run.

    Streamlit calls `keras.backend.clear_session()` at the end of each run, meant for apps
    that build models inside the script. Here models train in background threads while the
    pages rerun every second, and clearing the state under them stalls their graph tracing
    (two trainings started together hung on their first batch). The matplotlib part of that
    clean-up is kept.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "studio_keeps_keras", False):
        return

    def clean_without_keras() -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")

    clean_without_keras.studio_keeps_keras = True
    script_runner._clean_problem_modules = clean_without_keras


def refuse_cache_clearing() -> None:
    """Makes Streamlit ignore a browser's "clear cache" message.

    Any session can send it over its websocket (the viewer toolbar only hides the menu item),
    and it empties every `st.cache_resource` of the process: every student's loaded models,
    the data, and with them whatever a cache holds that must be made once. A classroom server
    takes it from nobody; an operator restarts the server instead.
    """
    from streamlit.runtime.app_session import AppSession

    if getattr(AppSession._handle_clear_cache_request, "studio_refuses", False):
        return

    def refuse(session: AppSession) -> None:
        _LOGGER.warning("Refused a request to clear the server's caches from session %s.",
                        getattr(session, "id", "?"))

    refuse.studio_refuses = True
    AppSession._handle_clear_cache_request = refuse

