"""LineClock: the line's times on one server, for the pages that show them.

It reads who trains now (their live snapshots: this server's jobs, or the progress other
servers keep in the store) and who waits, estimates each run's cost from its spec (its
training from `fmnist_core.nets.estimate.for_spec` on the images the queue gives it; the
rest of its time in the slot, loading, building, testing and saving, from what the class's
latest finished runs took beyond their training), and hands them to the line's arithmetic
(`fmnist_core.store.line_times`). Both are kept for ESTIMATE_SECONDS: a class of thirty
waiting students polls every 3 s, and each reads the store's past runs when it is made.

    clock = LineClock(queue)
    clock.place(run_id)      # Place(…, starts_in=130.0, …): "starts in about 2 min 10 s"
    clock.places()           # the runs training now, then the waiting ones in order
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from fmnist_core.nets import estimate, precision
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store import line_times
from fmnist_core.store.line_times import Cost, Place
from fmnist_core.store.records import RunNotFoundError

if TYPE_CHECKING:
    from fmnist_core.training.jobqueue import JobQueue

_LOGGER = logging.getLogger(__name__)

# How long a spec's estimate is kept: long enough that thirty students polling every 3 s
# cost one estimate per spec, short enough that a run finishing (which corrects the
# estimator's pace) shows within half a minute.
ESTIMATE_SECONDS = 30.0
# Specs whose estimates are kept at once: a class of thirty with a few specs each.
KEPT_ESTIMATES = 256
# Finished runs whose time beyond their training is the rest of a run's slot: a class's
# latest, so a change of server load shows within a few runs.
OTHER_RUNS = 20


class LineClock:
    """When each run of the class's line starts and ends, as seen from this server.

    Args:
        queue: the server's JobQueue (its store, its images and its cap on trainings).
        clock: `time.time` (tests pass their own).
    """

    def __init__(self, queue: JobQueue, clock: Callable[[], float] = time.time):
        self.queue = queue
        self._clock = clock
        self._lock = threading.Lock()
        self._costs: dict[tuple[str, str], tuple[float, Cost | None]] = {}
        self._other: tuple[float, float | None] | None = None  # (when read, seconds)

    def places(self, policy: str | None = None) -> list[Place]:
        """The runs training now (oldest first), then the waiting ones in order, each with
        when it starts and ends (`line_times.line`).

        Args:
            policy: the arithmetic trainings here compute in
                (`precision.expected_policy`); default the guess that needs no device.
        """
        policy = policy or precision.expected_policy(None)
        store = self.queue.store
        running = [self._with_progress(run) for run in store.list_runs(statuses=("running",))]
        queued = store.queued_runs()
        return line_times.line([r for r in running if r is not None], queued,
                               lambda row: self.cost(row["spec"], policy),
                               self.queue.max_concurrent, self._clock())

    def place(self, run_id: str, policy: str | None = None) -> Place | None:
        """`run_id`'s place in the line, None once it has left it."""
        return next((p for p in self.places(policy) if p.run_id == run_id), None)

    def cost(self, spec: ModelSpec, policy: str) -> Cost | None:
        """The estimated cost of a run of `spec` here (kept ESTIMATE_SECONDS); None when it
        cannot be estimated (its dataset cannot be loaded, say)."""
        key, now = (spec.to_json(), policy), self._clock()
        with self._lock:
            kept = self._costs.get(key)
        if kept is not None and now - kept[0] < ESTIMATE_SECONDS:
            return kept[1]
        found = self._estimate(spec, policy)
        with self._lock:
            if len(self._costs) >= KEPT_ESTIMATES:
                oldest = min(self._costs, key=lambda k: self._costs[k][0])
                del self._costs[oldest]
            self._costs[key] = (now, found)
        return found

    def other_seconds(self) -> float | None:
        """What the class's latest finished runs held their slot beyond their training
        (`line_times.other_seconds`, kept ESTIMATE_SECONDS); None before any."""
        now = self._clock()
        with self._lock:
            kept = self._other
        if kept is not None and now - kept[0] < ESTIMATE_SECONDS:
            return kept[1]
        finished = self.queue.store.list_runs(statuses=("completed", "stopped"))
        found = line_times.other_seconds(finished[:OTHER_RUNS])
        with self._lock:
            self._other = (now, found)
        return found

    def _estimate(self, spec: ModelSpec, policy: str) -> Cost | None:
        try:
            n_train, n_test = self.queue.images(spec.dataset, spec)
            n_val = int(n_train * spec.validation_split)
            guess = estimate.for_spec(spec, n_train - n_val, n_val, n_test=n_test,
                                      store=self.queue.store, policy=policy)
            other = self.other_seconds()
        except Exception:  # noqa: BLE001 - a run without an estimate is a time not told
            _LOGGER.warning("A queued run's time could not be estimated; the line says it "
                            "starts once the trainings ahead end.", exc_info=True)
            return None
        return line_times.cost(guess, spec.epochs, other)

    def _with_progress(self, run: dict[str, Any]) -> dict[str, Any] | None:
        """A running run's row with its live snapshot: this server's job's, else the one
        its trainer keeps in the store; None once it has gone."""
        job = self.queue.job(run["id"])
        if job is not None:
            return {**run, "progress": job.snapshot(), "stop_requested": job.stop_requested}
        try:
            return self.queue.store.get_run(run["id"])
        except RunNotFoundError:
            return None
