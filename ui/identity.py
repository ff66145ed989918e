"""Who is at this browser: the owner cookie, the display name, the teacher's unlock.

A run belongs to a browser, not to one Streamlit session: the first visit gets a signed
owner token (`fmnist_core.store.owners`) that a tiny component keeps in a cookie, and every
later session of that browser (a reload, a second tab, a bookmark, the server restarted)
sends it back and is the same owner. Another browser or profile has no cookie and is
someone else; a link carries no token.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time

import streamlit as st

from fmnist_core.store import owners
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.owners import PasscodeGuard
from fmnist_core.words import markdown_text
from ui import cookies, resources
from ui.passcode import teacher_passcode
from ui.sessions import register_session

_LOGGER = logging.getLogger(__name__)

COOKIE_PREFIX = "studio_owner_"
TEACHER_COOKIE_PREFIX = "studio_teacher_"
COOKIE_MAX_AGE = 120 * 24 * 3600  # a school term
TEACHER_SIGN_IN_SECONDS = 12 * 3600  # a school day
# STUDIO_CLIENT_ADDRESS_HEADER: behind a reverse proxy, the request header in which the proxy
# writes the student's address (e.g. X-Real-IP); unset, the connection's own address.
ADDRESS_HEADER_VARIABLE = "STUDIO_CLIENT_ADDRESS_HEADER"
# How soon every server and open page follows the teacher's new signing key.
SECRET_CHECK_SECONDS = 10


@st.cache_resource(ttl=SECRET_CHECK_SECONDS)
def _fresh_secret(store_key: str) -> bytes:
    """The store's signing key, read again now and then: the teacher may replace it."""
    return resources.run_store().secret()


@st.cache_resource
def _known_secret(store_key: str) -> dict[str, bytes]:
    """The signing key this server last read from the store (one holder per store)."""
    return {}


def _secret(store_key: str) -> bytes:
    """The store's signing key; while its database is away, the one last read, so that
    pages that need no saved run (Data, Predict) still know their browser.

    Raises:
        StoreUnavailableError: the database is away and this server never read the key.
    """
    known = _known_secret(store_key)
    try:
        known["secret"] = _fresh_secret(store_key)
    except StoreUnavailableError:
        if "secret" not in known:
            raise
    return known["secret"]


def cookie_name(secret: bytes, prefix: str = COOKIE_PREFIX) -> str:
    """One cookie per class store: studios on one host with different stores (cookies do
    not tell ports apart) keep their own owners; servers sharing a store share it."""
    return prefix + hashlib.sha256(b"cookie" + secret).hexdigest()[:8]


def _cookie_token(name: str) -> str | None:
    """The token the browser sent in cookie `name` when this session opened."""
    return cookies.sent(name)


def owner() -> str:
    """This browser's owner id: from its cookie when it has a valid one, else a new one
    (which `keep_cookies` gives the browser)."""
    state = st.session_state
    secret = _secret(resources.run_store().describe())
    name = cookie_name(secret)
    if state.get("owner_cookie") not in (None, name):
        # the teacher replaced the key: this page, too, is a new browser from now on
        for key in ("owner", "owner_cookie", "owner_token", "owner_token_for", "teacher",
                    "teacher_token"):
            state.pop(key, None)
    if ("owner" not in state or state.get("owner_token_for") != state.owner
            or "owner_cookie" not in state):
        if "owner" not in state:
            state.owner = owners.verify(_cookie_token(name), secret) or owners.new_owner_id()
        state.owner_cookie, state.owner_token_for = name, state.owner
        state.owner_token = owners.sign(state.owner, secret)
    register_session(st.session_state.owner)
    return st.session_state.owner


def known_owner() -> str | None:
    """This browser's owner id once this session has it (`owner`), else None; reading it
    never makes one."""
    return st.session_state.get("owner")


def keep_cookies() -> None:
    """Hands the browser its owner token (a no-op once it holds it), and the teacher's
    token while the teacher is signed in here (or drops it once they sign out)."""
    owner()
    cookies.keep(st.session_state.owner_cookie, st.session_state.owner_token, COOKIE_MAX_AGE,
                 key="owner_cookie")
    state = st.session_state
    if state.get("teacher_token"):
        cookies.keep(_teacher_cookie(), state.teacher_token, TEACHER_SIGN_IN_SECONDS,
                     key="teacher_cookie")
    elif state.get("teacher_signed_out"):
        cookies.forget(_teacher_cookie(), key="teacher_cookie")


