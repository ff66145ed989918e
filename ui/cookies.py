"""The browser's cookies: read the ones it sent when the page opened, give it new ones.

Streamlit hands a script only the cookies of the request that opened its session
(`st.context.cookies`); a cookie written now is sent from the next page view on. A tiny
component (Components v2 run in the app's page, not sandboxed) writes them with
SameSite=Strict, so no other site's request carries them, and Secure over HTTPS. They are
not HttpOnly: a script on the page can read them, which is why the studio should be served
on a host name of its own (docs/operations.md).
"""

from __future__ import annotations

import logging

import streamlit as st

_LOGGER = logging.getLogger(__name__)

_JS = """
export default function (component) {
  const { data } = component;
  if (!data || !data.name) return;
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  if (data.forget) {
    if (document.cookie.split("; ").some(c => c.startsWith(data.name + "="))) {
      document.cookie = data.name + "=; Max-Age=0; Path=/; SameSite=Strict" + secure;
    }
    return;
  }
  const wanted = data.name + "=" + data.value;
  if (document.cookie.split("; ").includes(wanted)) return;
  document.cookie = wanted + "; Max-Age=" + data.max_age + "; Path=/; SameSite=Strict" + secure;
}
"""
_writer = st.components.v2.component("studio_cookie", js=_JS)


def sent(name: str) -> str | None:
    """The value of cookie `name` that the browser sent when this session opened."""
    try:
        return st.context.cookies.get(name)
    except Exception:  # noqa: BLE001 - the request's cookies cannot be read: none sent
        _LOGGER.warning("The cookies the browser sent could not be read; this session "
                        "counts as a browser without them (a new owner).", exc_info=True)
        return None


def keep(name: str, value: str, max_age: int, key: str) -> None:
    """Gives the browser cookie `name` (a no-op in the browser once it holds that value)."""
    _writer(data={"name": name, "value": value, "max_age": int(max_age)}, key=key, height=0)


def forget(name: str, key: str) -> None:
    """Makes the browser drop cookie `name`."""
    _writer(data={"name": name, "forget": True}, key=key, height=0)
