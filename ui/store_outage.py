"""When the run store's database is away: one sentence on the page instead of a traceback,
and the page back by itself once the database answers again.

Three doors lead here: a page run (`run_page`, app.py's), a fragment that polls the store
(`read_or_say`), and Streamlit's script error handler, which this module installs for a
session (`catch_store_errors`) so a fragment's own timed rerun is covered too.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Callable, TypeVar

import streamlit as st

from fmnist_core.store.db import StoreUnavailableError
from ui.process_wide import script_ctx, shared_run_store

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

# While the run store's database is away, a page checks this often whether it is back.
STORE_CHECK_SECONDS = 3.0


def run_page(page, sidebar: Callable[[], None] | None = None) -> None:
    """Runs a page (app.py's `st.navigation` choice) after its `sidebar`. The run store's
    database going away anywhere in them is one sentence instead of a traceback, and the
    page comes back by itself once the database answers again (`store_unavailable`)."""
    catch_store_errors()
    try:
        if sidebar is not None:
            sidebar()
        page.run()
    except Exception as err:  # noqa: BLE001 - only the database's absence is handled here
        found = store_error(err)
        if found is None:
            raise
        # a fragment's failure has been shown in its place by `_on_script_error` already
        if type(err).__name__ != "FragmentHandledException" or not _catching_here():
            store_unavailable(found)


def store_error(err: BaseException | None) -> StoreUnavailableError | None:
    """The StoreUnavailableError that `err` is or was caused by, if any."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, StoreUnavailableError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def read_or_say(read: Callable[[], T]) -> T | None:
    """`read()`, or None once the sentence is drawn in its place when the run store's
    database is away. For a fragment that polls the store (`run_every`): reading everything
    before drawing anything, it never stops half drawn, and its own next run brings it back."""
    try:
        return read()
    except Exception as err:  # noqa: BLE001 - only the database's absence is handled here
        found = store_error(err)
        if found is None:
            raise
        _say(found)
        return None


def store_unavailable(err: StoreUnavailableError) -> None:
    """The sentence, and a check every STORE_CHECK_SECONDS that reruns the page once the
    database answers again."""
    _say(err)
    _await_store()


def _say(err: StoreUnavailableError) -> None:
    st.error(str(err), icon=":material/cloud_off:")


@st.fragment(run_every=STORE_CHECK_SECONDS)
def _await_store() -> None:
    ctx = script_ctx()
    # only its own timed reruns check: drawn with the sentence, it waits a period first
    if ctx is not None and ctx.fragment_ids_this_run and store_is_back():
        st.rerun(scope="app")


def store_is_back() -> bool:
    """Whether the run store can be opened and its database answers."""
    try:
        return shared_run_store().available()
    except (StoreUnavailableError, OSError, sqlite3.Error):  # not back yet
        return False
    except Exception:  # noqa: BLE001 - whatever the reason, it is not back yet
        _LOGGER.warning("Checking whether the run store is back failed unexpectedly; the "
                        "page keeps waiting.", exc_info=True)
        return False


def _on_script_error(err: Exception) -> bool | None:
    """Streamlit's script error handler: the database's absence in the app script or in a
    fragment's own rerun (a polling Train page) is the sentence, in place of a traceback;
    anything else is shown as usual."""
    found = store_error(err)
    if found is None:
        return None
    store_unavailable(found)
    return True


def catch_store_errors() -> None:
    """Installs `_on_script_error` for this session: for this script run, and for the
    session's later runs (a fragment's timed rerun gets a new script runner). Streamlit
    versions without script error handlers show a traceback in a fragment instead."""
    from streamlit import runtime

    ctx = script_ctx()
    if ctx is None or getattr(ctx, "on_script_error", _on_script_error) is not None:
        return  # no script run, no handlers in this Streamlit, or ours (or another) is set
    ctx.on_script_error = _on_script_error
    if not runtime.exists():
        return  # no server (AppTest): this run only
    try:
        session = runtime.get_instance()._session_mgr.get_active_session_info(
            ctx.session_id).session
        if getattr(session, "_on_script_error", _on_script_error) is None:
            session._on_script_error = _on_script_error
    except Exception:  # noqa: BLE001 - Streamlit's sessions are not as this version knew them
        _LOGGER.warning("The handler for a lost database could not be installed for this "
                        "session; its fragments' own reruns show a traceback instead.",
                        exc_info=True)


def _catching_here() -> bool:
    ctx = script_ctx()
    return ctx is not None and getattr(ctx, "on_script_error", None) is _on_script_error