def client_address() -> str | None:
    """The address this browser's requests come from: the one a trusted proxy reports in
    `$STUDIO_CLIENT_ADDRESS_HEADER`, else the connection's; None for this machine itself
    (or no browser)."""
    header = os.environ.get(ADDRESS_HEADER_VARIABLE)
    try:
        found = st.context.headers.get(header) if header else st.context.ip_address
    except Exception:  # noqa: BLE001 - the request's details cannot be read: no address
        _LOGGER.warning("The browser's address could not be read; the passcode's limit "
                        "counts this browser only.", exc_info=True)
        return None
    if not isinstance(found, str):  # none, or AppTest's stand-in for a browser
        return None
    return found.split(",")[0].strip()[:64] or None


def client_keys() -> tuple[str, ...]:
    """Who is trying the passcode, for its limit: this browser, and its address."""
    return (f"browser:{owner()}", f"address:{client_address() or 'local'}")


def name_field() -> None:
    """The student's display name, kept in the store for their browser; a name with a
    character that a page's Markdown acts on is refused with a sentence and not kept."""
    me = owner()
    store = resources.run_store()
    if "student_name" not in st.session_state:
        st.session_state.student_name = store.owner_names().get(me, "")

    def save() -> None:
        try:
            name = owners.clean_name(st.session_state.student_name)
        except ValueError as err:
            st.session_state.name_problem = str(err)
            st.session_state.student_name = store.owner_names().get(me, "")
            return
        st.session_state.pop("name_problem", None)
        st.session_state.student_name = name
        store.set_owner_name(me, name)

    st.text_input("Your name", key="student_name", on_change=save,
                  max_chars=owners.MAX_NAME_LENGTH,
                  placeholder="shown next to your runs")
    if problem := st.session_state.get("name_problem"):
        st.error(markdown_text(problem))


@st.cache_resource
def passcode_guard(passcode: str) -> PasscodeGuard:
    return PasscodeGuard(passcode, resources.run_store())


def _teacher_cookie() -> str:
    return cookie_name(_secret(resources.run_store().describe()), TEACHER_COOKIE_PREFIX)


def is_teacher() -> bool:
    """Whether this session is the teacher's: unlocked here, or in this browser earlier
    (its signed teacher cookie has not expired, and the passcode is the same)."""
    state = st.session_state
    if state.get("teacher"):
        return True
    passcode = teacher_passcode()
    if passcode is None or state.get("teacher_signed_out"):
        return False
    secret = _secret(resources.run_store().describe())
    if owners.verify_teacher(_cookie_token(_teacher_cookie()), secret, passcode):
        state.teacher = True
    return bool(state.get("teacher"))


def unlock_teacher(attempt: str) -> str | None:
    """Checks a passcode try; on the right one this session and browser are the teacher's
    for TEACHER_SIGN_IN_SECONDS. Returns the sentence to show for a wrong try, else None."""
    passcode = teacher_passcode()
    if passcode is None:
        return "No teacher passcode is set on this server."
    right, sentence = passcode_guard(passcode).check(client_keys(), attempt)
    if right:
        secret = _secret(resources.run_store().describe())
        state = st.session_state
        state.teacher, state.teacher_signed_out = True, False
        state.teacher_token = owners.sign_teacher(
            secret, passcode, time.time() + TEACHER_SIGN_IN_SECONDS)
    return sentence


def sign_every_browser_out() -> None:
    """Replaces the store's signing key: every owner token and teacher sign-in stops counting,
    on every server within SECRET_CHECK_SECONDS (see `RunStore.rotate_secret`)."""
    resources.run_store().rotate_secret()
    _fresh_secret.clear()


def sign_out_teacher() -> None:
    """Ends the teacher's sign-in in this session and browser."""
    state = st.session_state
    state.teacher, state.teacher_signed_out = False, True
    state.pop("teacher_token", None)
