"""Who is at this browser: the owner cookie, the display name, the teacher's unlock.

A run belongs to a browser, not to one Streamlit session: the first visit gets a signed
owner token (`fmnist_core.owners`) that a tiny component keeps in a cookie, and every
later session of that browser (a reload, a second tab, a bookmark, the server restarted)
sends it back and is the same owner. Another browser or profile has no cookie and is
someone else; a link carries no token.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from fmnist_core import owners
from fmnist_core.owners import PasscodeGuard
from ui import resources

COOKIE_PREFIX = "studio_owner_"
COOKIE_MAX_AGE = 365 * 24 * 3600

# Runs in the app's page (components v2 are not sandboxed): writes the cookie when the
# browser does not hold this token yet. SameSite=Strict: no other site's request sends it.
_COOKIE_JS = """
export default function (component) {
  const { data } = component;
  if (!data || !data.value) return;
  const wanted = data.name + "=" + data.value;
  if (document.cookie.split("; ").includes(wanted)) return;
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = wanted + "; Max-Age=" + data.max_age + "; Path=/; SameSite=Strict" + secure;
}
"""
_cookie_writer = st.components.v2.component("studio_owner_cookie", js=_COOKIE_JS)


@st.cache_resource
def _secret(store_key: str) -> bytes:
    return resources.run_store().secret()


def cookie_name(secret: bytes) -> str:
    """One cookie per class store: studios on one host with different stores (cookies do
    not tell ports apart) keep their own owners; servers sharing a store share it."""
    return COOKIE_PREFIX + hashlib.sha256(b"cookie" + secret).hexdigest()[:8]


def _cookie_token(name: str) -> str | None:
    """The owner token the browser sent when this session opened."""
    try:
        return st.context.cookies.get(name)
    except Exception:  # noqa: BLE001 - no browser (bare mode): no cookie
        return None


def owner() -> str:
    """This browser's owner id: from its cookie when it has a valid one, else a new one
    (which `keep_cookie` gives the browser)."""
    state = st.session_state
    if ("owner" not in state or state.get("owner_token_for") != state.owner
            or "owner_cookie" not in state):
        secret = _secret(resources.run_store().describe())
        name = cookie_name(secret)
        if "owner" not in state:
            state.owner = owners.verify(_cookie_token(name), secret) or owners.new_owner_id()
        state.owner_cookie, state.owner_token_for = name, state.owner
        state.owner_token = owners.sign(state.owner, secret)
    resources.register_session(st.session_state.owner)
    return st.session_state.owner


def keep_cookie() -> None:
    """Hands the browser its owner token (a no-op once it holds it)."""
    owner()
    _cookie_writer(data={"name": st.session_state.owner_cookie,
                         "value": st.session_state.owner_token,
                         "max_age": COOKIE_MAX_AGE}, key="owner_cookie", height=0)


def name_field() -> None:
    """The student's display name, kept in the store for their browser."""
    me = owner()
    store = resources.run_store()
    if "student_name" not in st.session_state:
        st.session_state.student_name = store.owner_names().get(me, "")

    def save() -> None:
        name = owners.clean_name(st.session_state.student_name)
        st.session_state.student_name = name
        store.set_owner_name(me, name)

    st.text_input("Your name", key="student_name", on_change=save, max_chars=owners.MAX_NAME_LENGTH,
                  placeholder="shown next to your runs",
                  help="Optional. Classmates and the teacher see it next to your runs; this "
                       "browser remembers it.")


def teacher_passcode() -> str | None:
    """The passcode from `$STUDIO_TEACHER_PASSCODE` or `.streamlit/secrets.toml`
    (`teacher_passcode = "…"`); None: no teacher view on this server."""
    found = owners.teacher_passcode()
    if found:
        return found
    try:
        return str(st.secrets["teacher_passcode"]) or None
    except Exception:  # noqa: BLE001 - no secrets file, or no such key
        return None


@st.cache_resource
def passcode_guard(passcode: str) -> PasscodeGuard:
    return PasscodeGuard(passcode)


def is_teacher() -> bool:
    return bool(st.session_state.get("teacher"))
