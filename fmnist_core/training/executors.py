"""Executors: where a claimed job trains. The queue knows them only through `start(job)`.

- `ThreadExecutor`: a thread of this process (tests, notebooks, the CLI's way).
- `ProcessExecutor`: a reused worker process per training slot (the server's default; see
  `fmnist_core.training.worker`), its progress relayed into the job the pages read.
- `fmnist_core.training.ray_executor.RayExecutor`: an actor on a Ray cluster (`STUDIO_RAY_ADDRESS`).

Each runs the same fit loop (`fmnist_core.training.fitloop.train`); when a job ends the executor
calls `job.end()`, which tells the queue. `fmnist_core.training.executor_choice` picks one for
a server or the CLI.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fmnist_core.training.job import TrainingJob
    from fmnist_core.training.worker import WorkerProcess

# An idle worker process keeps Keras and the data loaded (0.5–1 GB) for the next job; after
# this long without one it is ended, and the next job starts a new one.
WORKER_IDLE_SECONDS = 600.0


class ThreadExecutor:
    """Trains each job in a daemon thread of this process."""

    name = "thread"

    def start(self, job: TrainingJob) -> None:
        job.start()

    def adopt(self, job: TrainingJob, run: dict) -> bool:
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

    def prepare(self) -> bool:
        """Starts a worker ahead of the next job, unless one is idle already or every slot
        is training: Keras imports in it (about 5 s on 2 cores) while a student fills in
        the Train page, so Start trains at once. Kept, and ended when idle, like any idle
        worker. Returns whether a worker was started."""
        from fmnist_core.training.worker import WorkerProcess

        with self._lock:
            if self._idle or self._busy >= self.slots:
                return False
            try:
                worker = WorkerProcess()
            except OSError:
                return False  # a process limit: the job will train in a thread
            self._keep(worker)
            return True

    def start(self, job: TrainingJob) -> None:
        worker = self._take()
        if worker is None:
            job.start()  # no process to be had (a process limit): train in a thread
            return
        with self._lock:
            self._busy += 1
        job.worker = worker
        job.mark_started()
        threading.Thread(target=self._run, args=(job, worker), name=f"relay-{job.run_id}",
                         daemon=True).start()

    def _run(self, job: TrainingJob, worker: WorkerProcess) -> None:
        from fmnist_core.training.job import failure_sentence

        try:
            worker.run(job)
        except Exception as err:  # noqa: BLE001 - e.g. a job that cannot be sent over
            job.finish("failed", failure_sentence(err))
        finally:
            self._release(worker)
            job.end()

    def _take(self) -> WorkerProcess | None:
        from fmnist_core.training.worker import WorkerProcess

        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
        try:
            return WorkerProcess()
        except OSError:
            return None

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
            if worker in self._idle and idle >= self.idle_seconds * 0.99:
                self._idle.remove(worker)
                worker.close()

    def adopt(self, job: TrainingJob, run: dict) -> bool:
        return False  # a worker ends with its server: its run is interrupted

    def where(self) -> str:
        return "this machine"

    def close(self) -> None:
        """Ends the idle workers (running jobs keep theirs until they end)."""
        with self._lock:
            for worker in self._idle:
                worker.close()
            self._idle.clear()
