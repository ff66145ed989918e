"""This machine's training pace, measured: a few timed steps of a small network.

The epoch-time estimate counts a spec's work in the units of a reference CPU
(`fmnist_core.nets.estimate`); what one of those units takes here is measured where runs train
(a worker process once Keras is imported, the CLI before its run, a Ray actor on its node)
and kept in the run store (`fmnist_core.store.paces`), where the Train form reads it.

One small network (two 3×3 convolutions of 32 filters and the output layer), traced once,
trains two workloads: batches of COMPUTE_BATCH images, where the per-image work dominates as
in seed-cnn and best, and batches of OVERHEAD_BATCH, where the per-batch costs dominate as in
quick and the dense baseline. Each is timed over short epochs, by turns, until the budget is
spent (ROUNDS at least); the median epoch of each, against the reference seconds of the same
work (`estimate.training_parts`), gives two equations in the two paces (compute, overhead),
which are solved. The share of the CPU the calibration had (`fmnist_core.nets.load`: the load
of the work ahead of it and the trainings beside it) scales them back to the machine alone
(the overhead by `overhead_share`).

    result = calibrate(store)       # Keras loads here
    result.compute, result.overhead  # e.g. 1.3 and 0.8: slower arithmetic, faster Python
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from typing import Any, Callable

import numpy as np

from fmnist_core.nets import estimate, precision
from fmnist_core.nets import load as cpu_load
from fmnist_core.nets.anatomy import describe
from fmnist_core.nets.pace import HOST_WIDE
from fmnist_core.nets.spec import ModelSpec

_LOGGER = logging.getLogger(__name__)

# Small enough to trace in a fraction of a second, with convolutions that dominate its
# per-image work as they do in the presets that convolve.
WORKLOAD = ModelSpec(conv_blocks=2, filters=(32, 32), dense_units=0, epochs=1,
                     validation_split=0.0)
COMPUTE_BATCH, OVERHEAD_BATCH = 128, 4
# Batches per call of the training function, as the engine gives a light model.
STEPS_PER_EXECUTION = 8
# Calls timed in an epoch of each workload, from the end of its first call to the end of its
# last: about 0.05 s each on 2 cores (an epoch of 2,048 images, and one of 256).
TIMED_CALLS = {"compute": 1, "overhead": 7}
IMAGES = {kind: (calls + 1) * STEPS_PER_EXECUTION * batch for kind, calls, batch in
          (("compute", TIMED_CALLS["compute"], COMPUTE_BATCH),
           ("overhead", TIMED_CALLS["overhead"], OVERHEAD_BATCH))}
# Timed epochs of each workload per round, and rounds at least: medians of 4 or more.
EPOCHS_PER_ROUND, ROUNDS = 2, 2
# Seconds the timed rounds may take after the tracing where a job waits for them (a fresh
# worker's first job), and where nobody waits (a worker started ahead, an idle one); a
# round begun is finished, and no more than MAX_ROUNDS are timed.
BUDGET_SECONDS = 0.6
AHEAD_BUDGET_SECONDS = 2.0
MAX_ROUNDS = 8
# A pace outside these bounds (against the reference CPU) is a measurement gone wrong.
PACE_BOUNDS = (0.01, 100.0)
# What the reference figures miss of the workloads themselves: each kind's pace is
# multiplied by its own. The overhead workload's batches of 4 through a convolutional network
# take longer per batch, against the figures, than the presets' do (more operations a step
# than the dense baseline's, whose steps weigh most in the fit): its raw pace read 0.80–0.96
# where the presets' epochs said about 0.5. Fitted by `bench/estimate.py --scenario fresh`
# (each preset against the calibration of its own fresh worker; it prints the values that
# would have fitted best) on the 2-core reference VM, training in bfloat16.
CORRECTION = {"compute": 1.0, "overhead": 0.57}


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What a calibration measured.

    Attributes:
        device: the device line it was measured for (`precision.device_line`).
        compute: the machine alone against the reference, for the per-image work.
        overhead: the same for the per-batch and per-call costs.
        load: the share of the host's CPU taken ahead of a niced training meanwhile (the
            pages, other programs; None: unknown), kept for the estimate.
        busy: the share any other work took meanwhile, niced trainings included: what the
            measurement competed with, and was scaled back by (None: unknown).
        epochs: (compute, overhead) stretches timed.
        seconds: its wall time, tracing included.
    """

    device: str
    compute: float
    overhead: float
    load: float | None
    busy: float | None
    epochs: tuple[int, int]
    seconds: float


def calibrate(store: Any = None, budget: float = BUDGET_SECONDS, *,
              save_load: bool = True) -> Calibration:
    """Measures this machine's pace (`measure`) and, with a `store`, keeps it there for
    this host and device (and the load it saw, unless `save_load` is False: a worker's load
    meter keeps a steadier one).

    Args:
        store: a RunStore (or a Ray actor's recording stand-in); None: only measured.
        budget: seconds the timed rounds may take after the tracing (ROUNDS at least).
    """
    result = measure(budget)
    if store is not None:
        keep(store, result, save_load=save_load)
    return result


