"""RunHandle: what a page holds of a run, wherever it trains; and a run's stored snapshot.

A run training on this server has a live `TrainingJob` (its snapshot is read under the
job's lock, batch by batch); any other run (queued, training on another server, ended)
is drawn from its row in the run store, whose progress column its trainer keeps up to date.
The handle hides which: a page calls `snapshot()`, `status`, `done`, `wait()` the same way.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from fmnist_core.store.records import FINAL_STATUSES
from fmnist_core.store.runs import RunStore
from fmnist_core.training.job import TrainingJob, initial_state

# How often `wait` looks at the store for a run that trains elsewhere.
WAIT_POLL_SECONDS = 0.1


class Jobs(Protocol):
    """What a handle needs of its queue (`fmnist_core.training.jobqueue.JobQueue`)."""

    store: RunStore

    def job(self, run_id: str) -> TrainingJob | None:
        """The live job of a run this server trains, else None."""


class RunHandle:
    """What a page holds of a run: its live snapshot when it trains on this server, else
    what the store knows (queued, training on another server, or ended)."""

    def __init__(self, queue: Jobs, run_id: str):
        self.queue = queue
        self.run_id = run_id

    @property
    def job(self) -> TrainingJob | None:
        return self.queue.job(self.run_id)

    @property
    def worker(self):
        job = self.job
        return job.worker if job is not None else None

    def snapshot(self) -> dict[str, Any]:
        job = self.job
        if job is not None:
            return job.snapshot()
        return stored_snapshot(self.queue.store, self.queue.store.get_run(self.run_id))

    @property
    def status(self) -> str:
        job = self.job
        if job is not None:
            return job.status
        return self.queue.store.get_run(self.run_id)["status"]

    @property
    def done(self) -> bool:
        job = self.job
        if job is not None:
            return job.done
        return self.status in FINAL_STATUSES

    @property
    def owner(self) -> str:
        job = self.job
        return job.owner if job is not None else self.queue.store.get_run(self.run_id)["owner"]

    @property
    def stop_requested(self) -> bool:
        job = self.job
        if job is not None:
            return job.stop_requested
        return self.queue.store.get_run(self.run_id)["stop_requested"]

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the run has ended; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if job is not None:
                return job.wait(left)
            if self.done:
                return True
            if left is not None and left <= 0:
                return False
            time.sleep(WAIT_POLL_SECONDS if left is None else min(WAIT_POLL_SECONDS, left))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunHandle) and other.run_id == self.run_id

    def __hash__(self) -> int:
        return hash(self.run_id)


def stored_snapshot(store: RunStore, run: dict[str, Any]) -> dict[str, Any]:
    """A run's snapshot from its row: the last progress its trainer wrote, its status and
    final figures, and for a queued run its place in line."""
    state = initial_state(run["id"], run["spec"])
    if run.get("progress"):
        state.update(run["progress"])
    else:
        state["history"] = [{**row, "position": row["epoch"]} for row in
                            store.epochs(run["id"])]
    status = run["status"]
    state.update(status=status, run_id=run["id"], device=run["device"] or state["device"],
                 test_loss=run["test_loss"], test_accuracy=run["test_accuracy"],
                 model_path=run["model_path"], estimate=run.get("estimate_seconds"))
    if status == "queued":
        position = store.queue_position(run["id"])
        state.update(queue_position=position, message=f"Queued: number {position} in line.",
                     started_at=None)
    elif status in FINAL_STATUSES:
        state.update(message=run["stop_reason"] or run["error"] or status, eta=0.0)
        if run.get("total_seconds"):
            state["elapsed"] = run["total_seconds"]
        if run.get("train_seconds"):
            state["train_seconds"] = run["train_seconds"]
    elif not run.get("progress"):
        state["message"] = "Preparing data and building the model."
    if run.get("stopped_by"):
        state["stopped_by"] = run["stopped_by"]
    return state
