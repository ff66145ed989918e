"""A worker process that trains jobs for the server, relayed into the server's `TrainingJob`.

A Streamlit server runs every session's page in threads of one Python process. Training in
that process too means the pages and `model.fit` share one interpreter lock, and under a
full class a job's Python work waits behind thirty sessions' reruns. A worker process has
its own interpreter, runs at a lower CPU priority than the pages (`WORKER_NICENESS`), and is
reused job after job so Keras is imported once.

The parent keeps the `TrainingJob` the pages read: a relay thread (`ProcessExecutor`) sends
the job to the worker and copies the worker's snapshots into the job's own. The worker runs
the same fit loop in its own `TrainingJob` and writes the run store itself (SQLite in WAL
mode is safe across processes; PostgreSQL is a server). It exits as soon as its parent is
gone.

    worker = WorkerProcess()
    worker.run(job)        # blocks until the job has ended (called from the job's thread)
    worker.close()
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from fmnist_core.training.job import TrainingJob

# Pages answer first: a niceness of 10 gives the worker about a tenth of a busy core's time
# against a page rerun, and all of it when the pages are idle.
WORKER_NICENESS = 10
SNAPSHOT_SECONDS = 0.2
# How often the parent's relay looks for the worker's news, a Stop to send, or its end.
RELAY_POLL_SECONDS = 0.1
# How long an ending worker is given to exit before it is told why (or killed).
EXIT_WAIT_SECONDS = 5.0
PARENT_OWNED = ("run_id", "queue_position", "started_at")


class WorkerProcess:
    """One long-lived `python -m fmnist_core.training.worker` child, training one job at a time.

    Args:
        store: the RunStore of the jobs it will train, when known ahead: the worker measures
            this machine's pace into it as soon as Keras is imported
            (`fmnist_core.training.calibration`), before any job. Without it, the first job
            waits for that measurement (its budget, about a second).
    """

    def __init__(self, store: Any = None) -> None:
        to_parent_r, to_parent_w = os.pipe()
        to_child_r, to_child_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fmnist_core.training.worker", str(to_parent_w),
             str(to_child_r)],
            pass_fds=(to_parent_w, to_child_r), stdin=subprocess.DEVNULL)
        os.close(to_parent_w)
        os.close(to_child_r)
        self._from_child = Connection(to_parent_r, writable=False)
        self._to_child = Connection(to_child_w, readable=False)
        self.jobs_run = 0
        self.idle_since = 0.0  # time.monotonic() when it last finished a job
        if store is not None:
            self._to_child.send({"calibrate": True, "home": str(store.home), "url": store.url})

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, job: TrainingJob) -> None:
        """Trains `job` in the worker; returns once the job has ended (or the worker died,
        in which case the job is marked failed with a sentence)."""
        payload = {"spec": job.spec, "owner": job.owner, "home": str(job.store.home),
                   "url": job.store.url, "run_id": job.run_id, "dataset": job.dataset,
                   "limit_train": job.limit_train, "limit_test": job.limit_test,
                   "time_limit": job.time_limit}
        final = False
        try:
            self._to_child.send(payload)
            stop_sent = False
            while True:
                if job.stop_requested and not stop_sent:
                    self._to_child.send("stop")
                    stop_sent = True
                if not self._from_child.poll(RELAY_POLL_SECONDS):
                    if not self.alive:
                        break
                    continue
                message = self._from_child.recv()
                state = pickle.loads(message["state"])
                job.update(**{k: v for k, v in state.items() if k not in PARENT_OWNED})
                if message["final"]:
                    final = True
                    break
        except (EOFError, OSError):
            pass
        self.jobs_run += 1
        if not final:
            job.finish("failed", self._death_sentence())

    def _death_sentence(self) -> str:
        try:
            code = self.proc.wait(EXIT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.close()
            return "The training process stopped answering, so it was ended; try again."
        if code < 0:
            return (f"The training process was killed (signal {-code}), most likely because "
                    "the machine ran out of memory; try a smaller batch size, fewer filters "
                    "or fewer trainings at once.")
        return f"The training process ended unexpectedly (exit code {code}); try again."

    def close(self) -> None:
        """Ends the worker (it also ends by itself when this process goes away)."""
        for conn in (self._to_child, self._from_child):
            conn.close()
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(EXIT_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _serve(to_parent: Connection, from_parent: Connection) -> None:
    """The worker's loop: one job at a time, until the parent goes away."""
    from fmnist_core.store.runs import RunStore

    send_lock = threading.Lock()
    stores: dict[tuple, RunStore] = {}
    current: dict[str, Any] = {}  # "job": the job training now
    jobs: list[dict] = []
    arrived = threading.Condition()

    def send(blob: bytes, final: bool) -> None:
        try:
            with send_lock:
                to_parent.send({"state": blob, "final": final})
        except OSError:
            os._exit(3)  # the parent is gone: nobody is watching this training

    threading.Thread(target=_listen, args=(from_parent, current, jobs, arrived),
                     name="worker-listen", daemon=True).start()
    # the first job needs Keras and its backend: a worker started ahead of its job (a
    # student has opened Train) imports them, and measures the machine's pace, while the
    # student is still choosing
    from fmnist_core.nets.device import device_info
    from fmnist_core.training.calibration import AHEAD_BUDGET_SECONDS
    from fmnist_core.training.pace_keeper import PaceKeeper

    device_info()
    keeper = PaceKeeper()
    while True:
        with arrived:
            # idle: the pace is measured again now and then, for the form's estimates
            arrived.wait_for(lambda: jobs, timeout=keeper.due_in())
            payload = jobs.pop(0) if jobs else None
        if payload is None:  # nobody waits, and a job that comes ends the timing
            keeper.calibrate(AHEAD_BUDGET_SECONDS, stop=lambda: bool(jobs))
            continue
        where = (payload["home"], payload["url"])
        if where not in stores:  # one store (and database pool) per place, job after job
            stores[where] = RunStore(*where, recover=False)
        keeper.use(stores[where])
        if payload.get("calibrate"):
            keeper.calibrate(AHEAD_BUDGET_SECONDS, stop=lambda: bool(jobs))
            continue
        if keeper.first_due:
            keeper.calibrate()  # a fresh worker's first job waits for it: its budget
        if "keras" in sys.modules:
            # the last job's model and graphs go; this process trains one job at a time
            sys.modules["keras"].backend.clear_session()
        _train_one(payload, stores[where], current, send)
        keeper.job_done()


