"""TrainingJob: one run's live state, observed through a locked snapshot.

The job is what a page reads (`snapshot()`) and what Stop touches (`stop()`); the fit loop
(`fmnist_core.training.fitloop`) and its progress callback (`fmnist_core.training.progress`)
write into it from whichever thread trains. It also keeps the run store up to date: the
run's fields, each epoch, and every second its live snapshot, so a page on any server can
draw the curves. When the database is away, writes wait in order and are retried, so a
training that ends meanwhile keeps its result.

    job = TrainingJob(preset("quick"), owner="me", store=RunStore())
    job.start(); job.wait()                  # trains in a thread of this process
    job.snapshot()["test_accuracy"]
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any, Callable

from fmnist_core.data.datasets import Dataset
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.presence import HOST
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import ModelSpec

_LOGGER = logging.getLogger(__name__)

# The live snapshot reaches the store at most this often (pages on other servers poll it).
PROGRESS_SECONDS = 1.0
# Per-batch points kept for the curves: beyond this, every other one is dropped.
MAX_BATCH_POINTS = 2000
# A write that failed because the database was away is retried this long after the job.
STORE_RETRY_SECONDS = 1800.0
# Shown with a result whose writes wait for the database; a server relaying this job's
# snapshot is not told when they succeed, so it says nothing that turns false then.
STORE_AWAY = ("The saved runs' database could not be reached as this run ended; its result "
              "is kept and saved there as soon as the database answers.")


def initial_state(run_id: str, spec: ModelSpec) -> dict[str, Any]:
    """The snapshot of a run that has not trained a batch yet."""
    return {
        "run_id": run_id,
        "status": "running",
        "message": "Preparing data and building the model.",
        "epoch": 0,
        "epochs": spec.epochs,
        "batch": 0,
        "batches_per_epoch": None,
        "batch_points": [],  # (epoch as a float, running loss, running accuracy)
        "history": [],  # one dict per epoch; "complete" is False for a stopped one
        "images_per_second": None,
        "elapsed": 0.0,  # seconds since training began; once it ends, since the start
        "train_seconds": None,  # the training itself (every epoch and its validation)
        "eta": None,  # seconds left; None until the pace is steady
        "estimate": None,  # estimated seconds per epoch when training began
        "estimate_prepare": None,  # and what the first epoch adds (tracing)
        "estimate_paced": None,  # whether it rests on this machine's measured pace
        "test_loss": None,
        "test_accuracy": None,
        "device": None,
        "model_path": None,
        "queue_position": 0,
        "steps_done": 0,  # every batch, unthrottled, so a stop can be checked exactly
        "stop_seen_at_step": None,
        "started_at": None,
    }


class TrainingJob:
    """One training run, trained by `fmnist_core.training.fitloop.train` in some thread.

    Args:
        spec: what to build and how to train it.
        owner: who started it; only the owner (or the teacher) may stop it.
        store: where the run, its epochs and its model are kept.
        dataset: data to train on; default `load_dataset(spec.dataset)` where it trains.
        limit_train: train on the first N training images only (tests, demos).
        limit_test: evaluate on the first N test images only.
        time_limit: seconds it may train; past them it stops as by Stop (None: no limit).
        on_done: called with the job from the training thread once it has ended.
        run_id: the run already stored for this job (the queue claimed it); by default a
            new run is created that starts at once.
    """

    def __init__(self, spec: ModelSpec, owner: str, store: RunStore, *,
                 dataset: Dataset | None = None, limit_train: int | None = None,
                 limit_test: int | None = None, time_limit: float | None = None,
                 on_done: Callable[[TrainingJob], None] | None = None,
                 run_id: str | None = None):
        self.spec = spec
        self.owner = owner
        self.store = store
        self.run_id = run_id or store.create_run(spec, owner, executor="thread")
        self.worker = None  # the WorkerProcess training it, when one does
        # where it trains, stored with the run: this machine, or the Ray node of its actor
        self.node = HOST
        self.dataset = dataset
        self.limit_train = limit_train
        self.limit_test = limit_test
        self.time_limit = time_limit
        self._on_done = on_done
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: list[tuple[Callable, tuple, dict]] = []
        self._write_lock = threading.RLock()
        self._store_down = False
        self._last_progress = 0.0
        self._state = initial_state(self.run_id, spec)

    # -- what pages and executors call ---------------------------------------------------

    def start(self) -> None:
        """Trains in a new daemon thread of this process."""
        self._thread = threading.Thread(target=self.run_here, name=f"train-{self.run_id}",
                                        daemon=True)
        self.mark_started()
        self._thread.start()

    def run_here(self) -> None:
        """Trains in the calling thread; returns once the job has ended."""
        from fmnist_core.training import fitloop

        if self._state["started_at"] is None:
            self.mark_started()
        try:
            fitloop.train(self)
        except Exception as err:  # noqa: BLE001 - any failure ends this job, not the server
            _LOGGER.exception("Run %s failed while training; the server goes on.",
                              self.run_id)
            self.finish("failed", failure_sentence(err))
        finally:
            self.end()

    def mark_started(self) -> None:
        self.update(status="running", message="Preparing data and building the model.",
                    queue_position=0, started_at=time.time())

    def end(self) -> None:
        """Marks the job done and tells whoever waits (the queue's `on_done`)."""
        self._done.set()
        if self._on_done is not None:
            self._on_done(self)

    def stop(self) -> None:
        """Asks training to end after the current batch; the run is kept as "stopped"."""
        self._stop_requested.set()

    def snapshot(self) -> dict[str, Any]:
        """A copy of the progress, safe to read from any thread."""
        with self._lock:
            return copy.deepcopy(self._state)

    @property
    def status(self) -> str:
        with self._lock:
            return self._state["status"]

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the job has ended; True if it has."""
        return self._done.wait(timeout)

    # -- what the fit loop calls ---------------------------------------------------------

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._state.update(fields)

    def add_batch_point(self, point: tuple[float, float, float], **fields: Any) -> None:
        with self._lock:
            points = self._state["batch_points"]
            points.append(point)
            if len(points) > MAX_BATCH_POINTS:
                # thin the older half; the newest points keep their full pace
                half = len(points) // 2
                points[:half] = points[:half:2]
            self._state.update(fields)
        self.publish_progress()

    def note_steps(self, steps_done: int) -> bool:
        """Notes the batches the run has trained (every one, unthrottled, so a Stop is seen
        exactly); returns whether a Stop was asked for, and keeps the step where it was
        first seen (`stop_seen_at_step`)."""
        stop = self.stop_requested
        with self._lock:
            self._state["steps_done"] = steps_done
            if stop and self._state["stop_seen_at_step"] is None:
                self._state["stop_seen_at_step"] = steps_done
        return stop

    def add_history(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._state["history"].append(row)

    def publish_progress(self, force: bool = False) -> None:
        """Writes the live snapshot to the store, at most every PROGRESS_SECONDS."""
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_SECONDS:
            return
        self._last_progress = now
        self.write(self.store.update_progress, self.run_id, self.snapshot())

    def write(self, method: Callable, *args: Any, **kwargs: Any) -> None:
        """Calls a store method; when the database is away the call waits, in order, for
        the next write (and, after the job, for a retry thread)."""
        with self._write_lock:
            if method == self.store.update_progress:  # only the newest snapshot need wait
                self._pending = [p for p in self._pending if p[0] != method]
            self._pending.append((method, args, kwargs))
            self._flush()

    def store_fields(self, **fields: Any) -> None:
        self.write(self.store.update_run, self.run_id, **fields)

    def _flush(self) -> bool:
        with self._write_lock:
            while self._pending:
                method, args, kwargs = self._pending[0]
                try:
                    method(*args, **kwargs)
                except StoreUnavailableError:
                    if not self._store_down:  # once, not at every write while it is away
                        _LOGGER.warning("Run %s: the run store's database is away; its "
                                        "writes wait and are retried.", self.run_id,
                                        exc_info=True)
                    self._store_down = True
                    self.update(store_error=STORE_AWAY)
                    return False
                except Exception as err:  # noqa: BLE001 - a full or read-only disk: say so
                    _LOGGER.exception("Run %s: a write to the run store (%s) failed; it is "
                                      "dropped and the run says so.", self.run_id,
                                      getattr(method, "__name__", method))
                    self.update(store_error=f"The run store could not be written ({err}).")
                self._pending.pop(0)
            if self._store_down:
                self._store_down = False
                with self._lock:
                    self._state.pop("store_error", None)
            return True

    def finish(self, status: str, message: str, **fields: Any) -> None:
        """Ends the run with a final status and one sentence, in the snapshot and the
        store; `fields` go to the store too (test figures, timings)."""
        started = self._state.get("started_at")
        total = time.time() - started if started else None
        stored: dict[str, Any] = {"stop_reason": message, **fields}
        if status in ("failed", "diverged", "cancelled", "interrupted"):
            stored["error"] = message
        if total is not None:
            stored["total_seconds"] = total
        with self._lock:
            self._state.update(status=status, message=message, eta=0.0)
            if total is not None:
                self._state["elapsed"] = total
        self.publish_progress(force=True)
        self.write(self.store.finish_run, self.run_id, status, **stored)
        if self._store_down:
            threading.Thread(target=self._retry_pending, name=f"store-retry-{self.run_id}",
                             daemon=True).start()

    def _retry_pending(self) -> None:
        deadline = time.monotonic() + STORE_RETRY_SECONDS
        while time.monotonic() < deadline:
            time.sleep(2.0)
            if self._flush():
                return


def failure_sentence(err: BaseException) -> str:
    """One sentence for a training failure, with advice where the cause is known."""
    text = f"{type(err).__name__}: {err}".splitlines()[0][:300]
    if isinstance(err, MemoryError) or "ResourceExhausted" in text or "out of memory" in \
            text.lower() or "OOM" in text:
        return ("Training ran out of memory; try a smaller batch size, fewer filters or a "
                "smaller dense layer.")
    return f"Training failed ({text.rstrip('.')})."
