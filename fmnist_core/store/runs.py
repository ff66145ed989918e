"""RunStore: every run, its epochs, the training queue and the owners, plus model files.

Rows live in a database (`fmnist_core.store.db`): an SQLite file in `$STUDIO_HOME` by default, or
PostgreSQL when `$STUDIO_DATABASE_URL` says so, so several studio servers share one class.
Trained models are `.keras` files in `$STUDIO_HOME/models` (a folder every server mounts),
written atomically. Every operation is one short transaction, so the store is safe to share
between threads, processes and servers.

The queue is the `runs` table itself: a queued run has a `seq`; a server claims the oldest
one under the class's cap in a locked transaction (`claim_next`), so FIFO order, the cap and
the per-student limit hold across servers and no run starts twice.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from fmnist_core.store import schema
from fmnist_core.store.db import StoreUnavailableError, open_database
from fmnist_core.nets.spec import ModelSpec

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
RUN_FILE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)+$")
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("completed", "stopped", "failed", "diverged", "interrupted", "cancelled")
STOPPERS = ("owner", "teacher")  # who may stop a run
# A server that has not written its heartbeat for this long is gone: its runs are
# interrupted (or, on a Ray cluster, adopted by a live server).
SERVER_STALE_SECONDS = 30.0
# Runs on a Ray cluster outlive their server: opening the store leaves them to the next
# server's queue, which adopts them or interrupts them.
ADOPTABLE_EXECUTORS = ("ray",)
HOST = socket.gethostname()
# Model files are saved as `<run>.<pid>.<host>.partial.keras`, then renamed. A partial file of
# this machine whose process is gone is removed at once; one of another machine sharing the
# models folder only once it is this old (no save takes that long).
_HOST_TAG = re.sub(r"[^A-Za-z0-9-]", "-", HOST)[:63] or "host"
PARTIAL_STALE_SECONDS = 3600.0

_RUN_FIELDS = (
    "status", "device", "backend", "params", "epochs_run", "train_seconds", "total_seconds",
    "best_val_accuracy", "test_loss", "test_accuracy", "stop_reason", "error", "model_path",
    "pid", "flops_per_second", "host", "server", "executor", "started", "finished",
    "estimate_seconds", "estimate_factor",
)
_EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")

__all__ = ["RunStore", "RunNotFoundError", "OwnerLimitError", "StoreUnavailableError",
           "validate_run_id", "default_home"]


class RunNotFoundError(KeyError):
    """No run with that id; `str(err)` is a sentence."""

    def __str__(self) -> str:
        return str(self.args[0])


class OwnerLimitError(RuntimeError):
    """The owner already has as many active jobs as allowed; `str(err)` is a sentence."""


def default_home() -> Path:
    return Path(os.environ.get("STUDIO_HOME", Path.home() / ".fmnist_studio")).expanduser()


def validate_run_id(run_id: Any) -> str:
    """Returns the id if it has the store's form; ValueError otherwise (ids come from URLs)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise ValueError(
            f"Argument `run_id` must be 12 lowercase hex characters, received {run_id!r}."
        )
    return run_id


