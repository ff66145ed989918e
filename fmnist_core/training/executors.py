"""Executors: where a claimed job trains. The queue knows them only through `start(job)`.

- `ThreadExecutor`: a thread of this process (tests, notebooks, the CLI's way).
- `ProcessExecutor`: a reused worker process per training slot (the server's default; see
  `fmnist_core.training.worker`), its progress relayed into the job the pages read.
- `fmnist_core.training.ray_executor.RayExecutor`: an actor on a Ray cluster (`STUDIO_RAY_ADDRESS`).

Each runs the same fit loop (`fmnist_core.training.fitloop.train`); when a job ends the executor
calls `job.end()`, which tells the queue. `fmnist_core.training.executor_choice` picks one for
a server or the CLI.

When no worker process can be started (a process or memory limit of the machine), a job
trains in a thread of the server instead, so the class goes on; the server's log says why,
and so does `where()`, which the sidebar shows ("Trainings run on …").
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fmnist_core.training.job import TrainingJob, failure_sentence
from fmnist_core.training.worker import WorkerProcess

_LOGGER = logging.getLogger(__name__)

# An idle worker process keeps Keras and the data loaded (0.5–1 GB) for the next job; after
# this long without one it is ended, and the next job starts a new one.
WORKER_IDLE_SECONDS = 600.0
# A timer may fire a little before its time: a worker idle for this share of the idle time
# counts as idle for all of it.
IDLE_SLACK = 0.99


class ThreadExecutor:
    """Trains each job in a daemon thread of this process."""

    name = "thread"

    def start(self, job: TrainingJob) -> None:
        job.start()

    def adopt(self, job: TrainingJob, run: dict[str, Any]) -> bool:
        return False  # a thread of a gone process cannot be found again

    def where(self) -> str:
        return "this machine"

    def close(self) -> None:
        pass


class ProcessExecutor:
    """Trains each job in a worker process; one is kept per slot for the next job.

    Args:
        slots: worker processes kept idle at most (the queue's local capacity).
        idle_seconds: how long an idle worker is kept.
    """

    name = "process"

    def __init__(self, slots: int = 1, idle_seconds: float = WORKER_IDLE_SECONDS):
        self.slots = slots
        self.idle_seconds = idle_seconds
        self._idle: list[WorkerProcess] = []
        self._busy = 0  # workers training a job now
        self._lock = threading.Lock()
        # why the last worker process could not be started; None once one could
        self._no_worker: str | None = None

    def resize(self, slots: int) -> None:
        """Follows the class's cap (the teacher may change it): `slots` workers are kept
        for the next jobs from now on, and idle ones beyond them end now."""
        with self._lock:
            self.slots = slots
            extra = self._idle[slots:]
            del self._idle[slots:]
        for worker in extra:
            worker.close()

    def prepare(self, store: Any = None) -> bool:
        """Starts a worker ahead of the next job, unless one is idle already or every slot
        is training: Keras imports in it (about 5 s on 2 cores), and it measures the
        machine's pace into `store` (the jobs' RunStore), while a student fills in the Train
        page, so Start trains at once. Kept, and ended when idle, like any idle worker.
        Returns whether a worker was started."""
        with self._lock:
            if self._idle or self._busy >= self.slots:
                return False
            worker = self._new_worker(store)
            if worker is None:
                return False
            self._keep(worker)
            return True

    def start(self, job: TrainingJob) -> None:
        worker = self._take()
        if worker is None:
            job.start()  # no process to be had: the class goes on, `where()` says so
            return
        with self._lock:
            self._busy += 1
        job.worker = worker
        job.mark_started()
        threading.Thread(target=self._run, args=(job, worker), name=f"relay-{job.run_id}",
                         daemon=True).start()

    def where(self) -> str:
        """Where trainings run, for the sidebar: said plainly when no worker process could
        be started and jobs train in the server's own process (its pages then answer
        slower while a job trains)."""
        reason = self._no_worker
        if reason is None:
            return "this machine"
        return ("this machine, in the server's own process (no worker process could be "
                f"started: {reason})")

    def _run(self, job: TrainingJob, worker: WorkerProcess) -> None:
        try:
            worker.run(job)
        except Exception as err:  # noqa: BLE001 - e.g. a job that cannot be sent over
            _LOGGER.exception("Run %s could not be trained in its worker process; it fails.",
                              job.run_id)
            job.finish("failed", failure_sentence(err))
        finally:
            self._release(worker)
            job.end()

    def _new_worker(self, store: Any = None) -> WorkerProcess | None:
        """A new worker process (measuring the pace into `store` ahead of its first job), or
        None when the machine refuses one (a process or memory limit): the job then trains
        in a thread of this process."""
        try:
            worker = WorkerProcess(store)
        except OSError as err:
            reason = err.strerror or str(err) or type(err).__name__
            # said once when it starts happening, not at every job or page that asks again
            log = _LOGGER.warning if self._no_worker is None else _LOGGER.debug
            log("No worker process could be started (%s); trainings run in the server's own "
                "process until one can be.", reason, exc_info=True)
            self._no_worker = reason
            return None
        if self._no_worker is not None:
            _LOGGER.info("A worker process could be started again; trainings run in worker "
                         "processes.")
            self._no_worker = None
        return worker

    def _take(self) -> WorkerProcess | None:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
        return self._new_worker()

    def _release(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._busy -= 1
            if worker.alive and len(self._idle) < self.slots:
                self._keep(worker)  # for the next job (Keras already imported)
                return
        worker.close()

    def _keep(self, worker: WorkerProcess) -> None:
        """Adds `worker` to the idle ones, to be ended after `idle_seconds` unused (the
        caller holds the lock)."""
        self._idle.append(worker)
        worker.idle_since = time.monotonic()
        timer = threading.Timer(self.idle_seconds, self._retire, [worker])
        timer.daemon = True
        timer.start()

    def _retire(self, worker: WorkerProcess) -> None:
        with self._lock:
            # it may have trained another job since, and be idle again for less long
            idle = time.monotonic() - worker.idle_since
            if worker in self._idle and idle >= self.idle_seconds * IDLE_SLACK:
                self._idle.remove(worker)
                worker.close()

    def adopt(self, job: TrainingJob, run: dict[str, Any]) -> bool:
        return False  # a worker ends with its server: its run is interrupted

    def close(self) -> None:
        """Ends the idle workers (running jobs keep theirs until they end)."""
        with self._lock:
            for worker in self._idle:
                worker.close()
            self._idle.clear()
