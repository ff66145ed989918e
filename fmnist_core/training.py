"""TrainingJob: `model.fit` in a background thread, observed through a locked snapshot.

The worker thread never touches the UI. A Keras callback writes progress into the job's
snapshot (throttled per batch, complete per epoch) and into the run store; pages poll
`job.snapshot()`. `JobQueue` caps how many jobs train at once and runs the rest FIFO.
"""

from __future__ import annotations

import collections
import copy
import math
import os
import threading
import time
from typing import Any, Callable

import numpy as np

from fmnist_core.datasets import Dataset, load_dataset
from fmnist_core.runs import RunStore
from fmnist_core.spec import ModelSpec
from fmnist_core.worker import WorkerProcess

BATCH_UPDATES_PER_SECOND = 5.0
EVAL_BATCH_SIZE = 1000
# An idle worker process keeps Keras and the data loaded (0.5–1 GB) for the next job; after
# this long without one it is ended, and the next job starts a new one.
WORKER_IDLE_SECONDS = 600.0


class OwnerLimitError(RuntimeError):
    """The owner already has as many active jobs as allowed; `str(err)` is a sentence."""


def env_int(name: str, default: int | None) -> int | None:
    """An integer from the environment; the default when unset or not a positive int."""
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


class TrainingJob:
    """One training run in its own thread.

    Args:
        spec: what to build and how to train it.
        owner: who started it (a session id); only the owner may stop it.
        store: where the run, its epochs and its model are kept.
        dataset: data to train on; default `load_dataset(spec.dataset)` in the worker.
        limit_train: train on the first N training images only (tests, demos).
        limit_test: evaluate on the first N test images only.
        on_done: called with the job from the worker thread once it has ended.
        run_id: the run already stored for this job (a worker process takes over a job
            the server created); by default a new run is created.
    """

    def __init__(self, spec: ModelSpec, owner: str, store: RunStore, *,
                 dataset: Dataset | None = None, limit_train: int | None = None,
                 limit_test: int | None = None,
                 on_done: Callable[[TrainingJob], None] | None = None,
                 run_id: str | None = None):
        self.spec = spec
        self.owner = owner
        self.store = store
        self.run_id = run_id or store.create_run(spec, owner, status="queued")
        self.worker: WorkerProcess | None = None
        self._dataset = dataset
        self._limit_train = limit_train
        self._limit_test = limit_test
        self._on_done = on_done
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: dict[str, Any] = {
            "run_id": self.run_id,
            "status": "queued",
            "message": "Waiting for a free training slot.",
            "epoch": 0,
            "epochs": spec.epochs,
            "batch": 0,
            "batches_per_epoch": None,
            "batch_points": [],  # (epoch as a float, running loss, running accuracy)
            "history": [],  # one dict per finished epoch
            "images_per_second": None,
            "elapsed": 0.0,
            "eta": None,
            "test_loss": None,
            "test_accuracy": None,
            "device": None,
            "model_path": None,
            "queue_position": None,
            "steps_done": 0,  # every batch, unthrottled, so a stop can be checked exactly
            "stop_seen_at_step": None,
            "started_at": None,
        }

    # -- what the page calls -------------------------------------------------------------

    def start(self, worker: WorkerProcess | None = None) -> None:
        """Starts the job's thread (the queue calls this when a slot is free).

        Args:
            worker: train in this worker process, the thread only relaying its progress;
                by default the thread trains in this process.
        """
        self.worker = worker
        target = self._run if worker is None else self._run_in_worker
        self._thread = threading.Thread(target=target, name=f"train-{self.run_id}",
                                        daemon=True)
        self._mark_started()
        self._thread.start()

    def start_here(self) -> None:
        """Trains in the calling thread and returns when the job has ended (what a worker
        process does with the job it was sent)."""
        self._mark_started()
        self._run()

    def _mark_started(self) -> None:
        self._update(status="running", message="Preparing data and building the model.",
                     queue_position=0, started_at=time.time())

    def stop(self) -> None:
        """Asks training to end after the current batch; the run is kept as "stopped"."""
        self._stop_requested.set()

    def cancel(self) -> None:
        """Ends a job that never started (its session left while it was queued)."""
        self._stop_requested.set()
        self._finish("cancelled", "Cancelled before it started.")
        self._done.set()

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

    # -- the worker ----------------------------------------------------------------------

    def _update(self, **fields: Any) -> None:
        with self._lock:
            self._state.update(fields)

    def _store(self, **fields: Any) -> None:
        """Writes to the run store; a failing disk becomes the job's message, not a crash."""
        try:
            self.store.update_run(self.run_id, **fields)
        except Exception as err:  # noqa: BLE001 - sqlite3.Error or OSError
            self._update(store_error=f"The run store could not be written ({err}).")

    def _run_in_worker(self) -> None:
        try:
            self.worker.run(self)
        except Exception as err:  # noqa: BLE001 - e.g. a job that cannot be sent over
            self._finish("failed", failure_sentence(err))
        finally:
            self._done.set()
            if self._on_done is not None:
                self._on_done(self)

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._train(started)
        except Exception as err:  # noqa: BLE001 - any failure ends this job, not the server
            self._finish("failed", failure_sentence(err), started=started)
        finally:
            self._done.set()
            if self._on_done is not None:
                self._on_done(self)

    def _train(self, started: float) -> None:
        import keras

        from fmnist_core.device import device_info
        from fmnist_core.model import build_model, compile_model, train_flops_per_image

        if self._stop_requested.is_set():
            self._finish("stopped", "Stopped before training began.", started=started)
            return
        info = device_info()
        device = f"{info['device']} ({info['detail']})"
        self._update(device=device)
        self._store(status="running", device=device, backend=info["backend"],
                    pid=os.getpid())
        data = self._dataset or load_dataset(self.spec.dataset)
        x_train, y_train = data.x_train[: self._limit_train], data.y_train[: self._limit_train]
        x_test, y_test = data.x_test[: self._limit_test], data.y_test[: self._limit_test]
        fit_xy, val_xy = split_validation(x_train, y_train, self.spec.validation_split)
        keras.utils.set_random_seed(self.spec.seed)
        model = compile_model(build_model(self.spec, data.num_classes), self.spec,
                              steps_per_epoch=math.ceil(len(fit_xy[0]) / self.spec.batch_size))
        self._store(params=int(model.count_params()))
        progress = _ProgressCallback(self, n_fit=len(fit_xy[0]), validation=val_xy)
        self._update(message="Training.")
        fit_started = time.perf_counter()
        model.fit(*fit_xy, batch_size=self.spec.batch_size, epochs=self.spec.epochs,
                  callbacks=[progress], verbose=0)
        train_seconds = time.perf_counter() - fit_started
        images_seen = progress.images_seen
        rate = train_flops_per_image(model) * images_seen / train_seconds if images_seen else None
        self._store(train_seconds=train_seconds, flops_per_second=rate)
        if progress.diverged:
            self._finish("diverged", progress.diverged, started=started)
            return
        stopped = self._stop_requested.is_set()
        if not stopped:
            self._update(message="Evaluating on the test set.")
            test_loss, test_accuracy = model.evaluate(
                x_test, y_test, batch_size=EVAL_BATCH_SIZE, verbose=0
            )
            self._update(test_loss=float(test_loss), test_accuracy=float(test_accuracy))
            self._store(test_loss=float(test_loss), test_accuracy=float(test_accuracy))
        try:
            path = self.store.save_model(self.run_id, model)
            self._update(model_path=str(path))
        except OSError as err:
            reason = getattr(err, "strerror", None) or str(err)
            self._finish("failed", f"Training finished but the model could not be saved "
                         f"({reason}); free some disk space or check STUDIO_HOME.",
                         started=started)
            return
        if stopped:
            # Keras ends the interrupted epoch with on_epoch_end, so count the epoch reached
            self._finish("stopped", f"Stopped by you in epoch {self._state['epoch']} of "
                         f"{self.spec.epochs}.", started=started)
        else:
            reason = progress.target_reached or f"Finished {progress.epochs_done} epoch(s)."
            self._finish("completed", reason, started=started)

    def _finish(self, status: str, message: str, started: float | None = None) -> None:
        total = time.perf_counter() - started if started is not None else None
        fields: dict[str, Any] = {"status": status, "stop_reason": message}
        if status in ("failed", "diverged", "cancelled"):
            fields["error"] = message
        if total is not None:
            fields["total_seconds"] = total
        self._store(**fields)
        with self._lock:
            self._state.update(status=status, message=message, eta=0.0)
            if total is not None:
                self._state["elapsed"] = total


