"""A worker's measured pace kept current: when to measure again, and the host's load meanwhile.

A worker process (and the CLI, and a Ray actor, for their one run) measures the machine's
pace (`fmnist_core.training.calibration`) as soon as Keras is imported and it knows the run
store of its jobs, so the Train form's estimate rests on it. It keeps the median of its last
RECENT calibrations (one alone is within this VM's noise). Idle, it measures again every
RECALIBRATE_SECONDS, so the form follows the machine's slow spells, but only once it has
been idle for SETTLE_SECONDS (in a busy lesson the finished runs correct the pace instead,
and no student's run waits behind a measurement), and it gives way at once to a job that
arrives meanwhile. A thread reads the host's load (`fmnist_core.nets.load`) every
LOAD_SECONDS, also while a job trains, and writes the median of the last LOAD_READINGS to
the store, once it has more than half as many: what a training will share the CPU with over
its minutes, not the burst of a class opening its pages and pressing Start or of the pages
following a run that has just ended. A keeper for one run (`one_run`: the CLI's, a Ray
actor's) also writes the load its first calibration saw, as its run starts before then.

    keeper = PaceKeeper()
    keeper.use(store)                      # the store of the worker's jobs
    keeper.calibrate(budget)               # now; `due_in()` says when next
    keeper.job_done()                      # after each job
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import statistics
import threading
import time
from typing import Any, Callable

from fmnist_core.nets import load as cpu_load
from fmnist_core.nets.pace import HOST_WIDE
from fmnist_core.training import calibration
from fmnist_core.training.calibration import Calibration

_LOGGER = logging.getLogger(__name__)

# An idle worker measures the pace again after this long (about a second of a niced
# process's CPU each time).
RECALIBRATE_SECONDS = 120.0
# ... once no job has ended for this long: a gap between two students' runs is not idle.
SETTLE_SECONDS = 30.0
# How often the host's load is read (over the seconds since the last reading) and written.
LOAD_SECONDS = 5.0
# The readings whose median is written: a minute's, so a burst shorter than half a minute
# (30 pages rerunning as a run ends: 40 % of the CPU over 30 s, where the next training then
# saw 11 %) does not count.
LOAD_READINGS = 12
# ... once there are more than half as many: until then a burst can be most of them (a class
# opening Train and pressing Start took 40–50 % of the CPU for about ten seconds, as the
# worker started, where the trainings that followed had 10 %).
MIN_LOAD_READINGS = LOAD_READINGS // 2 + 1
# The calibrations whose median is kept.
RECENT = 3


class PaceKeeper:
    """A process's measured pace, kept in the store of its jobs (see the module)."""

    def __init__(self, recalibrate_seconds: float = RECALIBRATE_SECONDS,
                 load_seconds: float = LOAD_SECONDS, settle_seconds: float = SETTLE_SECONDS,
                 *, one_run: bool = False):
        self.one_run = one_run
        self.recalibrate_seconds = recalibrate_seconds
        self.load_seconds = load_seconds
        self.settle_seconds = settle_seconds
        self.store: Any = None
        self.last: Calibration | None = None
        self._at = -math.inf  # time.monotonic() of the last calibration
        self._job_done_at = -math.inf
        self._tried = False  # a calibration was tried for the store in use
        self._recent: collections.deque[Calibration] = collections.deque(maxlen=RECENT)
        self._meter: threading.Thread | None = None

    @property
    def first_due(self) -> bool:
        """Whether the store in use has not had a calibration tried yet."""
        return self.store is not None and not self._tried

    def use(self, store: Any) -> None:
        """Keeps the pace in `store` from now on (measured anew for a store not used yet)."""
        if store is self.store:
            return
        self.store, self.last, self._tried = store, None, False
        self._recent.clear()
        if self._meter is None:
            self._meter = threading.Thread(target=self._watch_load, name="load-meter",
                                           daemon=True)
            self._meter.start()

    def job_done(self) -> None:
        """Notes that a job has just ended: the next calibration waits to be idle."""
        self._job_done_at = time.monotonic()

    def due_in(self) -> float | None:
        """Seconds until the next calibration is due; None without a store to keep it in."""
        if self.store is None:
            return None
        due = max(self._at + self.recalibrate_seconds, self._job_done_at + self.settle_seconds)
        return max(0.0, due - time.monotonic())

    def calibrate(self, budget: float = calibration.BUDGET_SECONDS,
                  stop: Callable[[], bool] | None = None) -> Calibration | None:
        """Measures the pace (`stop`: see `calibration.measure`) and keeps the median of the
        last RECENT in the store in use; None when the measurement failed (the estimate then
        rests on what was measured before, or the reference figures)."""
        # for one run (the CLI's, a Ray actor's), the first one's load is the only one before
        # the run starts; a worker's meter writes its own once it has watched long enough
        first = self.last is None and self.one_run
        self._at, self._tried = time.monotonic(), True
        try:
            self._recent.append(calibration.measure(budget, stop))
            self.last = dataclasses.replace(
                self._recent[-1], compute=statistics.median(c.compute for c in self._recent),
                overhead=statistics.median(c.overhead for c in self._recent))
            calibration.keep(self.store, self.last, save_load=first)
        except Exception:  # noqa: BLE001 - a failed measurement must not stop the training
            _LOGGER.warning("This machine's pace could not be measured; estimates keep "
                            "what was measured before, or the reference figures.",
                            exc_info=True)
            return None
        return self.last

    def _watch_load(self) -> None:
        meter = cpu_load.LoadMeter(window=self.load_seconds)
        readings: collections.deque[float] = collections.deque(maxlen=LOAD_READINGS)
        failing = False
        while True:
            time.sleep(self.load_seconds)
            value = meter.load()
            if value is None:
                continue
            readings.append(value)
            if self.store is None or len(readings) < MIN_LOAD_READINGS:
                continue
            try:
                self.store.save_pace(HOST_WIDE, "load", statistics.median(readings))
                failing = False
            except Exception:  # noqa: BLE001 - the database away: the next write may work
                (_LOGGER.debug if failing else _LOGGER.warning)(
                    "The host's load could not be written to the run store; estimates keep "
                    "the last one written.", exc_info=True)
                failing = True