def _listen(from_parent: Connection, current: dict[str, Any], jobs: list[dict],
            arrived: threading.Condition) -> None:
    """Takes the parent's messages: a job joins `jobs`, "stop" stops the current one."""
    while True:
        try:
            message = from_parent.recv()
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone (or closed this worker)
        if message == "stop":
            job = current.get("job")
            if job is not None:
                job.stop()
        else:
            with arrived:
                jobs.append(message)
                arrived.notify()


def _train_one(payload: dict[str, Any], store: Any, current: dict[str, Any],
               send: Callable[[bytes, bool], None]) -> None:
    """Trains one job of the parent's, sending its snapshot whenever it changes and once
    more, final, at its end."""
    from fmnist_core.training.job import TrainingJob

    job = TrainingJob(payload["spec"], payload["owner"], store,
                      dataset=payload["dataset"], limit_train=payload["limit_train"],
                      limit_test=payload["limit_test"],
                      time_limit=payload.get("time_limit"), run_id=payload["run_id"])
    current["job"] = job
    done = threading.Event()

    def relay() -> None:
        last = b""
        while not done.wait(SNAPSHOT_SECONDS):
            blob = pickle.dumps(job.snapshot())
            if blob != last:
                last = blob
                send(blob, False)

    relayer = threading.Thread(target=relay, name="worker-relay", daemon=True)
    relayer.start()
    job.run_here()
    done.set()
    relayer.join()
    current.pop("job", None)
    send(pickle.dumps(job.snapshot()), True)


def main(argv: list[str]) -> None:
    from fmnist_core import logs

    logs.configure()  # $STUDIO_LOG_LEVEL, inherited from the server, onto its stderr
    to_parent = Connection(int(argv[0]), readable=False)
    from_parent = Connection(int(argv[1]), writable=False)
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass  # not allowed here: train at the same priority
    _serve(to_parent, from_parent)


if __name__ == "__main__":
    main(sys.argv[1:])
