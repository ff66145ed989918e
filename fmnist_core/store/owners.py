"""Who a run belongs to: signed owner tokens, display names, and the teacher's passcode.

A browser keeps an owner token (`<owner id>.<signature>`) in a cookie; the signature is an
HMAC of the id with the store's secret (`RunStore.secret()`), so a server can check a token
without a lookup, every server of a class accepts the same tokens, and they survive a
restart. A token never travels in a URL, so a shared link carries no rights. The secret and
the names a student gives are rows of the run store (`OwnerRows`, a part of `RunStore`).

The teacher's passcode is compared in constant time, and wrong tries are slowed down: each
one doubles the wait before the next try from the same browser and the same address, so a
student's flood holds up only that student, never the teacher.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import time

from fmnist_core.store.db import Database

OWNER_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
MAX_NAME_LENGTH = 40
# What Markdown acts on in a name shown on a page (links, pictures, HTML, icons, code,
# emphasis, formulas); names are escaped where shown as well (`words.markdown_text`), for
# names stored before this rule.
NAME_REFUSED = "[]()!<>`*_~$:|\\{}#"
FIRST_WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 60.0
# Wrong tries older than this are forgotten: a client starts again from FIRST_WAIT_SECONDS.
FORGET_SECONDS = 3600.0


class OwnerRows:
    """The store's owner rows: the secret that signs tokens, and the names students give.

    A part of `fmnist_core.store.runs.RunStore`, which gives it `db`.
    """

    db: Database

    def set_owner_name(self, owner: str, name: str) -> None:
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO owners (id, name, created, last_seen) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET name=excluded.name",
                       (owner, name, now, now))

    def owner_names(self) -> dict[str, str]:
        with self.db.transaction() as tx:
            rows = tx.all("SELECT id, name FROM owners WHERE name IS NOT NULL AND name <> ''")
        return {row["id"]: row["name"] for row in rows}

    def secret(self) -> bytes:
        """The key that signs owner tokens; made once and kept in the store, so every
        server of a class shares it and it survives restarts."""
        with self.db.transaction(locked=True) as tx:
            value = tx.value("SELECT value FROM meta WHERE key='owner_secret'")
            if value is None:
                value = os.urandom(32).hex()
                tx.execute("INSERT INTO meta (key, value) VALUES ('owner_secret', ?)", (value,))
        return bytes.fromhex(value)

    def rotate_secret(self) -> None:
        """Replaces the key that signs owner tokens and the teacher's sign-in: every token a
        browser holds stops counting (a token that leaked with it). Runs stay, with their
        owners' names; the browsers get new owner ids."""
        with self.db.transaction(locked=True) as tx:
            tx.execute("DELETE FROM meta WHERE key='owner_secret'")
            tx.execute("INSERT INTO meta (key, value) VALUES ('owner_secret', ?)",
                       (os.urandom(32).hex(),))


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


def sign_teacher(secret: bytes, passcode: str, expires: float) -> str:
    """The token that keeps a browser signed in as the teacher until `expires` (seconds since
    the epoch): `<expiry>.<signature>`. It is signed with the passcode too, so a new
    passcode signs every teacher's browser out."""
    stamp = str(int(expires))
    return f"{stamp}.{_teacher_digest(secret, passcode, stamp)}"


def verify_teacher(token: str | None, secret: bytes, passcode: str,
                   now: float | None = None) -> bool:
    """Whether `token` is a teacher's token of this store and passcode that has not expired."""
    if not token or token.count(".") != 1:
        return False
    stamp, _ = token.split(".")
    if not stamp.isdigit() or int(stamp) <= (time.time() if now is None else now):
        return False
    return hmac.compare_digest(f"{stamp}.{_teacher_digest(secret, passcode, stamp)}", token)


def _teacher_digest(secret: bytes, passcode: str, stamp: str) -> str:
    message = b"teacher|" + stamp.encode() + b"|" + passcode.encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def clean_name(text: str) -> str:
    """A display name as it is shown: printable, single spaces, at most 40 characters.

    Raises:
        ValueError: the name holds a character that a page's Markdown would act on (a link,
            a picture, an icon, code, emphasis); one sentence for the student.
    """
    text = "".join(ch for ch in str(text) if ch.isprintable())
    # stripped after the cut too: it may fall just after a space
    text = " ".join(text.split())[:MAX_NAME_LENGTH].rstrip()
    if set(text) & set(NAME_REFUSED):
        raise ValueError(f"A name may not hold any of {' '.join(NAME_REFUSED)}, which on a "
                         "classmate's page would make it a link, a picture or formatting.")
    return text


