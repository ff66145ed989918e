"""The lessons in the run store: each student's guesses, the runs queued for a lesson, and
the lesson the teacher put the class on.

Guesses are kept per owner (the browser's cookie), so they survive reloads and server
restarts and every server of a class reads the same. A guess is stored as JSON (a setup's
label or a number). Functions take the `RunStore`; each is one short transaction.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from fmnist_core.store.records import validate_run_id

# The one row of `class_lesson`.
_CLASS_ROW = 1


def save_guess(store, owner: str, lesson: str, guess: str | float) -> None:
    """Keeps `owner`'s guess for `lesson` (a later guess replaces it).

    Raises:
        ValueError: `guess` is neither a string nor a finite number.
    """
    if (isinstance(guess, bool) or not isinstance(guess, (str, int, float))
            or (isinstance(guess, float) and not math.isfinite(guess))):
        raise ValueError(f"Argument `guess` must be a string or a number, received {guess!r}.")
    text = json.dumps(guess)
    with store.db.transaction() as tx:
        tx.execute("INSERT INTO lesson_guesses (owner, lesson, guess, made) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (owner, lesson) DO UPDATE SET guess=excluded.guess, "
                   "made=excluded.made", (owner, lesson, text, time.time()))


def guesses(store, owner: str | None = None) -> dict[str, dict[str, Any]]:
    """Guesses by owner, then by lesson: {owner: {lesson: guess}} (only `owner`'s when
    given)."""
    query, args = "SELECT owner, lesson, guess FROM lesson_guesses", ()
    if owner is not None:
        query, args = query + " WHERE owner=?", (owner,)
    with store.db.transaction() as tx:
        rows = tx.all(query, args)
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        found.setdefault(row["owner"], {})[row["lesson"]] = json.loads(row["guess"])
    return found


def tag_run(store, run_id: str, lesson: str, setup: str) -> None:
    """Records that `run_id` was queued for `setup` of `lesson`."""
    validate_run_id(run_id)
    with store.db.transaction() as tx:
        tx.execute("INSERT INTO lesson_runs (run_id, lesson, setup) VALUES (?, ?, ?) "
                   "ON CONFLICT (run_id) DO UPDATE SET lesson=excluded.lesson, "
                   "setup=excluded.setup", (run_id, lesson, setup))


def tags(store) -> dict[str, tuple[str, str]]:
    """Every tagged run: {run id: (lesson, setup)}."""
    with store.db.transaction() as tx:
        rows = tx.all("SELECT run_id, lesson, setup FROM lesson_runs")
    return {row["run_id"]: (row["lesson"], row["setup"]) for row in rows}


def class_lesson(store) -> tuple[str | None, bool]:
    """(the lesson the teacher put the class on, or None; whether its answers are
    revealed to the class)."""
    with store.db.transaction() as tx:
        row = tx.one("SELECT lesson, revealed FROM class_lesson WHERE id=?", (_CLASS_ROW,))
    if row is None:
        return None, False
    return row["lesson"], bool(row["revealed"])


def set_class_lesson(store, lesson: str | None, revealed: bool = False) -> None:
    """Puts the class on `lesson` (None: no lesson), its answers revealed or not."""
    with store.db.transaction() as tx:
        tx.execute("INSERT INTO class_lesson (id, lesson, revealed, changed) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET lesson=excluded.lesson, "
                   "revealed=excluded.revealed, changed=excluded.changed",
                   (_CLASS_ROW, lesson, int(bool(revealed)), time.time()))


def latest_lessons(store) -> dict[str, str]:
    """The lesson each owner guessed on last: where a student is on the path."""
    with store.db.transaction() as tx:
        rows = tx.all("SELECT owner, lesson, made FROM lesson_guesses ORDER BY made")
    return {row["owner"]: row["lesson"] for row in rows}  # later rows win
