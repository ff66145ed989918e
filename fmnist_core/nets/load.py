"""How much of this machine's CPU a training gets: the load other work puts on it.

Linux counts every core's time in /proc/stat: user, nice (the user time of processes at a
lower priority), system, idle, iowait, irq, softirq and steal (time the hypervisor gave to
other machines). A training in a worker process runs niced
(`fmnist_core.training.worker.WORKER_NICENESS`), so the pages and any program at the normal
priority go first, and so does the hypervisor. The load is the share of the host's CPU that
this work ahead took over a window, the measuring process's own time left out. Other niced
trainings are not in it: they share the CPU with a new training rather than go before it,
and the run store counts them (`RunStore.trainings_running`).

What the estimate assumes (`share`): a training gets what the work ahead leaves, split
evenly with the trainings beside it, and its arithmetic takes as much longer as that share
is smaller; its per-batch costs, less (`overhead_share`). A machine without /proc/stat (not
Linux) reads as unloaded.

    meter = LoadMeter()
    ...                      # seconds later
    meter.load()             # e.g. 0.35: the pages took 35 % of the host's CPU meanwhile
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import time

_LOGGER = logging.getLogger(__name__)

STAT = "/proc/stat"
# /proc/stat's columns after "cpu", in order; "guest" time is already counted in "user"
AHEAD = ("user", "system", "irq", "softirq", "steal")
COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# A training is never counted as getting less than this share of the CPU (a load near 100 %
# over a short window is a burst, and a niced process still gets some time).
MIN_SHARE = 0.1
# A meter's load is over its readings of about this long: a page rerun is a burst of tens of
# milliseconds, a class's pages a load over seconds.
WINDOW_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class CpuReading:
    """The host's CPU time so far, in seconds summed over its cores.

    Attributes:
        ahead: time of work that goes before a niced training (AHEAD's columns).
        niced: time of niced work (trainings in worker processes among it).
        total: all time, idle included.
        own: this process's time among `ahead`'s (its user time only when it is not
            niced: a niced process's user time is "nice").
        own_all: all of this process's time.
        at: `time.monotonic()` of the reading.
    """

    ahead: float
    total: float
    own: float
    at: float
    niced: float = 0.0
    own_all: float = 0.0


def read(stat: str = STAT) -> CpuReading | None:
    """The host's CPU time now; None where /proc/stat cannot be read."""
    try:
        with open(stat, encoding="ascii") as handle:
            first = handle.readline().split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    values = dict(zip(COLUMNS, (int(v) / ticks for v in first[1:])))
    mine = os.times()
    own = mine.system + (mine.user if os.nice(0) == 0 else 0.0)
    return CpuReading(ahead=sum(values.get(name, 0.0) for name in AHEAD),
                      total=sum(values.values()), own=own, at=time.monotonic(),
                      niced=values.get("nice", 0.0), own_all=mine.system + mine.user)


def load_between(before: CpuReading | None, after: CpuReading | None) -> float | None:
    """The share of the host's CPU (0..1) that work ahead of a niced training took between
    two readings, this process's own left out; None without two readings apart in time."""
    if before is None or after is None or after.total <= before.total:
        return None
    others = (after.ahead - before.ahead) - (after.own - before.own)
    return min(1.0, max(0.0, others / (after.total - before.total)))


def busy_between(before: CpuReading | None, after: CpuReading | None) -> float | None:
    """The share of the host's CPU (0..1) that any other work took between two readings,
    niced or not: what a measurement made meanwhile competed with. None as `load_between`."""
    if before is None or after is None or after.total <= before.total:
        return None
    others = ((after.ahead - before.ahead) + (after.niced - before.niced)
              - (after.own_all - before.own_all))
    return min(1.0, max(0.0, others / (after.total - before.total)))


def overhead_share(load: float, beside: int) -> float:
    """The share of its pace alone that a training's per-batch and per-call costs keep with
    `load` and `beside` (see `share`): the square root of the arithmetic's share. Those costs
    are Python and dispatch, a thread at a time, which other work on the other cores delays
    less than arithmetic that fills every core: calibrations under a class's pages, 34 % and
    39 % of the CPU taken, read an overhead 1.19 and 1.31 times their pace alone where the
    share says 1.52 and 1.64 (the square root: 1.23 and 1.28), and the arithmetic's the
    share's own."""
    return math.sqrt(share(load, beside))


def share(load: float, beside: int) -> float:
    """The share of the CPU a training gets with `load` taken ahead of it and `beside`
    other trainings splitting the rest with it (at least MIN_SHARE)."""
    if not 0.0 <= load <= 1.0:
        raise ValueError(f"Argument `load` must be between 0 and 1, received {load!r}.")
    if beside < 0:
        raise ValueError(f"Argument `beside` must be ≥ 0, received {beside!r}.")
    return max(MIN_SHARE, (1.0 - load) / (1 + beside))


class LoadMeter:
    """The load over the last WINDOW_SECONDS, from readings taken whenever `load` is asked.

    Args:
        window: seconds of readings kept.
    """

    def __init__(self, window: float = WINDOW_SECONDS):
        self.window = window
        self._readings: collections.deque[CpuReading] = collections.deque()
        self._add(read())

    def load(self) -> float | None:
        """The load since the oldest reading kept; None on the first call right after the
        meter was made (no time between its readings) or without /proc/stat."""
        now = read()
        self._add(now)
        return load_between(self._readings[0] if self._readings else None, now)

    def _add(self, reading: CpuReading | None) -> None:
        if reading is None:
            return
        self._readings.append(reading)
        while len(self._readings) > 2 and reading.at - self._readings[1].at >= self.window:
            self._readings.popleft()
