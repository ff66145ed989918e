"""JobQueue: a server's view of the class's training queue, and handles the pages read.

The line itself lives in the run store (`RunStore.enqueue` / `claim_next`), so FIFO order,
the cap on trainings at once and the per-student limit hold across every server of a class.
Each server's queue claims the next run when it has a free slot and hands it to its
executor (`fmnist_core.training.executors`, or Ray); it never knows how or where a job trains.

A background tick (every second) writes the server's heartbeat, passes on Stop requests that
reached the store from any server, claims runs freed elsewhere, and marks runs of gone
servers as interrupted.

    queue = JobQueue(RunStore())
    handle = queue.submit(preset("quick"), owner)  # OwnerLimitError, SettingsError
    # a RunHandle (`fmnist_core.training.handle`)
    handle.snapshot()["status"], queue.position(handle)
    queue.stop(handle.run_id, owner)
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any, Callable

from fmnist_core.data.datasets import Dataset, load_dataset
from fmnist_core.nets import precision
from fmnist_core.nets.limits import RunLimits, env_int, run_images
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store import owners
from fmnist_core.store import settings as class_settings
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.queue import CANCELLED
from fmnist_core.store.records import ACTIVE_STATUSES, RunNotFoundError
from fmnist_core.store.runs import RunStore
from fmnist_core.training.executors import WORKER_IDLE_SECONDS, ProcessExecutor, ThreadExecutor
from fmnist_core.training.handle import RunHandle
from fmnist_core.training.job import TrainingJob

__all__ = ["JobQueue"]

_LOGGER = logging.getLogger(__name__)

# The tick's pace: a Stop pressed on another server reaches its run within this.
TICK_SECONDS = 1.0
# Well under SERVER_STALE_SECONDS (`fmnist_core.store.presence`), so a live server never
# looks gone.
HEARTBEAT_SECONDS = 5.0
# How often the runs of gone servers are looked for (a query joining every running run).
RECOVER_SECONDS = 10.0
ORPHAN_GONE = "The server stopped while this run was training, and its trainer is gone."
CANCELLED_BY_TEACHER = "Your teacher cancelled it before it started."
# How long closing waits for the tick to end (it ends at its next wake-up).
CLOSE_WAIT_SECONDS = 5.0
# Finished jobs whose live snapshots (batch points) stay in memory for their pages.
KEEP_FINISHED = 200


class JobQueue:
    """This server's end of the class's queue.

    Args:
        store: the run store every job writes to (and where the line is kept).
        max_concurrent: trainings at once across the class, and this server's slots,
            until the teacher sets another (`settings`); default
            `$STUDIO_MAX_CONCURRENT_TRAININGS` or 1.
        max_per_owner: queued or running jobs one owner may have, until the teacher sets
            another (`settings`); default `$STUDIO_MAX_JOBS_PER_OWNER` or 1.
        max_per_client: queued or running jobs one address may have; default
            `$STUDIO_MAX_JOBS_PER_ADDRESS` or 1 (0: any number, for a class behind one
            address that no proxy header tells apart).
        limit_train: default training-set limit for every job (`$STUDIO_TRAIN_LIMIT`).
        limit_test: default test-set limit (`$STUDIO_TEST_LIMIT`).
        dataset_loader: loads a dataset by name (lets tests inject small data).
        worker_processes: train in worker processes rather than threads; default True
            unless `$STUDIO_TRAINING_WORKER` is "thread". Ignored when `executor` is given.
        worker_idle_seconds: how long an idle worker process is kept.
        executor: where jobs train; default from `worker_processes`.
        tick_seconds: the background tick's period; None for no tick (tests that step).
        limits: what one run may cost (`fmnist_core.nets.limits`); default from the environment.
        classroom: whether the class's defaults apply where the teacher has saved no
            settings (a server with a teacher's passcode); asked at each use, default
            whether `$STUDIO_TEACHER_PASSCODE` is set.
    """

    def __init__(self, store: RunStore, max_concurrent: int | None = None,
                 max_per_owner: int | None = None, limit_train: int | None = None,
                 limit_test: int | None = None,
                 dataset_loader: Callable[[str], Dataset] | None = None,
                 worker_processes: bool | None = None,
                 worker_idle_seconds: float = WORKER_IDLE_SECONDS,
                 executor: Any = None, tick_seconds: float | None = TICK_SECONDS,
                 limits: RunLimits | None = None, max_per_client: int | None = None,
                 classroom: Callable[[], bool] | None = None):
        self.store = store
        self.server_concurrent = max_concurrent or env_int("STUDIO_MAX_CONCURRENT_TRAININGS", 1)
        self.server_per_owner = max_per_owner or env_int("STUDIO_MAX_JOBS_PER_OWNER", 1)
        self.classroom = classroom or (lambda: owners.teacher_passcode() is not None)
        if max_per_client is None:
            raw = os.environ.get("STUDIO_MAX_JOBS_PER_ADDRESS", "").strip()
            max_per_client = int(raw) if raw.isdigit() else 1
        self.max_per_client = max_per_client or None
        self.limit_train = limit_train or env_int("STUDIO_TRAIN_LIMIT", None)
        self.limit_test = limit_test or env_int("STUDIO_TEST_LIMIT", None)
        self.limits = limits or RunLimits.from_env()
        self._loader = dataset_loader
        if executor is None:
            if worker_processes is None:
                worker_processes = os.environ.get("STUDIO_TRAINING_WORKER",
                                                  "process") != "thread"
            executor = (ProcessExecutor(self.server_concurrent, worker_idle_seconds)
                        if worker_processes else ThreadExecutor())
        self.executor = executor
        self.server_id = uuid.uuid4().hex[:12]
        self._lock = threading.RLock()
        self._pump_lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}  # trained here, running or recently ended
        self._running: set[str] = set()
        self._closed = threading.Event()
        self.store.heartbeat(self.server_id, self.executor.name)
        self._adopt_orphans()
        self._ticker = None
        if tick_seconds:
            self._ticker = threading.Thread(target=self._tick, args=(tick_seconds,),
                                            name=f"queue-{self.server_id}", daemon=True)
            self._ticker.start()

    # -- what pages call -----------------------------------------------------------------

    def submit(self, spec: ModelSpec, owner: str, client: str | None = None) -> RunHandle:
        """Queues a run and starts it when a slot is free.

        Args:
            spec: what to train.
            owner: whose run it is.
            client: the address it comes from; None for this machine (not limited).

        Raises:
            SettingsError: beyond what the teacher set for the class.
            SpecTooCostlyError: its estimated time or memory is more than a run may cost.
            OwnerLimitError: the owner already has the class's runs per student active, or
                the address `max_per_client`.
        """
        settings = self.settings()
        self.check_settings(spec, settings)
        self.check_cost(spec)
        run_id = self.store.enqueue(spec, owner, settings.runs_per_student, client=client,
                                    max_per_client=self.max_per_client)
        self.pump()
        return RunHandle(self, run_id)

    def images(self, dataset: str, spec: ModelSpec | None = None) -> tuple[int, int]:
        """(training, test) images a run of `dataset` gets here: the dataset's, cut to the
        spec's own `train_images` (when given) and to this server's limits; the training
        images include the validation split."""
        data = (self._loader or load_dataset)(dataset)
        return run_images(data, spec or ModelSpec(dataset=dataset), self.limit_train,
                          self.limit_test)

    def settings(self) -> class_settings.ClassSettings:
        """The class's settings now: the teacher's, else the defaults of a class or of a
        lone user, with this server's limits (`fmnist_core.store.settings`)."""
        return class_settings.load(self.store.db, classroom=self.classroom(),
                                   runs_per_student=self.server_per_owner,
                                   trainings_at_once=self.server_concurrent)

    @property
    def max_concurrent(self) -> int:
        """Trainings at once across the class now (the teacher's setting)."""
        return self.settings().trainings_at_once

    def check_settings(self, spec: ModelSpec,
                       settings: class_settings.ClassSettings | None = None) -> None:
        """Refuses a spec beyond the class's settings (by default the current ones) with a
        SettingsError, one sentence for the student."""
        (settings or self.settings()).check(spec, self.images(spec.dataset, spec)[0])

    def check_cost(self, spec: ModelSpec) -> None:
        """Refuses a spec that would cost more than one run may (`self.limits`).

        Raises:
            SpecTooCostlyError: one sentence for the student.
        """
        n_train, n_test = self.images(spec.dataset, spec)
        n_val = int(n_train * spec.validation_split)
        self.limits.check(spec, n_train - n_val, n_val, n_test, store=self.store,
                          policy=precision.expected_policy(None))

    def get(self, run_id: str) -> RunHandle | None:
        """A handle on any stored run (trained here or elsewhere), None if there is none."""
        if self.job(run_id) is not None:
            return RunHandle(self, run_id)
        try:
            self.store.get_run(run_id)
        except (RunNotFoundError, ValueError):
            return None
        return RunHandle(self, run_id)

    def job(self, run_id: str) -> TrainingJob | None:
        """The live job of a run this server trains (or trained lately), else None."""
        with self._lock:
            return self._jobs.get(run_id)

    def jobs(self, owner: str | None = None) -> list[RunHandle]:
        """Handles on the queued and running runs (of `owner`, when given)."""
        runs = self.store.list_runs(owner=owner, statuses=ACTIVE_STATUSES)
        return [RunHandle(self, run["id"]) for run in reversed(runs)]

    def position(self, handle: RunHandle | str) -> int | None:
        """1 for the next run to start, 0 while training, None once ended."""
        run_id = handle if isinstance(handle, str) else handle.run_id
        return self.store.queue_position(run_id)

    def stop(self, run_id: str, owner: str | None) -> None:
        """Stops (or, while queued, cancels) a run of `owner`'s; `owner=None` is the
        teacher, who may stop any run.

        A run training on this server stops even while the run store's database is away:
        its owner is known here, and the store hears of the stop once it answers again.

        Raises:
            PermissionError: the run belongs to someone else.
            RunNotFoundError: no such run (a KeyError).
            StoreUnavailableError: a run trained elsewhere, and the database is away.
        """
        job = self.job(run_id)
        trains_here = job is not None and not job.done
        if trains_here:
            run = {"owner": job.owner, "status": "running"}
        else:
            try:
                run = self.store.get_run(run_id)
            except (RunNotFoundError, ValueError):
                raise RunNotFoundError(
                    f"There is no training {run_id}; it may have been deleted.") from None
        if owner is not None and run["owner"] != owner:
            raise PermissionError("Only the person who started this training can stop it.")
        by = "owner" if owner is not None else "teacher"
        cancelled = CANCELLED_BY_TEACHER if by == "teacher" else CANCELLED
        if run["status"] == "queued" and self.store.cancel_queued(run_id, cancelled):
            return
        if job is not None:
            job.update(stopped_by=by)
        try:
            self.store.request_stop(run_id, by)
        except StoreUnavailableError:
            if not trains_here:
                raise
            # the job stops all the same, and writes how it ended once the database is back
        if job is not None:
            job.stop()

    def cancel_queued(self, owner: str) -> int:
        """Cancels every queued run of `owner`; returns how many."""
        runs = self.store.list_runs(owner=owner, statuses=("queued",))
        return sum(self.store.cancel_queued(run["id"]) for run in runs)

    def running_count(self) -> int:
        return self.store.count("running")

    def waiting_count(self) -> int:
        return self.store.count("queued")

    def prepare(self) -> None:
        """Readies this server to train: a worker process started ahead of the next job,
        measuring the machine's pace into the store meanwhile, where jobs train in worker
        processes (`ProcessExecutor.prepare`); else nothing."""
        prepare = getattr(self.executor, "prepare", None)
        if prepare is not None and not self._closed.is_set():
            prepare(self.store)

    def where(self) -> str:
        """Where trainings run, for the sidebar."""
        return self.executor.where()

    def close(self) -> None:
        """Ends the tick and the idle workers (running jobs keep theirs until they end)."""
        self._closed.set()
        if self._ticker is not None:
            self._ticker.join(CLOSE_WAIT_SECONDS)
        self.executor.close()
        with self._lock:
            idle = not self._running
        if idle:
            self.store.remove_server(self.server_id)

    # -- claiming and ending -------------------------------------------------------------

    def pump(self) -> None:
        """Claims queued runs while this server has free slots and the class is under its
        cap, and starts them."""
        with self._pump_lock:
            cap = self.max_concurrent  # the teacher may have changed it since
            if hasattr(self.executor, "resize"):
                self.executor.resize(cap)  # its idle workers follow the class's cap
            while not self._closed.is_set():
                with self._lock:
                    if len(self._running) >= cap:
                        return
                run = self.store.claim_next(self.server_id, cap, self.executor.name)
                if run is None:
                    return
                self._start(run)

    def _start(self, run: dict[str, Any]) -> None:
        spec = run["spec"]
        try:
            dataset = self._loader(spec.dataset) if self._loader else None
        except Exception as err:  # noqa: BLE001 - a missing dataset fails this run only
            _LOGGER.exception("Run %s's dataset could not be loaded; the run fails.", run["id"])
            self.store.finish_run(run["id"], "failed", error=str(err), stop_reason=str(err))
            return
        job = self._new_job(run, dataset)
        with self._lock:
            self._jobs[job.run_id] = job
            self._running.add(job.run_id)
            self._forget_old()
        self.executor.start(job)

    def _new_job(self, run: dict[str, Any], dataset: Dataset | None = None) -> TrainingJob:
        """The job that trains a claimed (or adopted) run under this server's limits."""
        spec = run["spec"]
        return TrainingJob(spec, run["owner"], self.store, dataset=dataset,
                           limit_train=spec.train_limit(self.limit_train),
                           limit_test=self.limit_test,
                           time_limit=self.limits.max_seconds, on_done=self._job_done,
                           run_id=run["id"])

    def _job_done(self, job: TrainingJob) -> None:
        with self._lock:
            self._running.discard(job.run_id)
        try:
            self.pump()
        except StoreUnavailableError:
            pass  # a run that ended while the database is away: the tick claims the next

    def _forget_old(self) -> None:
        ended = [rid for rid, job in self._jobs.items() if job.done]
        for rid in ended[:-KEEP_FINISHED] if len(ended) > KEEP_FINISHED else ():
            self._jobs.pop(rid, None)

    def _adopt_orphans(self) -> None:
        """Runs of gone servers that this executor can find again (Ray actors) become
        this server's; the others are interrupted."""
        if getattr(self.executor, "adopts", False):
            for orphan in self.store.orphaned_runs():
                if orphan["executor"] != self.executor.name:
                    continue
                if not self.store.adopt(orphan["id"], self.server_id):
                    continue
                run = self.store.get_run(orphan["id"])
                job = self._new_job(run)
                if not self.executor.adopt(job, run):
                    self.store.finish_run(run["id"], "interrupted", error=ORPHAN_GONE,
                                          stop_reason=ORPHAN_GONE)
                    continue
                with self._lock:
                    self._jobs[job.run_id] = job
                    if not job.done:  # one that ended already has told `_job_done`
                        self._running.add(job.run_id)
        self.store.recover()

    def _tick(self, every: float) -> None:
        last_beat = last_recover = time.monotonic()
        failing = False
        while not self._closed.wait(every):
            now = time.monotonic()
            try:
                if now - last_beat >= HEARTBEAT_SECONDS:
                    self.store.heartbeat(self.server_id, self.executor.name)
                    last_beat = now
                for run_id in self.store.stop_requests(self.server_id):
                    job = self.job(run_id)
                    if job is not None:
                        job.stop()
                if now - last_recover >= RECOVER_SECONDS:
                    self._adopt_orphans()
                    last_recover = now
                self.pump()
            except Exception:  # noqa: BLE001 - e.g. the database away: the next tick tries again
                # said once when the failures start, not every second while they last
                log = _LOGGER.debug if failing else _LOGGER.warning
                log("The training queue's tick failed; it tries again every %g s.", every,
                    exc_info=True)
                failing = True
                continue
            if failing:
                _LOGGER.info("The training queue's tick works again.")
                failing = False
