"""The teacher's passcode: where this server finds it. With one, the server has a Teacher
page and its class starts from the class's default settings (`fmnist_core.store.settings`);
without one, it is a lone user's studio."""

from __future__ import annotations

import logging

import streamlit as st

from fmnist_core.store import owners

_LOGGER = logging.getLogger(__name__)


def teacher_passcode() -> str | None:
    """The passcode from `$STUDIO_TEACHER_PASSCODE` or `.streamlit/secrets.toml`
    (`teacher_passcode = "…"`); None: no teacher view on this server."""
    found = owners.teacher_passcode()
    if found:
        return found
    try:
        return str(st.secrets["teacher_passcode"]) or None
    except (FileNotFoundError, KeyError):  # no secrets file, or no such key
        return None
    except Exception:  # noqa: BLE001 - a secrets file that cannot be read: no teacher view
        _LOGGER.warning("The teacher passcode in .streamlit/secrets.toml could not be read; "
                        "this server has no teacher view.", exc_info=True)
        return None


def classroom() -> bool:
    """Whether this server has a teacher's passcode (a class, not a lone user)."""
    return teacher_passcode() is not None