class RunStore:
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

    def close(self) -> None:
        """Closes the database connections (a PostgreSQL pool); the store is unusable
        after."""
        self.db.close()

    # -- runs ------------------------------------------------------------------------------

    def create_run(self, spec: ModelSpec, owner: str, status: str = "running",
                   **fields: Any) -> str:
        """Adds a run that starts at once (the CLI, a notebook) and returns its new id;
        queued runs come from `enqueue`."""
        run_id = uuid.uuid4().hex[:12]
        fields = {"pid": os.getpid(), "host": HOST, **fields}
        _check_fields(fields)
        columns = ", ".join(("id", "owner", "created", "spec", "status", "seq", *fields))
        marks = ", ".join("?" * (6 + len(fields)))
        with self.db.transaction() as tx:
            tx.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})",
                       (run_id, owner, time.time(), spec.to_json(), status, 0,
                        *fields.values()))
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        _check_fields(fields)
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
        values = [metrics.get(k) for k in _EPOCH_METRICS]
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
        return _row_to_run(row)

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
        return [_row_to_run(row, with_progress=False) for row in rows]

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

    def delete_run_files(self, run_id: str) -> None:
        """Removes a run's model and every file beside it."""
        for path in self.run_files(run_id):
            path.unlink(missing_ok=True)

    def clear_runs(self, statuses: tuple[str, ...] = ("cancelled", "failed")) -> int:
        """Deletes every run with one of `statuses` (the teacher's clean-up); returns how
        many."""
        runs = self.list_runs(statuses=statuses)
        for run in runs:
            self.delete_run(run["id"], owner=None)
        return len(runs)

    # -- the queue -------------------------------------------------------------------------

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
            active = tx.value("SELECT COUNT(*) AS n FROM runs WHERE owner=? AND status IN "
                              "('queued', 'running')", (owner,))
            if active >= max_per_owner:
                raise OwnerLimitError(
                    "You already have a training queued or running; stop it or wait for it "
                    "to finish before starting another.")
            if client is not None and max_per_client is not None:
                active = tx.value("SELECT COUNT(*) AS n FROM runs WHERE client=? AND status "
                                  "IN ('queued', 'running')", (client,))
                if active >= max_per_client:
                    raise OwnerLimitError(
                        "This computer already has a training queued or running; wait for "
                        "it to finish before starting another.")
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
        return [_row_to_run(row, with_progress=False) for row in rows]

    def count(self, status: str) -> int:
        with self.db.transaction() as tx:
            return tx.value("SELECT COUNT(*) AS n FROM runs WHERE status=?", (status,))

    def cancel_queued(self, run_id: str, message: str = "Cancelled before it started.") -> bool:
        """Cancels a run that is still waiting; False if it has started or ended."""
        with self.db.transaction(locked=True) as tx:
            changed = tx.execute(
                "UPDATE runs SET status='cancelled', stop_reason=?, error=?, finished=? "
                "WHERE id=? AND status='queued'", (message, message, time.time(), run_id))
            return changed.rowcount > 0

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

    # -- servers and recovery --------------------------------------------------------------

    def heartbeat(self, server: str, executor: str) -> None:
        """Says that `server` is alive (every few seconds from its queue)."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO servers (id, host, pid, executor, started, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "heartbeat=excluded.heartbeat", (server, HOST, os.getpid(), executor, now, now))

    def remove_server(self, server: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM servers WHERE id=?", (server,))

    def servers(self) -> list[dict[str, Any]]:
        with self.db.transaction() as tx:
            return tx.all("SELECT * FROM servers ORDER BY started")

    def orphaned_runs(self) -> list[dict[str, Any]]:
        """Running runs whose server (or, without a server, whose process) is gone.

        Right after this store got its database back from an outage, every server's heartbeat
        is old; they are judged by it only once they have had SERVER_STALE_SECONDS to write
        a new one.
        """
        now = time.time()
        back = self.db.reconnected_at
        heartbeats_count = back is None or now - back > SERVER_STALE_SECONDS
        with self.db.transaction() as tx:
            rows = tx.all("SELECT r.id, r.pid, r.host, r.server, r.executor, s.host AS s_host, "
                          "s.pid AS s_pid, s.heartbeat FROM runs r LEFT JOIN servers s ON "
                          "s.id = r.server WHERE r.status='running'")
        gone = []
        for row in rows:
            if row["server"]:
                same_host = row["s_host"] == HOST
                stale = (row["heartbeat"] is None
                         or now - row["heartbeat"] > SERVER_STALE_SECONDS)
                dead = ((stale and heartbeats_count)
                        or (same_host and not _pid_alive(row["s_pid"])))
            else:
                dead = row["host"] in (None, HOST) and not _pid_alive(row["pid"])
            if dead:
                gone.append(row)
        return gone

    def recover(self, keep_executors: tuple[str, ...] = ()) -> list[str]:
        """Marks running runs whose server or process is gone as interrupted (except those
        of `keep_executors`, which a live server adopts) and removes half-written model
        files left by a killed save; returns the interrupted ids."""
        interrupted = []
        for row in self.orphaned_runs():
            if row["executor"] in keep_executors:
                continue
            message = "The server stopped while this run was training."
            with self.db.transaction() as tx:
                # unless a live server adopted it meanwhile
                tx.execute("UPDATE runs SET status='interrupted', finished=?, error=?, "
                           "stop_reason=? WHERE id=? AND status='running' AND (server=? OR "
                           "(server IS NULL AND CAST(? AS TEXT) IS NULL))",
                           (time.time(), message, message, row["id"], row["server"],
                            row["server"]))
            interrupted.append(row["id"])
        for partial in self.models_dir.glob("*.partial.*"):
            if _partial_abandoned(partial):
                partial.unlink(missing_ok=True)
        return interrupted

    def adopt(self, run_id: str, server: str) -> bool:
        """Moves a running run of a gone server to `server`; False if someone was first."""
        with self.db.transaction(locked=True) as tx:
            row = tx.one("SELECT server FROM runs WHERE id=? AND status='running'", (run_id,))
            if row is None:
                return False
            tx.execute("UPDATE runs SET server=? WHERE id=?", (server, run_id))
            return True

    # -- owners ----------------------------------------------------------------------------

    def touch_owners(self, owners: list[str]) -> None:
        """Records that these owners have a page open now (a server's session check)."""
        now = time.time()
        with self.db.transaction() as tx:
            for owner in owners:
                tx.execute("INSERT INTO owners (id, created, last_seen) VALUES (?, ?, ?) ON "
                           "CONFLICT (id) DO UPDATE SET last_seen=excluded.last_seen",
                           (owner, now, now))

    def cancel_absent(self, grace_seconds: float) -> list[str]:
        """Cancels the queued runs of owners with no page open for `grace_seconds` (a
        closed tab, not a reload); returns their ids."""
        limit = time.time() - grace_seconds
        with self.db.transaction(locked=True) as tx:
            rows = tx.all("SELECT r.id FROM runs r LEFT JOIN owners o ON o.id = r.owner WHERE "
                          "r.status='queued' AND r.created < ? AND (o.last_seen IS NULL OR "
                          "o.last_seen < ?)", (limit, limit))
            message = "Cancelled before it started: its page was closed."
            for row in rows:
                tx.execute("UPDATE runs SET status='cancelled', stop_reason=?, error=?, "
                           "finished=? WHERE id=? AND status='queued'",
                           (message, message, time.time(), row["id"]))
        return [row["id"] for row in rows]

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

    # -- model files -----------------------------------------------------------------------

    def model_file(self, run_id: str) -> Path:
        return self.models_dir / f"{validate_run_id(run_id)}.keras"

    def run_files(self, run_id: str) -> list[Path]:
        """Every file of a run: the model and whatever is stored beside it."""
        validate_run_id(run_id)
        return sorted(self.models_dir.glob(f"{run_id}.*"))

    def run_file(self, run_id: str, name: str) -> Path:
        """A file kept beside a run's model, e.g. "ood.npz" or "epoch-003.weights.h5"."""
        if not RUN_FILE_PATTERN.match(name):
            raise ValueError(f"Argument `name` must be a plain file name, received {name!r}.")
        return self.models_dir / f"{validate_run_id(run_id)}.{name}"

    def write_run_file(self, run_id: str, name: str, write: Callable[[Path], Any]) -> Path:
        """Writes a file beside a run's model atomically: `write(path)` fills a partial
        file, which is renamed once complete.

        Raises:
            OSError: the disk is full or the store is read-only; nothing partial remains.
        """
        return _write_atomic(self.run_file(run_id, name), run_id, write)

    def save_run_file_bytes(self, run_id: str, name: str, data: bytes) -> Path:
        """A run file that was written elsewhere (a cluster node), stored atomically."""
        return self.write_run_file(run_id, name, lambda path: path.write_bytes(data))

    def checkpoints(self, run_id: str) -> dict[int, Path]:
        """The weights kept after each stored epoch, by epoch number."""
        found = {}
        for path in self.models_dir.glob(f"{validate_run_id(run_id)}.epoch-*.weights.h5"):
            number = path.name.split(".")[1][len("epoch-"):]
            if number.isdigit():
                found[int(number)] = path
        return dict(sorted(found.items()))

    def write_model_file(self, run_id: str, model: Any) -> Path:
        """Saves a model's file atomically: a partial file first, renamed once complete
        (the row's `model_path` is the caller's to write).

        Raises:
            OSError: the disk is full or the store is read-only; nothing partial remains.
        """
        return _write_atomic(self.model_file(run_id), run_id, model.save)

    def save_model(self, run_id: str, model: Any) -> Path:
        """`write_model_file` and the row's `model_path`."""
        final = self.write_model_file(run_id, model)
        self.update_run(run_id, model_path=str(final))
        return final

    def save_model_bytes(self, run_id: str, data: bytes) -> Path:
        """Writes a model file that was trained elsewhere (a cluster node), atomically."""
        final = _write_atomic(self.model_file(run_id), run_id, lambda path: path.write_bytes(data))
        self.update_run(run_id, model_path=str(final))
        return final

    def load_model(self, run_id: str) -> Any:
        """Loads a stored model with `safe_mode=True` (no arbitrary code from the file)."""
        import keras

        import fmnist_core.nets.model  # noqa: F401 - registers the studio's own layers for loading

        path = self.model_file(run_id)
        if not path.is_file():
            raise RunNotFoundError(
                f"Run {run_id}'s model file is not in {self.models_dir}; it did not finish, or "
                "this server does not share the models folder (STUDIO_HOME).")
        return keras.models.load_model(path, safe_mode=True, compile=False)

    def timing_samples(self, limit: int = 20) -> list[dict[str, Any]]:
        """Recent finished runs with their spec, device and mean complete-epoch seconds,
        newest first (what the epoch-time estimate learns from)."""
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT r.id, r.spec, r.device, r.estimate_seconds, r.estimate_factor, "
                "AVG(e.seconds) AS epoch_seconds, COUNT(e.epoch) AS epochs FROM runs r JOIN "
                "epochs e ON e.run_id = r.id WHERE e.complete = 1 AND e.epoch > 1 AND "
                "r.status IN ('completed', 'stopped') GROUP BY r.id, r.spec, r.device, "
                "r.estimate_seconds, r.estimate_factor, r.created "
                "ORDER BY r.created DESC LIMIT ?", (limit,))
        for row in rows:
            row["spec"] = ModelSpec.from_dict(json.loads(row["spec"]))
        return rows

    def integrity_ok(self) -> bool:
        return self.db.integrity_ok()


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(_RUN_FIELDS)
    if unknown:
        raise ValueError(f"Unknown run field(s) {sorted(unknown)}.")


