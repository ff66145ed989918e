"""RunStore: every run, its epochs, the training queue and the owners, plus model files.

Rows live in a database (`fmnist_core.store.db`): an SQLite file in `$STUDIO_HOME` by default, or
PostgreSQL when `$STUDIO_DATABASE_URL` says so, so several studio servers share one class.
Trained models are `.keras` files in `$STUDIO_HOME/models` (a folder every server mounts),
written atomically. Every operation is one short transaction, so the store is safe to share
between threads, processes and servers.

`RunStore` is the one object callers use. This module holds the run rows and their epochs;
the other parts are mixed in from their own modules: the line (`fmnist_core.store.queue`),
servers, owners' visits and orphans (`presence`), files on disk (`run_files`), the
owners' secret and names (`owners`), and each machine's measured pace (`paces`). What a
row is lives in `records`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store import schema
from fmnist_core.store.db import StoreUnavailableError, open_database
from fmnist_core.store.owners import OwnerRows
from fmnist_core.store.paces import PaceRows
from fmnist_core.store.presence import ADOPTABLE_EXECUTORS, HOST, Presence
from fmnist_core.store.queue import RunQueue
from fmnist_core.store.records import (ACTIVE_STATUSES, EPOCH_METRICS, SHORT_ID_PATTERN,
                                       RunNotFoundError, check_fields, row_to_run,
                                       validate_run_id)
from fmnist_core.store.run_files import RunFiles, private_folder

__all__ = ["RunStore", "default_home"]


def default_home() -> Path:
    """`$STUDIO_HOME`, else `~/.fmnist_studio`: where the models (and the SQLite file) live."""
    return Path(os.environ.get("STUDIO_HOME", Path.home() / ".fmnist_studio")).expanduser()


class RunStore(RunQueue, Presence, RunFiles, OwnerRows, PaceRows):
    """Database rows + .keras files for every training run.

    Args:
        home: folder of the model files (and of the SQLite file); default `$STUDIO_HOME`
            or `~/.fmnist_studio`.
        url: database URL; default `$STUDIO_DATABASE_URL`, else SQLite in `home`.
        recover: mark runs whose process or server is gone as interrupted (a server's
            start); workers pass False.

    Raises:
        StoreUnavailableError: PostgreSQL cannot be reached.
        OSError: `home` cannot be created or written.
    """

    def __init__(self, home: str | os.PathLike | None = None, url: str | None = None, *,
                 recover: bool = True):
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.models_dir = self.home / "models"
        # the store holds the key that signs every student's token: only this user reads it
        private_folder(self.home)
        private_folder(self.models_dir)
        self.url = url if url is not None else os.environ.get("STUDIO_DATABASE_URL") or None
        self.db = open_database(self.url, self.home)
        self.path = getattr(self.db, "path", None)  # the SQLite file, when it is one
        try:
            schema.migrate(self.db)
        except BaseException:
            self.db.close()  # a store that cannot be used keeps no connections open
            raise
        if recover:
            self.recover(keep_executors=ADOPTABLE_EXECUTORS)

    def describe(self) -> str:
        return self.db.describe()

    def available(self) -> bool:
        """Whether the database answers now (a page waiting for it to come back asks)."""
        try:
            with self.db.transaction() as tx:
                tx.value("SELECT 1 AS one")
        except StoreUnavailableError:
            return False
        return True

    def integrity_ok(self) -> bool:
        return self.db.integrity_ok()

    def close(self) -> None:
        """Closes the database connections (a PostgreSQL pool); the store is unusable
        after."""
        self.db.close()

    def recover(self, keep_executors: tuple[str, ...] = ()) -> list[str]:
        """Marks running runs whose server or process is gone as interrupted (except those
        of `keep_executors`, which a live server adopts) and removes half-written model
        files left by a killed save; returns the interrupted ids."""
        interrupted = self.interrupt_orphans(keep_executors)
        self.remove_abandoned_partials()
        return interrupted

    # -- runs ------------------------------------------------------------------------------

    def create_run(self, spec: ModelSpec, owner: str, status: str = "running",
                   **fields: Any) -> str:
        """Adds a run that starts at once (the CLI, a notebook) and returns its new id;
        queued runs come from `enqueue`."""
        run_id = uuid.uuid4().hex[:12]
        fields = {"pid": os.getpid(), "host": HOST, **fields}
        check_fields(fields)
        columns = ", ".join(("id", "owner", "created", "spec", "status", "seq", *fields))
        marks = ", ".join("?" * (6 + len(fields)))
        with self.db.transaction() as tx:
            tx.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})",
                       (run_id, owner, time.time(), spec.to_json(), status, 0,
                        *fields.values()))
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        check_fields(fields)
        if not fields:
            return
        assignments = ", ".join(f"{key}=?" for key in fields)
        with self.db.transaction() as tx:
            tx.execute(f"UPDATE runs SET {assignments} WHERE id=?", (*fields.values(), run_id))

    def finish_run(self, run_id: str, status: str, **fields: Any) -> None:
        """Writes a run's final status and fields in one transaction; the last progress
        snapshot is kept for any server to draw. A diverged run keeps no file: the weights
        of its epochs are those of a network that did not learn."""
        self.update_run(run_id, status=status, finished=time.time(), **fields)
        if status == "diverged":
            self.delete_run_files(run_id)

    def add_epoch(self, run_id: str, epoch: int, metrics: dict[str, float],
                  seconds: float | None = None, *, complete: bool = True,
                  batches: int | None = None,
                  class_accuracy: list[float] | None = None) -> None:
        """Stores one epoch's metrics (epoch counts from 1) and keeps the run's summary.

        Args:
            complete: False for an epoch that Stop cut short; `epochs_run` counts complete
                epochs only.
            batches: batches trained in the epoch.
            class_accuracy: validation accuracy of each class.
        """
        values = [metrics.get(k) for k in EPOCH_METRICS]
        per_class = json.dumps(class_accuracy) if class_accuracy is not None else None
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO epochs (run_id, epoch, loss, accuracy, val_loss, val_accuracy, "
                "seconds, complete, batches, class_accuracy) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (run_id, epoch) DO UPDATE SET loss=excluded.loss, "
                "accuracy=excluded.accuracy, val_loss=excluded.val_loss, "
                "val_accuracy=excluded.val_accuracy, seconds=excluded.seconds, "
                "complete=excluded.complete, batches=excluded.batches, "
                "class_accuracy=excluded.class_accuracy",
                (run_id, epoch, *values, seconds, int(complete), batches, per_class))
            tx.execute(
                "UPDATE runs SET epochs_run=(SELECT COUNT(*) FROM epochs WHERE run_id=? AND "
                "complete=1), best_val_accuracy=(SELECT MAX(val_accuracy) FROM epochs WHERE "
                "run_id=?) WHERE id=?", (run_id, run_id, run_id))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run's row as a dict, with `spec` as a ModelSpec; RunNotFoundError otherwise."""
        validate_run_id(run_id)
        with self.db.transaction() as tx:
            row = tx.one("SELECT * FROM runs WHERE id=?", (run_id,))
        if row is None:
            raise RunNotFoundError(f"There is no run {run_id}; it may have been deleted.")
        return row_to_run(row)

    def ids_starting(self, start: str) -> list[str]:
        """The ids of the runs whose id starts with `start` (the 6 characters a page shows).

        Raises:
            ValueError: `start` is not 6 to 11 lowercase hex characters.
        """
        if not isinstance(start, str) or not SHORT_ID_PATTERN.match(start):
            raise ValueError(f"Argument `start` must be 6 to 11 lowercase hex characters, "
                             f"received {start!r}.")
        with self.db.transaction() as tx:  # hex only: no LIKE wildcard can be in `start`
            rows = tx.all("SELECT id FROM runs WHERE id LIKE ? ORDER BY created DESC",
                          (start + "%",))
        return [row["id"] for row in rows]

    def list_runs(self, owner: str | None = None,
                  statuses: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Every run, newest first (only `owner`'s, or only some statuses, when given);
        without the live progress, which only a run's own view needs."""
        where, args = [], []
        if owner is not None:
            where.append("owner=?")
            args.append(owner)
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        query = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        with self.db.transaction() as tx:
            rows = tx.all(query + " ORDER BY created DESC", args)
        return [row_to_run(row, with_progress=False) for row in rows]

    def epochs(self, run_id: str) -> list[dict[str, Any]]:
        with self.db.transaction() as tx:
            rows = tx.all("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,))
        for row in rows:
            row["complete"] = row.get("complete") is None or bool(row["complete"])
            row["class_accuracy"] = (json.loads(row["class_accuracy"])
                                     if row.get("class_accuracy") else None)
        return rows

    def update_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        """Keeps a run's live snapshot (JSON) so a page on any server can draw it; without
        its trainer's note that the database was away (a reader has found it)."""
        progress = {key: value for key, value in progress.items() if key != "store_error"}
        with self.db.transaction() as tx:
            tx.execute("UPDATE runs SET progress=? WHERE id=?",
                       (json.dumps(progress, default=float), run_id))

    def delete_run(self, run_id: str, owner: str | None) -> None:
        """Deletes a finished run and its files, only for its owner (`owner=None`: the
        teacher).

        Raises:
            RunNotFoundError: no such run.
            PermissionError: `owner` is not the run's owner, or the run is still active.
        """
        run = self.get_run(run_id)
        if owner is not None and run["owner"] != owner:
            raise PermissionError("Only the person who trained this run can delete it.")
        if run["status"] in ACTIVE_STATUSES:
            raise PermissionError("This run is still training; stop it before deleting it.")
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            tx.execute("DELETE FROM runs WHERE id=?", (run_id,))
        self.delete_run_files(run_id)

    def clear_runs(self, statuses: tuple[str, ...] = ("cancelled", "failed")) -> int:
        """Deletes every run with one of `statuses` (the teacher's clean-up); returns how
        many."""
        runs = self.list_runs(statuses=statuses)
        for run in runs:
            self.delete_run(run["id"], owner=None)
        return len(runs)