def teacher_passcode() -> str | None:
    """`$STUDIO_TEACHER_PASSCODE`, or None when no teacher view is configured here (the
    Streamlit side also looks in `.streamlit/secrets.toml`)."""
    return os.environ.get("STUDIO_TEACHER_PASSCODE") or None


class PasscodeGuard:
    """Checks passcode tries and slows wrong ones down, per client.

    A client is a browser (its owner id) or an address; a try is refused unheard while any
    of its clients waits. Each wrong try doubles its clients' wait, from FIRST_WAIT_SECONDS
    up to MAX_WAIT_SECONDS, so one client guesses about once a minute at most. Nothing is
    counted server-wide: a student's flood from their own browser or address never holds
    up the teacher's. The tries are rows of the run store, so every server of a class
    counts them together and a restart forgets none.

    Args:
        passcode: the right passcode.
        store: the run store (`fmnist_core.store.runs.RunStore`) whose database keeps the tries.
        clock: seconds since the epoch (injected by tests).
    """

    def __init__(self, passcode: str, store, clock=time.time):
        self._passcode = _utf8(passcode)
        self._db = store.db
        self._clock = clock

    def wait_left(self, clients: tuple[str, ...]) -> float:
        """Seconds before any of `clients` may try again (0 when they may)."""
        with self._db.transaction() as tx:
            return self._wait_left(tx, _keys(clients), self._clock())

    def check(self, clients: tuple[str, ...], attempt: str) -> tuple[bool, str | None]:
        """(True, None) for the right passcode; else (False, the sentence to show).

        One locked transaction from the wait to the try's row, so tries sent at once from
        many sessions are heard one after another, each after its wait.

        Args:
            clients: who is trying, e.g. ("browser:3f9a…", "address:10.0.0.31").
            attempt: the passcode typed.
        """
        typed = _utf8(attempt)
        clients = _keys(clients)
        marks = ", ".join("?" * len(clients))
        now = self._clock()
        with self._db.transaction(locked=True) as tx:
            left = self._wait_left(tx, clients, now)
            if left > 0:
                return False, (f"Too many wrong tries from this browser or address: wait "
                               f"{_seconds(left)} before the next one.")
            if hmac.compare_digest(typed, self._passcode):
                tx.execute(f"DELETE FROM passcode_tries WHERE client IN ({marks})", clients)
                return True, None
            tx.execute("DELETE FROM passcode_tries WHERE at < ?", (now - FORGET_SECONDS,))
            for client in clients:
                tx.execute("INSERT INTO passcode_tries (client, at) VALUES (?, ?)",
                           (client, now))
            left = self._wait_left(tx, clients, now)
        return False, f"That passcode is not right; you can try again in {_seconds(left)}."

    @staticmethod
    def _wait_left(tx, clients: tuple[str, ...], now: float) -> float:
        rows = tx.all("SELECT client, COUNT(*) AS tries, MAX(at) AS last FROM passcode_tries "
                      f"WHERE client IN ({', '.join('?' * len(clients))}) AND at > ? "
                      "GROUP BY client", (*clients, now - FORGET_SECONDS))
        return max([0.0] + [row["last"] + _wait(row["tries"]) - now for row in rows])


def _wait(tries: int) -> float:
    """The wait after `tries` wrong tries in a row: 2, 4, 8 … 60 seconds."""
    return min(MAX_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2 ** (max(tries, 1) - 1))


def _seconds(left: float) -> str:
    """A wait as a student reads it, never "0 s": "1 second", "4 seconds"."""
    whole = max(1, math.ceil(left))
    return f"{whole} second" + ("" if whole == 1 else "s")


def _keys(clients: tuple[str, ...]) -> tuple[str, ...]:
    """The clients as the store keeps them: a digest each, whatever characters an address
    header or a browser id holds."""
    return tuple(hashlib.sha256(_utf8(client)).hexdigest()[:32] for client in clients)


def _utf8(text: str) -> bytes:
    """UTF-8 that also holds a lone surrogate (a str can carry one, UTF-8 cannot): a try
    holding one is compared, and wrong, instead of raising UnicodeEncodeError."""
    return str(text).encode("utf-8", "surrogatepass")
