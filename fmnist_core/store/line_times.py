"""When each run of the line starts and ends: the arithmetic behind "starts in about 2 min".

Pure functions of the line's rows and each run's estimated cost: the time it holds a slot,
its training (every epoch, from the estimator) and the rest (loading the data and building
the network before it, testing and saving after it). A run training now ends when its
measured time left says (the live snapshot's `eta`, once the pace is steady) and the rest
after it, else when its estimate less the time it has had says; the waiting runs then take
the class's slots in order, the earliest free slot taking the next run, each holding it for
its own cost. A time that cannot be told (no pace measured and no estimate) is None, and so
is every start that waits on it.

    running = [{"id": "a1…", "started": t0, "progress": snapshot, "stop_requested": False}]
    queued = [{"id": "b2…", "spec": spec}, …]           # first to start first
    places = line(running, queued, cost_of, slots=1, now=time.time())
    start_words(places[1])                              # "starts in about 2 min"
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import statistics
from typing import Any, Callable

from fmnist_core.nets.estimate import Estimate
from fmnist_core.words import plural

# A predicted start closer than this is "any moment now": a run is claimed within the
# queue's tick (a second) of a slot freeing, so a smaller figure would be noise.
ANY_MOMENT_SECONDS = 1.0
# Below this a wait is "under a minute"; the fragment polls every 3 s, so a countdown of
# seconds would only flicker.
MINUTE = 60.0
# Up to 5 minutes a wait is said to the nearest 10 s ("about 1 min 40 s"), up to an hour to
# the nearest minute, beyond to the nearest 5 minutes: about a tenth of the wait at most.
FINE_UNTIL, FINE_STEP = 300.0, 10.0
HOUR, COARSE_STEP = 3600.0, 300.0

# The live snapshot's fields that say how far a training is (the teacher's Line shows them).
PROGRESS_FIELDS = ("epoch", "epochs", "batch", "batches_per_epoch")


@dataclasses.dataclass(frozen=True)
class Cost:
    """How long a run holds a training slot, estimated before it starts.

    Attributes:
        training: every epoch with its validation pass, and the first epoch's preparation.
        other: the rest of its time in the slot: loading the data and building the network
            before the training, testing and saving after it.
    """

    training: float
    other: float

    @property
    def total(self) -> float:
        return self.training + self.other


def cost(estimate: Estimate, epochs: int, other: float | None = None) -> Cost:
    """A run's `Cost` from its spec's estimate (`fmnist_core.nets.estimate.for_spec`) and
    its epochs.

    Args:
        other: the rest of a run's time in the slot as this server's past runs measured it
            (`other_seconds`); None: the estimate's test evaluation, the part it knows.
    """
    training = epochs * estimate.epoch_seconds + estimate.prepare_seconds
    if other is None:
        other = max(0.0, estimate.total_seconds - training)
    return Cost(training=training, other=other)


def other_seconds(finished: list[dict[str, Any]]) -> float | None:
    """The median time finished runs held their slot beyond their training (`finished` less
    `started` less `train_seconds`, the store's columns); None without any."""
    spent = [run["finished"] - run["started"] - run["train_seconds"] for run in finished
             if None not in (run.get("finished"), run.get("started"), run.get("train_seconds"))]
    return max(0.0, statistics.median(spent)) if spent else None


@dataclasses.dataclass(frozen=True)
class Place:
    """One run of the line and when it starts and ends, in seconds from now.

    Attributes:
        run_id: the run.
        place: 0 for a run training now, 1 for the next to start, and so on.
        starts_in: seconds until it starts (0.0 for a run training now); None when it
            cannot be told.
        ends_in: seconds until it ends; None when it cannot be told.
        after: trainings that end before it starts (0 for a run training now).
        progress: of a run training now, how far it is (PROGRESS_FIELDS of its snapshot);
            None for a waiting run.
    """

    run_id: str
    place: int
    starts_in: float | None
    ends_in: float | None
    after: int = 0
    progress: dict[str, Any] | None = dataclasses.field(default=None, compare=False)


def time_left(progress: dict[str, Any] | None, started: float | None, now: float,
              cost_now: Cost | None, stopping: bool = False) -> float | None:
    """Seconds until a run training now ends; None when it cannot be told.

    Args:
        progress: its live snapshot (`RunHandle.snapshot()`, or the store's `progress`):
            `eta` (None until the pace is steady), `estimate` and `estimate_prepare` (the
            epoch's and the preparation's estimated seconds, once the run has built its
            model), `elapsed` (seconds since its training began), `epochs`.
        started: when it was claimed (`time.time()` seconds); None: unknown, as now.
        now: `time.time()` seconds.
        cost_now: its spec's estimated `Cost`, or None.
        stopping: a Stop was asked for: it ends after the current batch, then is tested
            and saved.
    """
    progress = progress or {}
    since_claim = now - started if started is not None else 0.0
    # the rest of its slot still to come: what its own time before training left over
    before = max(0.0, since_claim - (progress.get("elapsed") or 0.0))
    after = max(0.0, cost_now.other - before) if cost_now is not None else 0.0
    if stopping:
        return after
    if progress.get("eta") is not None:
        return max(0.0, progress["eta"]) + after
    if progress.get("estimate") is not None:
        training = (progress.get("epochs") or 1) * progress["estimate"] + (
            progress.get("estimate_prepare") or 0.0)
        return max(0.0, training - (progress.get("elapsed") or 0.0)) + after
    if cost_now is None:
        return None
    return max(0.0, cost_now.total - since_claim)


def schedule(left: list[float | None], totals: list[float | None],
             slots: int) -> list[tuple[float | None, float | None, int]]:
    """The waiting runs onto the class's slots, in order: the earliest free slot takes the
    next run.

    Args:
        left: seconds left of each run training now (None: cannot be told).
        totals: estimated seconds of each waiting run, first to start first (None: no
            estimate).
        slots: trainings at once (the class's cap); more runs may train than that after
            the cap was lowered.

    Returns:
        (starts in, ends in, trainings that end before it starts) of each waiting run; a
        time that waits on one that cannot be told is None.

    Raises:
        ValueError: `slots` is not a positive number.
    """
    if slots < 1:
        raise ValueError(f"Argument `slots` must be at least 1, received {slots!r}.")
    ends = [math.inf if s is None else max(0.0, s) for s in left]
    heapq.heapify(ends)
    clock, ended, out = 0.0, 0, []
    for total in totals:
        while len(ends) >= slots:  # FIFO: no run starts before the one ahead of it
            clock = max(clock, heapq.heappop(ends))
            ended += 1
        end = clock + total if total is not None else math.inf
        heapq.heappush(ends, end)
        out.append((_told(clock), _told(end), ended))
    return out


def line(running: list[dict[str, Any]], queued: list[dict[str, Any]],
         cost_of: Callable[[dict[str, Any]], Cost | None], slots: int,
         now: float) -> list[Place]:
    """Every run of the line with when it starts and ends: the runs training now (oldest
    first), then the waiting ones in order.

    Args:
        running: rows of the runs training now: "id", "started", "stop_requested" and
            "progress" (the live snapshot, or None before the first).
        queued: rows of the waiting runs, first to start first.
        cost_of: a row's estimated `Cost`, or None when it cannot be estimated.
        slots: trainings at once.
        now: `time.time()` seconds.

    Rows of any other status (a run cancelled or ended meanwhile) leave the line.
    """
    running = sorted((r for r in running if r.get("status", "running") == "running"),
                     key=lambda r: r.get("started") or 0.0)
    queued = [r for r in queued if r.get("status", "queued") == "queued"]
    places = []
    for row in running:
        left = time_left(row.get("progress"), row.get("started"), now, cost_of(row),
                         stopping=bool(row.get("stop_requested")))
        progress = {key: (row.get("progress") or {}).get(key) for key in PROGRESS_FIELDS}
        places.append(Place(row["id"], 0, 0.0, left, progress=progress))
    totals = [None if (c := cost_of(row)) is None else c.total for row in queued]
    timed = schedule([p.ends_in for p in places], totals, slots)
    places += [Place(row["id"], i, start, end, after)
               for i, (row, (start, end, after)) in enumerate(zip(queued, timed), start=1)]
    return places


def start_words(place: Place) -> str:
    """When a waiting run starts, true in every state: "starts in about 2 min", "starts in
    under a minute", "starts any moment now" (its predicted start has passed), "starts as
    soon as a training ends" or "starts once 3 trainings have ended" (no time can be told)."""
    if place.starts_in is None:
        if place.after <= 1:
            return "starts as soon as a training ends"
        return f"starts once {plural(place.after, 'training')} have ended"
    if place.starts_in < ANY_MOMENT_SECONDS:
        return "starts any moment now"
    if place.starts_in < MINUTE:
        return "starts in under a minute"
    return f"starts in about {about(place.starts_in)}"


def left_words(place: Place) -> str:
    """How long a run training now has left: "about 3 min left", "under a minute left",
    "ending now", "time left not known yet"."""
    if place.ends_in is None:
        return "time left not known yet"
    if place.ends_in < ANY_MOMENT_SECONDS:
        return "ending now"
    if place.ends_in < MINUTE:
        return "under a minute left"
    return f"about {about(place.ends_in)} left"


def about(seconds: float) -> str:
    """A wait of a minute or more, rounded as it is said: "1 min 40 s", "2 min", "12 min",
    "1 h 05 min"."""
    if seconds < FINE_UNTIL:
        minutes, secs = divmod(int(round(seconds / FINE_STEP) * FINE_STEP), 60)
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    if seconds < HOUR - MINUTE / 2:
        return f"{int(round(seconds / MINUTE))} min"
    hours, minutes = divmod(int(round(seconds / COARSE_STEP) * COARSE_STEP) // 60, 60)
    return f"{hours} h" + (f" {minutes:02d} min" if minutes else "")


def _told(seconds: float) -> float | None:
    return None if math.isinf(seconds) else seconds