def _row_to_run(row: dict[str, Any], with_progress: bool = True) -> dict[str, Any]:
    run = dict(row)
    run["spec"] = ModelSpec.from_dict(json.loads(run["spec"]))
    progress = run.pop("progress", None)
    if with_progress:
        run["progress"] = json.loads(progress) if progress else None
    run["stop_requested"] = bool(run.get("stop_requested"))
    return run


def private_folder(folder: Path) -> None:
    """Makes `folder` (and its parents) and lets only this user into it (0700): a folder of
    someone else's (a share mounted for several servers) is left as its owner set it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077:
        folder.chmod(0o700)


def _write_atomic(final: Path, run_id: str, write: Callable[[Path], Any]) -> Path:
    """`write(partial)`, then the partial file renamed to `final`, readable by this user
    only (0600); nothing partial remains when `write` fails."""
    partial = _partial_file(final, run_id)
    try:
        write(partial)
        partial.chmod(0o600)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _partial_file(final: Path, run_id: str) -> Path:
    """`<run>.<pid>.<host>.partial.<the final name's ending>`, e.g. `….partial.keras`."""
    ending = final.name[len(run_id) + 1:]
    return final.with_name(f"{run_id}.{os.getpid()}.{_HOST_TAG}.partial.{ending}")


def _partial_abandoned(path: Path) -> bool:
    """Whether a partial file's save has ended without renaming it."""
    parts = path.name.split(".")  # run, pid, [host,] "partial", the final name's ending
    pid = int(parts[1]) if len(parts) > 3 and parts[1].isdigit() else None
    # files of older releases have no host
    host = parts[2] if len(parts) > 4 and parts[3] == "partial" else _HOST_TAG
    if host == _HOST_TAG:
        return not _pid_alive(pid)
    try:
        return time.time() - path.stat().st_mtime > PARTIAL_STALE_SECONDS
    except OSError:
        return False


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie has ended; in a container whose first process does not reap orphans, a
    # worker that outlived its server stays one
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