def measure(budget: float = BUDGET_SECONDS,
            stop: Callable[[], bool] | None = None) -> Calibration:
    """Times the workloads (Keras loads here) and solves for this machine's paces, scaled
    back to the machine alone by the share of the CPU the other work left them meanwhile.

    Args:
        budget: seconds the timed rounds may take after the tracing (ROUNDS at least).
        stop: asked after each round beyond ROUNDS; True ends the timing (a job arrived).
    """
    import keras

    from fmnist_core.nets.device import device_info
    from fmnist_core.nets.model import build_model

    started = time.perf_counter()
    info = device_info()
    policy = precision.training_policy(info)
    model = build_model(WORKLOAD, dtype=None if policy == "float32" else policy)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  steps_per_execution=STEPS_PER_EXECUTION)
    feeds = {"compute": _feed(IMAGES["compute"], COMPUTE_BATCH),
             "overhead": _feed(IMAGES["overhead"], OVERHEAD_BATCH)}
    model.fit(*feeds["overhead"][0], epochs=1, verbose=0, **feeds["overhead"][1])  # traces
    before = cpu_load.read()
    times = _timed_rounds(keras, model, feeds, budget, stop or (lambda: False))
    after = cpu_load.read()
    busy = cpu_load.busy_between(before, after)
    compute, overhead = solve(times, policy)
    share = cpu_load.share(busy or 0.0, 0)
    # a GPU's arithmetic does not wait for the host's CPU; its Python does, less than
    # arithmetic would (`fmnist_core.nets.load.overhead_share`)
    alone = 1.0 if info["device"] == "GPU" else share
    return Calibration(device=precision.device_line(info, policy),
                       compute=_bounded(compute * CORRECTION["compute"] * alone),
                       overhead=_bounded(overhead * CORRECTION["overhead"]
                                         * cpu_load.overhead_share(busy or 0.0, 0)),
                       load=cpu_load.load_between(before, after), busy=busy,
                       epochs=(len(times["compute"]), len(times["overhead"])),
                       seconds=time.perf_counter() - started)


def keep(store: Any, result: Calibration, *, save_load: bool = True) -> None:
    """Writes a calibration's paces (and its load, with `save_load`) to `store`."""
    store.save_pace(result.device, "compute", result.compute)
    store.save_pace(result.device, "overhead", result.overhead)
    if save_load and result.load is not None:
        store.save_pace(HOST_WIDE, "load", result.load)
    _LOGGER.info("Measured this machine's pace on %s: compute %.2f, overhead %.2f times the "
                 "reference CPU (other work took %s of the CPU meanwhile), in %.2f s.",
                 result.device, result.compute, result.overhead,
                 "an unknown share" if result.busy is None else f"{result.busy:.0%}",
                 result.seconds)


def _feed(images: int, batch_size: int) -> tuple[tuple, dict[str, Any]]:
    """`fit`'s arguments for `images` random pictures in batches of `batch_size`: the
    same element shapes for both workloads, so the training step is traced once."""
    from fmnist_core.data import feed

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(images, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=images).astype(np.int64)
    return feed.training_input(x, y, batch_size, seed=0)


def _timed_rounds(keras: Any, model: Any, feeds: dict[str, tuple], budget: float,
                  stop: Callable[[], bool]) -> dict[str, list[float]]:
    """Seconds per timed stretch of each workload, by turns, for ROUNDS rounds and then as
    long as the budget lasts and `stop()` is False. A stretch runs from an epoch's first call of the training
    function to its last (TIMED_CALLS calls): the epoch's own start, which a full epoch
    pays once for hundreds of batches, would weigh on a handful."""
    times: dict[str, list[float]] = {kind: [] for kind in feeds}

    class CallTimer(keras.callbacks.Callback):
        def __init__(self, into: list[float]):
            super().__init__()
            self.into = into

        def on_epoch_begin(self, epoch, logs=None):
            self.ends: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.into.append(self.ends[-1] - self.ends[0])

    began = time.perf_counter()
    for done in range(MAX_ROUNDS):
        if done >= ROUNDS and (time.perf_counter() - began >= budget or stop()):
            break
        for kind, (args, kwargs) in feeds.items():
            model.fit(*args, epochs=EPOCHS_PER_ROUND, verbose=0,
                      callbacks=[CallTimer(times[kind])], **kwargs)
    return times


def reference_seconds(policy: str) -> dict[str, tuple[float, float]]:
    """(per-image, per-batch) seconds of one timed stretch of each workload on the
    reference CPU: its TIMED_CALLS calls of STEPS_PER_EXECUTION batches."""
    layers = describe(WORKLOAD)["layers"]
    parts = {}
    for kind, batch in (("compute", COMPUTE_BATCH), ("overhead", OVERHEAD_BATCH)):
        calls = TIMED_CALLS[kind]
        parts[kind] = estimate.training_parts(layers, calls * STEPS_PER_EXECUTION * batch,
                                              batch, calls, policy=policy)
    return parts


def solve(times: dict[str, list[float]], policy: str) -> tuple[float, float]:
    """(compute, overhead) paces from the workloads' epoch seconds: the two equations
    measured = compute × per-image + overhead × per-batch (reference seconds), solved; where
    that fails (noise can make one negative), each workload's ratio stands for its kind."""
    ref = reference_seconds(policy)
    measured = {kind: statistics.median(values) for kind, values in times.items()}
    (a1, b1), (a2, b2) = ref["compute"], ref["overhead"]
    m1, m2 = measured["compute"], measured["overhead"]
    det = a1 * b2 - a2 * b1
    if det:
        compute, overhead = (m1 * b2 - m2 * b1) / det, (a1 * m2 - a2 * m1) / det
        if compute > 0 and overhead > 0:
            return compute, overhead
    return m1 / (a1 + b1), m2 / (a2 + b2)


def _bounded(value: float) -> float:
    low, high = PACE_BOUNDS
    return min(high, max(low, value))
