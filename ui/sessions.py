"""Whose pages are open on this server: each Streamlit session's owner, and the reaper, a
thread that tells the run store who is here and cancels the queued runs of owners who have
had no page open anywhere for a while (a closed tab, not a reload). Running runs of a closed
tab finish and stay in the store.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Callable

import streamlit as st

from fmnist_core.store.runs import RunStore
from fmnist_core.nets.limits import env_int
from ui.process_wide import script_ctx

_LOGGER = logging.getLogger(__name__)

SESSION_CHECK_SECONDS = 5.0
# A queued run is cancelled once its owner has had no page open for this long
# (STUDIO_ABSENT_GRACE_SECONDS): long enough for a reload, short enough that a closed tab
# does not hold a place in line.
ABSENT_GRACE_SECONDS = 15
MIN_ABSENT_GRACE_SECONDS = 3
# A failure that goes on (the database away for an hour) is logged again this often.
REPEAT_LOG_SECONDS = 60.0


@st.cache_resource
def _sessions() -> dict[str, str]:
    """Streamlit session id → owner, for telling the store whose pages are open."""
    return {}


def register_session(owner_id: str) -> None:
    """Notes that this Streamlit session is `owner_id`'s page (for the session reaper)."""
    ctx = script_ctx()
    if ctx is not None:
        _sessions()[ctx.session_id] = owner_id


def absent_grace() -> float:
    """Seconds a queued run waits for its owner to open a page again before it is
    cancelled: `$STUDIO_ABSENT_GRACE_SECONDS` (at least 3), else 15."""
    return float(max(MIN_ABSENT_GRACE_SECONDS,
                     env_int("STUDIO_ABSENT_GRACE_SECONDS", ABSENT_GRACE_SECONDS)))


def start_session_reaper(store: RunStore) -> None:
    """Starts the reaper (a daemon thread) for `store`; without a Streamlit server (AppTest,
    bare mode) there are no sessions to watch and none starts."""
    from streamlit import runtime

    if runtime.exists():
        threading.Thread(target=_reap, args=(runtime.get_instance(), store),
                         name="session-reaper", daemon=True).start()


def _reap(instance, store: RunStore) -> None:
    """The reaper's loop: every few seconds, who is here, and who has been gone too long."""
    started = time.monotonic()
    grace = absent_grace()
    every = min(SESSION_CHECK_SECONDS, grace / 3)  # an open page is seen well within grace
    failures = RepeatedFailure(_LOGGER, "The session reaper's update of who is here",
                               "it tries again in a few seconds")
    while True:
        time.sleep(every)
        if not _serving(instance):
            return  # its server has ended (an AppTest's, or a server restarted in-process)
        present = open_owners(_sessions(), instance.is_active_session)
        try:
            store.touch_owners(sorted(present))
            # just after a (re)start the class's pages are still reconnecting
            if time.monotonic() - started > 2 * grace:
                store.cancel_absent(grace)
        except Exception:  # noqa: BLE001 - the database away: next time
            failures.failed()
        else:
            failures.recovered()


def _serving(instance) -> bool:
    """Whether `instance` is still this process's running Streamlit server."""
    from streamlit import runtime

    return runtime.exists() and runtime.get_instance() is instance


def open_owners(sessions: dict[str, str], is_active: Callable[[str], bool]) -> set[str]:
    """The owners with a page open; the sessions that have ended are forgotten."""
    present = set()
    for session_id, who in list(sessions.items()):
        if is_active(session_id):
            present.add(who)
        else:
            sessions.pop(session_id, None)
    return present


class RepeatedFailure:
    """Logs a failure that repeats (a loop retrying) without flooding the log: the first
    time, whenever the kind of exception changes, and at most every `every` seconds while
    the same kind goes on; once it works again, one line says so.

    Args:
        logger: where the lines go.
        what: what fails, as the subject of "… failed" and "… works again".
        instead: what happens instead, e.g. "it tries again in a few seconds".
        every: seconds between two lines about the same kind of failure.
        clock: the monotonic clock the interval is measured on.
    """

    def __init__(self, logger: logging.Logger, what: str, instead: str,
                 every: float = REPEAT_LOG_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.logger, self.what, self.instead = logger, what, instead
        self.every, self.clock = every, clock
        self.kind: str | None = None  # the failing exception's type; None while it works
        self.logged_at = 0.0
        self.count = 0  # failures since the last line

    def failed(self) -> None:
        """Notes the exception being handled (call it in the `except` block)."""
        err = sys.exc_info()[1]
        kind = type(err).__name__
        now = self.clock()
        self.count += 1
        if kind == self.kind and now - self.logged_at < self.every:
            return
        again = f", {self.count} times since the last report" if kind == self.kind else ""
        self.logger.warning("%s failed; %s (%s%s).", self.what, self.instead, kind, again,
                            exc_info=True)
        self.kind, self.logged_at, self.count = kind, now, 0

    def recovered(self) -> None:
        """Notes a success: after failures, one line that it works again."""
        if self.kind is not None:
            self.logger.info("%s works again.", self.what)
            self.kind, self.count = None, 0
