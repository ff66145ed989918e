"""The class's training line, kept in the `runs` table so every server shares one.

A queued run has a `seq`; a server claims the oldest one under the class's cap in a locked
transaction (`claim_next`), so FIFO order, the cap and the per-student limit hold across
servers and no run starts twice. Stop requests travel the same way: any server writes the
flag, the server that trains the run reads it on its next tick.

`RunQueue` is a part of `fmnist_core.store.runs.RunStore`, which gives it `db` and
`get_run`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable

from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store.db import Database
from fmnist_core.store.presence import HOST
from fmnist_core.store.records import ACTIVE_STATUSES, row_to_run

STOPPERS = ("owner", "teacher")  # who may stop a run
CANCELLED = "Cancelled before it started."
CANCELLED_ABSENT = "Cancelled before it started: its page was closed."


class OwnerLimitError(RuntimeError):
    """The owner already has as many active jobs as allowed; `str(err)` is a sentence."""


class RunQueue:
    """The line's SQL: enqueue, claim, places in line, cancel and Stop requests."""

    db: Database
    get_run: Callable[[str], dict[str, Any]]

    def enqueue(self, spec: ModelSpec, owner: str, max_per_owner: int = 1,
                client: str | None = None, max_per_client: int | None = None) -> str:
        """Adds a queued run at the end of the line and returns its id.

        Args:
            client: the address the run comes from (None: this machine, or unknown).
            max_per_client: queued or running runs one address may have (None: any); a
                student who drops their cookie is a new owner, not a new address.

        Raises:
            OwnerLimitError: `owner` already has `max_per_owner` queued or running runs, or
                `client` has `max_per_client`.
        """
        run_id = uuid.uuid4().hex[:12]
        with self.db.transaction(locked=True) as tx:
            _refuse_over(tx, "owner", owner, max_per_owner,
                         "You already have a training queued or running; stop it or wait for "
                         "it to finish before starting another.")
            if client is not None and max_per_client is not None:
                _refuse_over(tx, "client", client, max_per_client,
                             "This computer already has a training queued or running; wait "
                             "for it to finish before starting another.")
            seq = tx.value("SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM runs")
            tx.execute("INSERT INTO runs (id, owner, created, spec, status, seq, client) "
                       "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                       (run_id, owner, time.time(), spec.to_json(), seq, client))
        return run_id

    def claim_next(self, server: str, cap: int, executor: str) -> dict[str, Any] | None:
        """Marks the oldest queued run as running on `server` when fewer than `cap` runs
        train; returns it, or None (nothing queued, or the class is at its cap)."""
        with self.db.transaction(locked=True) as tx:
            running = tx.value("SELECT COUNT(*) AS n FROM runs WHERE status='running'")
            if running >= cap:
                return None
            row = tx.one("SELECT id FROM runs WHERE status='queued' ORDER BY seq, created, id "
                         "LIMIT 1" + self.db.skip_locked)
            if row is None:
                return None
            tx.execute("UPDATE runs SET status='running', server=?, executor=?, host=?, "
                       "started=?, pid=NULL WHERE id=?",
                       (server, executor, HOST, time.time(), row["id"]))
        return self.get_run(row["id"])

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start, 0 while training, None once ended."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT status, seq, created FROM runs WHERE id=?", (run_id,))
            if row is None or row["status"] not in ACTIVE_STATUSES:
                return None
            if row["status"] == "running":
                return 0
            return tx.value(
                "SELECT COUNT(*) AS n FROM runs WHERE status='queued' AND (seq < ? OR "
                "(seq = ? AND created <= ?))", (row["seq"], row["seq"], row["created"]))

    def queued_runs(self) -> list[dict[str, Any]]:
        """The waiting line, first to start first."""
        with self.db.transaction() as tx:
            rows = tx.all("SELECT * FROM runs WHERE status='queued' ORDER BY seq, created, id")
        return [row_to_run(row, with_progress=False) for row in rows]

    def count(self, status: str) -> int:
        with self.db.transaction() as tx:
            return tx.value("SELECT COUNT(*) AS n FROM runs WHERE status=?", (status,))

    def cancel_queued(self, run_id: str, message: str = CANCELLED) -> bool:
        """Cancels a run that is still waiting; False if it has started or ended."""
        with self.db.transaction(locked=True) as tx:
            changed = tx.execute(
                "UPDATE runs SET status='cancelled', stop_reason=?, error=?, finished=? "
                "WHERE id=? AND status='queued'", (message, message, time.time(), run_id))
            return changed.rowcount > 0

    def cancel_absent(self, grace_seconds: float) -> list[str]:
        """Cancels the queued runs of owners with no page open for `grace_seconds` (a
        closed tab, not a reload: `RunStore.touch_owners`); returns their ids."""
        limit = time.time() - grace_seconds
        with self.db.transaction(locked=True) as tx:
            rows = tx.all("SELECT r.id FROM runs r LEFT JOIN owners o ON o.id = r.owner WHERE "
                          "r.status='queued' AND r.created < ? AND (o.last_seen IS NULL OR "
                          "o.last_seen < ?)", (limit, limit))
            for row in rows:
                tx.execute("UPDATE runs SET status='cancelled', stop_reason=?, error=?, "
                           "finished=? WHERE id=? AND status='queued'",
                           (CANCELLED_ABSENT, CANCELLED_ABSENT, time.time(), row["id"]))
        return [row["id"] for row in rows]

    def request_stop(self, run_id: str, by: str = "owner") -> None:
        """Asks whichever server trains the run to stop it after the current batch; `by`
        is who asked: "owner" or "teacher"."""
        if by not in STOPPERS:
            raise ValueError(f"Argument `by` must be one of {STOPPERS}, received {by!r}.")
        with self.db.transaction() as tx:
            tx.execute("UPDATE runs SET stop_requested=1, stopped_by=? WHERE id=?",
                       (by, run_id))

    def stop_requests(self, server: str) -> list[str]:
        """Ids of `server`'s running runs that someone asked to stop."""
        with self.db.transaction() as tx:
            rows = tx.all("SELECT id FROM runs WHERE status='running' AND server=? AND "
                          "stop_requested=1", (server,))
        return [row["id"] for row in rows]


def _refuse_over(tx: Any, column: str, value: str, limit: int, sentence: str) -> None:
    """Raises OwnerLimitError(`sentence`) when `limit` runs with `column` = `value` are queued
    or running already (`column` is one of the code's own column names, never input)."""
    active = tx.value(f"SELECT COUNT(*) AS n FROM runs WHERE {column}=? AND status IN "
                      "('queued', 'running')", (value,))
    if active >= limit:
        raise OwnerLimitError(sentence)
