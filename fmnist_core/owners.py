"""Who a run belongs to: signed owner tokens, display names, and the teacher's passcode.

A browser keeps an owner token (`<owner id>.<signature>`) in a cookie; the signature is an
HMAC of the id with the store's secret (`RunStore.secret()`), so a server can check a token
without a lookup, every server of a class accepts the same tokens, and they survive a
restart. A token never travels in a URL, so a shared link carries no rights.

The teacher's passcode is compared in constant time, and wrong tries are slowed down: each
one doubles the wait before the next try from the same browser, and the server as a whole
takes only a few wrong tries a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time

OWNER_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
MAX_NAME_LENGTH = 40
FIRST_WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 60.0
SERVER_TRIES_PER_MINUTE = 12


def new_owner_id() -> str:
    """64 random bits: unique in a school, and worth nothing without its signature."""
    return secrets.token_hex(8)


def sign(owner_id: str, secret: bytes) -> str:
    """The token a browser keeps for `owner_id`."""
    digest = hmac.new(secret, owner_id.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{owner_id}.{digest}"


def verify(token: str | None, secret: bytes) -> str | None:
    """The owner id a token stands for, or None for a missing, malformed or forged one."""
    if not token or token.count(".") != 1:
        return None
    owner_id, _ = token.split(".")
    if not OWNER_ID_PATTERN.match(owner_id):
        return None
    return owner_id if hmac.compare_digest(sign(owner_id, secret), token) else None


def clean_name(text: str) -> str:
    """A display name as it is shown: printable, single spaces, at most 40 characters."""
    text = "".join(ch for ch in str(text) if ch.isprintable())
    # stripped after the cut too: it may fall just after a space
    return " ".join(text.split())[:MAX_NAME_LENGTH].rstrip()


def teacher_passcode() -> str | None:
    """`$STUDIO_TEACHER_PASSCODE`, or None when no teacher view is configured here (the
    Streamlit side also looks in `.streamlit/secrets.toml`)."""
    return os.environ.get("STUDIO_TEACHER_PASSCODE") or None


class PasscodeGuard:
    """Checks passcode tries and slows wrong ones down, per browser and per server.

    Args:
        passcode: the right passcode.
        clock: seconds (injected by tests).
    """

    def __init__(self, passcode: str, clock=time.monotonic):
        self._passcode = _utf8(passcode)
        self._clock = clock
        self._lock = threading.Lock()
        self._waits: dict[str, tuple[float, float]] = {}  # who → (next try at, last wait)
        self._recent: list[float] = []  # times of the server's wrong tries

    def wait_left(self, who: str) -> float:
        """Seconds before `who` may try again (0 when they may)."""
        now = self._clock()
        with self._lock:
            own = self._waits.get(who, (0.0, 0.0))[0] - now
            self._recent = [t for t in self._recent if now - t < 60.0]
            server = (self._recent[0] + 60.0 - now
                      if len(self._recent) >= SERVER_TRIES_PER_MINUTE else 0.0)
        return max(0.0, own, server)

    def check(self, who: str, attempt: str) -> tuple[bool, str | None]:
        """(True, None) for the right passcode; else (False, the sentence to show)."""
        left = self.wait_left(who)
        if left > 0:
            return False, f"Too many wrong tries: wait {left:.0f} s before the next one."
        if hmac.compare_digest(_utf8(attempt), self._passcode):
            with self._lock:
                self._waits.pop(who, None)
            return True, None
        now = self._clock()
        with self._lock:
            last = self._waits.get(who, (0.0, 0.0))[1]
            wait = min(MAX_WAIT_SECONDS, last * 2 if last else FIRST_WAIT_SECONDS)
            self._waits[who] = (now + wait, wait)
            self._recent.append(now)
        return False, f"That passcode is not right; you can try again in {wait:.0f} s."


def _utf8(text: str) -> bytes:
    """UTF-8 that also holds a lone surrogate (a str can carry one, UTF-8 cannot): a try
    holding one is compared, and wrong, instead of raising UnicodeEncodeError."""
    return text.encode("utf-8", "surrogatepass")