class _ProgressCallback:
    """Keras callback writing the job's snapshot; built lazily so keras loads in the worker."""

    def __new__(cls, job: TrainingJob, n_fit: int,
                validation: tuple[np.ndarray, np.ndarray] | None):
        import keras

        class Progress(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.job = job
                self.n_fit = n_fit
                self.steps = max(1, math.ceil(self.n_fit / job.spec.batch_size))
                self.diverged: str | None = None
                self.target_reached: str | None = None
                self.epochs_done = 0
                self.images_seen = 0
                self.recent = collections.deque(maxlen=50)  # (time, images seen) per call

            def on_train_begin(self, logs=None):
                self.t0 = time.perf_counter()
                self.last_point = 0.0
                job._update(batches_per_epoch=self.steps)

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch_t0 = time.perf_counter()
                job._update(epoch=epoch + 1, batch=0)

            def on_train_batch_end(self, batch, logs=None):
                # `batch` is the last step of this call: with steps_per_execution > 1 one
                # call trains several batches, and Keras numbers the epoch's last call as if
                # it were full
                batch = min(batch, self.steps - 1)
                now = time.perf_counter()
                self.images_seen = (self.epochs_done * self.n_fit
                                    + min(self.n_fit, (batch + 1) * job.spec.batch_size))
                self.recent.append((now, self.images_seen))
                with job._lock:
                    job._state["steps_done"] = (job._state["epoch"] - 1) * self.steps + batch + 1
                    if job.stop_requested and job._state["stop_seen_at_step"] is None:
                        job._state["stop_seen_at_step"] = job._state["steps_done"]
                if job.stop_requested:
                    self.model.stop_training = True
                loss = float(logs.get("loss", float("nan"))) if logs else float("nan")
                if not math.isfinite(loss):
                    epoch = job.snapshot()["epoch"]
                    self.diverged = (
                        f"The loss became {loss} at epoch {epoch}, batch {batch + 1}: the "
                        f"learning rate ({job.spec.learning_rate:g}) is probably too high; "
                        "try 0.001."
                    )
                    self.model.stop_training = True
                    return
                last = batch + 1 == self.steps
                if now - self.last_point < 1.0 / BATCH_UPDATES_PER_SECOND and not last:
                    return
                self.last_point = now
                accuracy = float(logs.get("accuracy", float("nan")))
                self._publish(batch, loss, accuracy, now)

            def _publish(self, batch, loss, accuracy, now):
                done_batches = (job._state["epoch"] - 1) * self.steps + batch + 1
                total_batches = job.spec.epochs * self.steps
                elapsed = now - self.t0
                rate = None
                if len(self.recent) > 1:
                    (t0, seen0), (t1, seen1) = self.recent[0], self.recent[-1]
                    if t1 > t0:
                        rate = (seen1 - seen0) / (t1 - t0)
                eta = elapsed / done_batches * (total_batches - done_batches)
                with job._lock:
                    state = job._state
                    state["batch"] = batch + 1
                    state["batch_points"].append(
                        (state["epoch"] - 1 + (batch + 1) / self.steps, loss, accuracy)
                    )
                    state.update(elapsed=elapsed, eta=eta, images_per_second=rate)

            def on_epoch_end(self, epoch, logs=None):
                if self.diverged:
                    return
                if validation is not None and not job.stop_requested:
                    # Validation runs here rather than through fit(validation_split=…) so a
                    # Stop skips it: the worker ends right after the current batch.
                    job._update(message="Measuring validation accuracy.")
                    scores = self.model.evaluate(*validation, batch_size=EVAL_BATCH_SIZE,
                                                 verbose=0, return_dict=True)
                    job._update(message="Training.")
                    if logs is not None:
                        logs.update({f"val_{k}": v for k, v in scores.items()})
                logs = {k: float(v) for k, v in (logs or {}).items()}
                seconds = time.perf_counter() - self.epoch_t0
                self.epochs_done = epoch + 1
                row = {"epoch": epoch + 1, "seconds": seconds, **logs}
                with job._lock:
                    job._state["history"].append(row)
                try:
                    job.store.add_epoch(job.run_id, epoch + 1, logs, seconds)
                except Exception as err:  # noqa: BLE001 - keep training; say so on the page
                    job._update(store_error=f"The run store could not be written ({err}).")
                target = job.spec.target_accuracy
                measured = logs.get("val_accuracy", logs.get("accuracy"))
                if target is not None and measured is not None and measured >= target:
                    which = "validation" if "val_accuracy" in logs else "training"
                    self.target_reached = (
                        f"Reached the target: {which} accuracy {measured:.1%} ≥ {target:.1%} "
                        f"at epoch {epoch + 1}, so training stopped early."
                    )
                    self.model.stop_training = True

        return Progress()


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float
                     ) -> tuple[tuple[np.ndarray, np.ndarray],
                                tuple[np.ndarray, np.ndarray] | None]:
    """Holds out the last `fraction` of the images, as Keras's `validation_split` does.

    Returns:
        ((x_fit, y_fit), (x_val, y_val)), or ((x, y), None) when nothing is held out.
    """
    n_val = int(len(x) * fraction)
    if n_val == 0:
        return (x, y), None
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def failure_sentence(err: BaseException) -> str:
    """One sentence for a training failure, with advice where the cause is known."""
    text = f"{type(err).__name__}: {err}".splitlines()[0][:300]
    if isinstance(err, MemoryError) or "ResourceExhausted" in text or "out of memory" in \
            text.lower() or "OOM" in text:
        return ("Training ran out of memory; try a smaller batch size, fewer filters or a "
                "smaller dense layer.")
    return f"Training failed ({text.rstrip('.')})."


