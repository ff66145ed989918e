"""RunStore: one SQLite row per run and per epoch, plus the trained model as a .keras file.

The store lives in `$STUDIO_HOME` (default `~/.fmnist_studio`): `runs.sqlite` (WAL, so the
page can read while a worker writes) and `models/<run id>.keras`. Every operation opens its
own short connection, so the store is safe to share between threads and processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from fmnist_core.spec import ModelSpec

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("completed", "stopped", "failed", "diverged", "interrupted", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    device TEXT,
    backend TEXT,
    params INTEGER,
    epochs_run INTEGER DEFAULT 0,
    train_seconds REAL,
    total_seconds REAL,
    flops_per_second REAL,
    best_val_accuracy REAL,
    test_loss REAL,
    test_accuracy REAL,
    stop_reason TEXT,
    error TEXT,
    model_path TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    loss REAL,
    accuracy REAL,
    val_loss REAL,
    val_accuracy REAL,
    seconds REAL,
    PRIMARY KEY (run_id, epoch)
);
"""
_RUN_FIELDS = (
    "status", "device", "backend", "params", "epochs_run", "train_seconds", "total_seconds",
    "best_val_accuracy", "test_loss", "test_accuracy", "stop_reason", "error", "model_path",
    "pid", "flops_per_second",
)


class RunNotFoundError(KeyError):
    """No run with that id; `str(err)` is a sentence."""

    def __str__(self) -> str:
        return str(self.args[0])


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
    """SQLite rows + .keras files for every training run.

    Args:
        home: folder of the store; default `$STUDIO_HOME` or `~/.fmnist_studio`.
    """

    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.models_dir = self.home / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "runs.sqlite"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        self._recover()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        try:
            with db:
                yield db
        finally:
            db.close()

    def _recover(self) -> None:
        """Marks runs whose worker process is gone as interrupted; removes half-written
        model files left by a killed save."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT id, pid FROM runs WHERE status IN {ACTIVE_STATUSES}"
            ).fetchall()
            for row in rows:
                if not _pid_alive(row["pid"]):
                    db.execute(
                        "UPDATE runs SET status='interrupted', "
                        "error='The server stopped while this run was training.' WHERE id=?",
                        (row["id"],),
                    )
        for partial in self.models_dir.glob("*.partial.keras"):
            if not _pid_alive(_partial_pid(partial)):
                partial.unlink(missing_ok=True)

    def create_run(self, spec: ModelSpec, owner: str, status: str = "queued") -> str:
        """Adds a run row and returns its new id."""
        run_id = uuid.uuid4().hex[:12]
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (id, owner, created, spec, status, pid) VALUES (?,?,?,?,?,?)",
                (run_id, owner, time.time(), spec.to_json(), status, os.getpid()),
            )
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        unknown = set(fields) - set(_RUN_FIELDS)
        if unknown:
            raise ValueError(f"Unknown run field(s) {sorted(unknown)}.")
        if not fields:
            return
        assignments = ", ".join(f"{key}=?" for key in fields)
        with self._connect() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id=?", (*fields.values(), run_id))

    def add_epoch(self, run_id: str, epoch: int, metrics: dict[str, float],
                  seconds: float | None = None) -> None:
        """Stores one epoch's metrics (epoch counts from 1) and keeps the run's summary."""
        values = [metrics.get(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy")]
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO epochs VALUES (?,?,?,?,?,?,?)",
                (run_id, epoch, *values, seconds),
            )
            db.execute(
                "UPDATE runs SET epochs_run=?, best_val_accuracy=(SELECT MAX(val_accuracy) "
                "FROM epochs WHERE run_id=?) WHERE id=?",
                (epoch, run_id, run_id),
            )

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run's row as a dict, with `spec` as a ModelSpec; RunNotFoundError otherwise."""
        validate_run_id(run_id)
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"There is no run {run_id}; it may have been deleted.")
        return _row_to_run(row)

    def list_runs(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Every run, newest first (only `owner`'s when given)."""
        query, args = "SELECT * FROM runs", ()
        if owner is not None:
            query, args = query + " WHERE owner=?", (owner,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created DESC", args).fetchall()
        return [_row_to_run(row) for row in rows]

    def epochs(self, run_id: str) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)
            ).fetchall()
        return [dict(row) for row in rows]

    def delete_run(self, run_id: str, owner: str) -> None:
        """Deletes a finished run and its model file, only for its owner.

        Raises:
            RunNotFoundError: no such run.
            PermissionError: `owner` is not the run's owner, or the run is still active.
        """
        run = self.get_run(run_id)
        if run["owner"] != owner:
            raise PermissionError("Only the person who trained this run can delete it.")
        if run["status"] in ACTIVE_STATUSES:
            raise PermissionError("This run is still training; stop it before deleting it.")
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        self.model_file(run_id).unlink(missing_ok=True)

    def model_file(self, run_id: str) -> Path:
        return self.models_dir / f"{validate_run_id(run_id)}.keras"

    def save_model(self, run_id: str, model: Any) -> Path:
        """Saves atomically: a partial file first, renamed once complete.

        Raises:
            OSError: the disk is full or the store is read-only; nothing partial remains.
        """
        final = self.model_file(run_id)
        partial = final.with_name(f"{run_id}.{os.getpid()}.partial.keras")
        try:
            model.save(partial)
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.update_run(run_id, model_path=str(final))
        return final

    def load_model(self, run_id: str) -> Any:
        """Loads a stored model with `safe_mode=True` (no arbitrary code from the file)."""
        import keras

        path = self.model_file(run_id)
        if not path.is_file():
            raise RunNotFoundError(f"Run {run_id} has no saved model (it did not finish).")
        return keras.models.load_model(path, safe_mode=True, compile=False)

    def measured_flop_rate(self, default: float = 3e10) -> float:
        """Median training FLOP/s of the latest finished runs on this machine (used to
        estimate epoch times before training); `default` when there are none."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT flops_per_second FROM runs WHERE flops_per_second > 0 "
                "ORDER BY created DESC LIMIT 5"
            ).fetchall()
        rates = sorted(row[0] for row in rows)
        return rates[len(rates) // 2] if rates else default

    def integrity_ok(self) -> bool:
        with self._connect() as db:
            return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _row_to_run(row: sqlite3.Row) -> dict[str, Any]:
    run = dict(row)
    run["spec"] = ModelSpec.from_dict(json.loads(run["spec"]))
    return run


def _partial_pid(path: Path) -> int | None:
    parts = path.name.split(".")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


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
