"""This machine's pace: what multiplies the reference figures of an estimate made here.

The epoch-time estimate (`fmnist_core.nets.estimate`) counts a spec's work in the units of a
reference 2-core CPU. Where a run trains, a few timed steps of a small network
(`fmnist_core.training.calibration`) measure two multipliers of those figures, kept in the run
store per host and device (`fmnist_core.store.paces`): `compute` for the per-image work
(convolutions, dense layers, feature maps; what seed-cnn and best spend their time on) and
`overhead` for the per-batch and per-call costs (what quick and the dense baseline spend
theirs on). Both are what the machine does alone: a calibration under load is scaled back
by the share of the CPU it had.

Two things then make an estimate of now: the load (the share of the CPU that work ahead of
a training takes, `fmnist_core.nets.load`, kept fresh in the store by the idle worker) with
the trainings running beside it, and the runs that finished on this host and device: the
median of their measured epochs over the estimate each was given, of the last RECENT_RUNS,
corrects what the calibration misses (the more of them, the more: PRIOR_RUNS). Nothing
measured: the reference figures, corrected by the finished runs alone.

    pace = for_machine(store, device=None, policy="mixed_bfloat16")
    pace.compute_factor(), pace.overhead_factor(), pace.basis()
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
import time
from typing import Any

from fmnist_core.nets import load as cpu_load
from fmnist_core.nets import precision
from fmnist_core.words import plural

_LOGGER = logging.getLogger(__name__)

# The finished runs that correct a measured pace: the last few, so a change of the machine
# shows within a lesson, and their median, so one run trained in a slow spell does not.
RECENT_RUNS = 5
# A measured pace leaves the runs a correction within these bounds; without one, the runs
# alone scale the reference figures, within the wider ones.
RUNS_BOUNDS = (0.5, 2.0)
UNPACED_BOUNDS = (0.1, 10.0)
# A measured pace stands until runs say otherwise: the median of n runs corrects it by
# median ** (n / (n + PRIOR_RUNS)), so one run moves an estimate halfway (in proportion)
# and five five sixths. One run's ratio says as much about its own network as about the
# machine: against one calibration the presets' ratios spread over ±15 % (seed-cnn 1.07 to
# 1.24, best 0.91 to 0.93 on 7 Dec.), and a class's seed-cnn run put best at +36 %. The
# reference figures alone, 1.5 to 2.5 times off on another machine, get the runs' full
# median.
PRIOR_RUNS = 1
# A finished run's epoch counts only when long enough that what the estimate leaves out of
# an epoch (its start, the callbacks' work at its end: tens of milliseconds) weighs little;
# a run's lone first epoch, less the tracing of its training step, still holds the tracing
# of the prediction function for its validation (0.2–0.7 s on 2 cores), so it needs more.
MIN_EPOCH_SECONDS = 1.0
MIN_LONE_EPOCH_SECONDS = 4.0
# A load older than this (no worker has been watching it) is not taken as today's.
LOAD_FRESH_SECONDS = 300.0
# The device name of the store's row that holds the host's load (whatever the device).
HOST_WIDE = "host"


@dataclasses.dataclass(frozen=True)
class Pace:
    """What the reference figures are multiplied by, and what that rests on.

    Attributes:
        compute: the machine alone against the reference, for the per-image work.
        overhead: the same for the per-batch and per-call costs.
        measured: `time.time()` of the calibration; None: nothing measured (the reference).
        load: the share of the host's CPU taken ahead of a training (0..1).
        beside: trainings running at the same time on the host.
        runs: the finished runs' median correction.
        used: how many runs it is the median of.
        on_gpu: the device is a GPU (its arithmetic does not wait for the host's CPU).
    """

    compute: float = 1.0
    overhead: float = 1.0
    measured: float | None = None
    load: float = 0.0
    beside: int = 0
    runs: float = 1.0
    used: int = 0
    on_gpu: bool = False

    def share(self) -> float:
        """The share of the CPU a training gets now (`fmnist_core.nets.load.share`)."""
        return cpu_load.share(self.load, self.beside)

    def compute_factor(self) -> float:
        """The multiplier of the reference's per-image seconds."""
        slower = 1.0 if self.on_gpu else 1.0 / self.share()
        return self.compute * slower * self.runs

    def overhead_factor(self) -> float:
        """The multiplier of the reference's per-batch and per-call seconds (and of the
        tracing before the first batch: Python on the host's CPU), which the load slows
        less than the arithmetic (`fmnist_core.nets.load.overhead_share`)."""
        return self.overhead / cpu_load.overhead_share(self.load, self.beside) * self.runs

    def basis(self, now: float | None = None) -> str:
        """What the figures rest on, as a phrase after "at": for the Train page."""
        if self.measured is None:
            text = "the pace of a 2-core reference CPU, until this machine's own is measured"
        else:
            ago = max(0.0, (now or time.time()) - self.measured)
            text = f"this machine's pace, measured {_ago(ago)}"
        if self.load >= 0.05:
            text += f", with other work taking {self.load:.0%} of its CPU"
        if self.beside:
            text += f", beside {plural(self.beside, 'other training')}"
        if self.used:
            text += f", corrected by its last {plural(self.used, 'run')}"
        return text


def _ago(seconds: float) -> str:
    if seconds < 90:
        return "just now" if seconds < 10 else f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 5400 else f"{seconds / 3600:.0f} h ago"


def for_machine(store: Any, device: str | None, policy: str, *, beside: int | None = None,
                run_id: str | None = None) -> Pace:
    """The pace of this host for a run on `device` (its device line, as a run stores it;
    None: the latest measured for `policy`), from `store`'s rows.

    Args:
        beside: trainings that will run at the same time on this host. None: for a run
            training now (`run_id`), those running beside it; for a spec not yet training,
            none (it is estimated as it trains once it has its slot; a caller that knows
            it will train beside others says how many).
        run_id: the run estimated, once it is training.
    """
    rows = store.paces()
    found = _device_rows(rows, device, policy)
    load, gpu = _fresh_load(rows), (device or "").startswith("GPU")
    if beside is None:
        beside = store.trainings_running(besides=run_id) if run_id is not None else 0
    samples = store.timing_samples(limit=2 * RECENT_RUNS)
    if not found:
        runs, used = runs_factor(samples, device, policy, paced=False)
        return Pace(load=load, beside=beside, runs=runs, used=used, on_gpu=gpu)
    runs, used = runs_factor(samples, device, policy, paced=True)
    return Pace(compute=found["compute"], overhead=found["overhead"], measured=found["at"],
                load=load, beside=beside, runs=runs, used=used,
                on_gpu=gpu or found["device"].startswith("GPU"))


def _device_rows(rows: list[dict[str, Any]], device: str | None,
                 policy: str) -> dict[str, Any] | None:
    """The compute and overhead of `device` (or the latest device of `policy`), or None."""
    by_device: dict[str, dict[str, Any]] = {}
    for row in rows:  # latest first
        if row["device"] == HOST_WIDE or row["kind"] not in ("compute", "overhead"):
            continue
        if device is None and precision.policy_of(row["device"]) != policy:
            continue
        if device is not None and row["device"] != device:
            continue
        entry = by_device.setdefault(row["device"], {"device": row["device"],
                                                     "at": row["measured"]})
        entry[row["kind"]] = row["value"]
    complete = [e for e in by_device.values() if "compute" in e and "overhead" in e]
    return complete[0] if complete else None


def _fresh_load(rows: list[dict[str, Any]]) -> float:
    for row in rows:
        if row["device"] == HOST_WIDE and row["kind"] == "load":
            if time.time() - row["measured"] <= LOAD_FRESH_SECONDS:
                return min(1.0, max(0.0, row["value"]))
    return 0.0


def runs_factor(samples: list[dict[str, Any]], device: str | None, policy: str | None,
                paced: bool) -> tuple[float, int]:
    """The median of measured / estimated epoch seconds over the last RECENT_RUNS of
    `samples` (`RunStore.timing_samples`) on `device` (or, without one, of `policy`) whose
    estimate was `paced` or not, and whose epochs were long enough to tell (MIN_EPOCH_SECONDS,
    MIN_LONE_EPOCH_SECONDS), with how many; over a measured pace, drawn toward 1 by
    PRIOR_RUNS; (1.0, 0) without any.

    A stored estimate already carries the correction of its day (`estimate_factor`): it is
    undone, so each ratio is against the pace (or the reference) alone.
    """
    ratios = []
    for s in samples:
        if not (s.get("estimate_seconds") and s.get("epoch_seconds")):
            continue
        shortest = MIN_LONE_EPOCH_SECONDS if s.get("epochs") == 1 else MIN_EPOCH_SECONDS
        if s["epoch_seconds"] < shortest:
            continue
        if bool(s.get("paced")) != paced or not _same_device(s.get("device"), device, policy):
            continue
        ratios.append(s["epoch_seconds"] * (s.get("estimate_factor") or 1.0)
                      / s["estimate_seconds"])
        if len(ratios) == RECENT_RUNS:
            break
    if not ratios:
        return 1.0, 0
    low, high = RUNS_BOUNDS if paced else UNPACED_BOUNDS
    median = statistics.median(ratios)
    if not math.isfinite(median):
        return 1.0, len(ratios)
    if paced:
        median **= len(ratios) / (len(ratios) + PRIOR_RUNS)
    return min(high, max(low, median)), len(ratios)


def _same_device(found: str | None, device: str | None, policy: str | None) -> bool:
    if device is not None:
        return found == device
    return policy is None or precision.policy_of(found or "") == policy