class JobQueue:
    """Process-wide queue: at most `max_concurrent` jobs train at once, the rest wait FIFO.

    Args:
        store: the run store every job writes to.
        max_concurrent: cap; default `$STUDIO_MAX_CONCURRENT_TRAININGS` or 1.
        max_per_owner: active (queued or running) jobs one owner may have; default
            `$STUDIO_MAX_JOBS_PER_OWNER` or 1.
        limit_train: default training-set limit for every job (`$STUDIO_TRAIN_LIMIT`).
        limit_test: default test-set limit (`$STUDIO_TEST_LIMIT`).
        dataset_loader: loads a dataset by name (lets tests inject small data).
        worker_processes: train in worker processes (`fmnist_core.worker`) rather than in
            threads of this process; default True unless `$STUDIO_TRAINING_WORKER` is
            "thread".
        worker_idle_seconds: how long an idle worker process is kept for the next job.
    """

    def __init__(self, store: RunStore, max_concurrent: int | None = None,
                 max_per_owner: int | None = None, limit_train: int | None = None,
                 limit_test: int | None = None,
                 dataset_loader: Callable[[str], Dataset] | None = None,
                 worker_processes: bool | None = None,
                 worker_idle_seconds: float = WORKER_IDLE_SECONDS):
        self.store = store
        self.max_concurrent = max_concurrent or env_int("STUDIO_MAX_CONCURRENT_TRAININGS", 1)
        self.max_per_owner = max_per_owner or env_int("STUDIO_MAX_JOBS_PER_OWNER", 1)
        self.limit_train = limit_train or env_int("STUDIO_TRAIN_LIMIT", None)
        self.limit_test = limit_test or env_int("STUDIO_TEST_LIMIT", None)
        self._loader = dataset_loader
        if worker_processes is None:
            worker_processes = os.environ.get("STUDIO_TRAINING_WORKER", "process") != "thread"
        self.worker_processes = worker_processes
        self.worker_idle_seconds = worker_idle_seconds
        self._idle_workers: list[WorkerProcess] = []
        self._lock = threading.RLock()
        self._waiting: collections.deque[TrainingJob] = collections.deque()
        self._running: list[TrainingJob] = []
        self._jobs: dict[str, TrainingJob] = {}
        self._reserved: list[str] = []  # owners whose job is being created right now
        self.peak_running = 0

    def submit(self, spec: ModelSpec, owner: str) -> TrainingJob:
        """Queues a job and starts it when a slot is free.

        Raises:
            OwnerLimitError: the owner already has `max_per_owner` active jobs.
        """
        with self._lock:
            active = [j for j in self._jobs.values() if j.owner == owner and not j.done]
            if len(active) + self._reserved.count(owner) >= self.max_per_owner:
                raise OwnerLimitError(
                    "You already have a training queued or running; stop it or wait for it "
                    "to finish before starting another."
                )
            self._reserved.append(owner)
        # The run's row is written outside the lock: every page rerun of every session asks
        # the queue for positions, and a slow disk write must not hold them all up.
        try:
            dataset = self._loader(spec.dataset) if self._loader else None
            job = TrainingJob(spec, owner, self.store, dataset=dataset,
                              limit_train=self.limit_train, limit_test=self.limit_test,
                              on_done=self._job_done)
        finally:
            with self._lock:
                self._reserved.remove(owner)
        with self._lock:
            self._jobs[job.run_id] = job
            self._waiting.append(job)
            self._pump()
            return job

    def _pump(self) -> None:
        with self._lock:
            while self._waiting and len(self._running) < self.max_concurrent:
                job = self._waiting.popleft()
                self._running.append(job)
                self.peak_running = max(self.peak_running, len(self._running))
                job.start(self._take_worker())
            for position, job in enumerate(self._waiting, start=1):
                job._update(queue_position=position,
                            message=f"Queued: number {position} in line.")

    def _take_worker(self) -> WorkerProcess | None:
        if not self.worker_processes:
            return None
        while self._idle_workers:
            worker = self._idle_workers.pop()
            if worker.alive:
                return worker
        try:
            return WorkerProcess()
        except OSError:
            return None  # no process to be had (a process limit): train in a thread

    def _job_done(self, job: TrainingJob) -> None:
        with self._lock:
            if job in self._running:
                self._running.remove(job)
            worker = job.worker
            if worker is not None:
                # a worker is kept for the next job (Keras already imported), one per slot
                if worker.alive and len(self._idle_workers) < self.max_concurrent:
                    self._idle_workers.append(worker)
                    worker.idle_since = time.monotonic()
                    timer = threading.Timer(self.worker_idle_seconds, self._retire, [worker])
                    timer.daemon = True
                    timer.start()
                else:
                    worker.close()
            self._pump()

    def _retire(self, worker: WorkerProcess) -> None:
        with self._lock:
            # it may have trained another job since, and be idle again for less long
            idle = time.monotonic() - worker.idle_since
            if worker in self._idle_workers and idle >= self.worker_idle_seconds * 0.99:
                self._idle_workers.remove(worker)
                worker.close()

    def close(self) -> None:
        """Ends the idle worker processes (running jobs keep theirs until they end)."""
        with self._lock:
            for worker in self._idle_workers:
                worker.close()
            self._idle_workers.clear()

    def get(self, run_id: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(run_id)

    def position(self, job: TrainingJob) -> int | None:
        """1 for the next job to start, 0 while training, None once ended."""
        with self._lock:
            if job in self._running:
                return 0
            if job in self._waiting:
                return self._waiting.index(job) + 1
            return None

    def stop(self, run_id: str, owner: str) -> None:
        """Stops (or, while queued, cancels) a job of `owner`'s.

        Raises:
            PermissionError: the job belongs to someone else.
            KeyError: no such job in this process.
        """
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                raise KeyError(f"No training {run_id} is active in this server.")
            if job.owner != owner:
                raise PermissionError("Only the person who started this training can stop it.")
            if job in self._waiting:
                self._waiting.remove(job)
                job.cancel()
                self._pump()
            else:
                job.stop()

    def cancel_queued(self, owner: str) -> int:
        """Cancels every queued job of `owner` (their session ended); returns how many."""
        with self._lock:
            mine = [j for j in self._waiting if j.owner == owner]
            for job in mine:
                self._waiting.remove(job)
                job.cancel()
            self._pump()
            return len(mine)

    def jobs(self, owner: str | None = None) -> list[TrainingJob]:
        with self._lock:
            return [j for j in self._jobs.values() if owner is None or j.owner == owner]

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    def waiting_count(self) -> int:
        with self._lock:
            return len(self._waiting)
