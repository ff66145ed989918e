"""How long a spec takes to train, before it trains.

An epoch's time is modelled from the layer table (`fmnist_core.nets.model.describe`): the
convolutions' arithmetic, the dense layers' arithmetic (memory-bound on a CPU: each weight
is read for every batch), the feature maps written and read back (pooling, batch norm,
activations), a fixed cost per batch and per call of the training function (Python,
dispatch; one call trains up to 8 small batches), and a validation pass (forward only).
The coefficients were fitted on a 2-core CPU (`bench/estimate.py --fit` measures them again
and prints estimate against measurement for every preset), training in bfloat16; a training in
float32 (`fmnist_core.nets.precision`) pays its convolutions' own, slower rate. A machine that is
faster or slower, or a GPU, corrects them by the median ratio of measured to estimated
epochs of its own latest runs on the same device.

    guess = for_spec(preset("seed-cnn"), n_fit=54_000, n_val=6_000, policy="mixed_bfloat16")
    guess.epoch_seconds, guess.total_seconds
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
from typing import Any

from fmnist_core.nets import precision
from fmnist_core.nets.anatomy import describe, steps_per_execution_for, train_flops_from
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.words import plural

_LOGGER = logging.getLogger(__name__)

# Seconds per unit on the reference 2-core CPU (fitted by `bench/estimate.py --fit` on 3 Dec.,
# evening, training in bfloat16 with the fused batch norm, in an hour when the host ran at its
# faster pace: a seed-cnn epoch of 11.6 s; on slower days the studio's own correction follows).
COEFFICIENTS = {
    "conv_flop": 2.34e-12,  # training FLOPs of Conv2D layers (≈ 430 GFLOP/s)
    # the same in a float32 training: 3.3 times conv_flop. Epochs of 12,800 images, float32
    # against bfloat16, side by side on 3 Dec.: dense 0.54 / 0.59 s, quick 0.66 / 0.63 s,
    # seed-cnn 4.78 / 2.22 s, best 14.35 / 7.61 s; only the convolutions' share grows
    "conv_flop_float32": 7.7e-12,
    "dense_flop": 6.35e-12,  # training FLOPs of Dense layers (≈ 160 GFLOP/s)
    "activation": 5.97e-10,  # feature-map values written per image (forward + backward)
    "step": 6.6e-4,  # each training batch
    "call": 4.0e-3,  # each call of the training function (one or several batches)
    "forward_flop": 4.83e-12,  # validation and test: forward FLOPs (float32)
    "activation_val": 2.07e-9,  # validation: feature-map values written per image
    # the first epoch also traces and compiles the training and prediction functions: a
    # fixed part and a part per layer of the table (first epoch less the later ones, 2,000
    # images, 3 Dec.: 0.7–0.8 s for the dense baseline's 5 layers, 0.8–1.1 s for seed-cnn's
    # 9, 2.4–2.6 s for best's 21, 4.6–6.6 s for 35 layers)
    "first_epoch": 0.1,
    "first_epoch_layer": 0.12,
}
MIN_FACTOR, MAX_FACTOR = 0.1, 10.0


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Estimated seconds, and what they rest on.

    Attributes:
        train_seconds: one epoch's training steps.
        val_seconds: one validation pass.
        epoch_seconds: an epoch, training and validation (the first is `prepare_seconds`
            longer).
        prepare_seconds: what the first epoch adds: tracing the training and prediction
            functions, more for more layers.
        total_seconds: every epoch, the first epoch's preparation and the test evaluation.
        factor: the correction from this machine's own runs (1.0 without any).
        basis: a phrase saying what the figures rest on, for the page.
    """

    train_seconds: float
    val_seconds: float
    epoch_seconds: float
    prepare_seconds: float
    total_seconds: float
    factor: float
    basis: str


def cost_terms(layers: list[dict[str, Any]]) -> dict[str, float]:
    """Per-image work of a layer table: conv and dense training FLOPs, feature-map values,
    forward FLOPs."""
    conv = sum(row["flops"] for row in layers if row["type"] == "Conv2D")
    dense = sum(row["flops"] for row in layers if row["type"] == "Dense")
    values = sum(math.prod(row["output_shape"]) for row in layers
                 if row["type"] not in ("InputLayer", "Dense"))
    return {"conv_flop": 3.0 * conv, "dense_flop": 3.0 * dense, "activation": 2.0 * values,
            "forward_flop": float(conv + dense)}


def calls(layers: list[dict[str, Any]], spec: ModelSpec, n_fit: int) -> int:
    """Calls of the compiled training function per epoch: the engine trains several small
    batches per call (`steps_per_execution`), and Python's cost is paid per call."""
    per_call = steps_per_execution_for(train_flops_from([row["flops"] for row in layers]),
                                       spec.batch_size)
    return math.ceil(math.ceil(n_fit / spec.batch_size) / per_call)


def raw_epoch(layers: list[dict[str, Any]], spec: ModelSpec, n_fit: int, n_val: int,
              coefficients: dict[str, float] | None = None, *,
              policy: str) -> tuple[float, float]:
    """(training seconds, validation seconds) of one epoch on the reference machine, the
    training computing in `policy` ("float32" or "mixed_bfloat16"; validation is float32)."""
    c = coefficients or COEFFICIENTS
    terms = cost_terms(layers)
    conv = c["conv_flop"] if policy == precision.MIXED else c["conv_flop_float32"]
    per_image = (terms["conv_flop"] * conv + terms["dense_flop"] * c["dense_flop"]
                 + terms["activation"] * c["activation"])
    train = (n_fit * per_image + math.ceil(n_fit / spec.batch_size) * c["step"]
             + calls(layers, spec, n_fit) * c["call"])
    val = n_val * (terms["forward_flop"] * c["forward_flop"] + terms["activation"] / 6 *
                   c["activation_val"])
    looks = 2 if spec.test_flip else 1  # a test-time flip predicts every image twice
    return train, val * looks


def raw_prepare(layers: list[dict[str, Any]],
                coefficients: dict[str, float] | None = None) -> float:
    """Seconds the first epoch adds on the reference machine (tracing, compiling)."""
    c = coefficients or COEFFICIENTS
    return c["first_epoch"] + c["first_epoch_layer"] * len(layers)


def machine_factor(samples: list[dict[str, Any]], device: str | None) -> tuple[float, int]:
    """Median of measured / estimated epoch seconds over `samples` of `device`
    (`RunStore.timing_samples`); (1.0, 0) without any."""
    # a stored estimate already carries the correction of its day: undo it
    ratios = [s["epoch_seconds"] * (s.get("estimate_factor") or 1.0) / s["estimate_seconds"]
              for s in samples if s.get("estimate_seconds") and s.get("epoch_seconds")
              and (device is None or s.get("device") == device)]
    if not ratios:
        return 1.0, 0
    return min(MAX_FACTOR, max(MIN_FACTOR, statistics.median(ratios))), len(ratios)


def for_spec(spec: ModelSpec, n_fit: int, n_val: int, n_test: int = 10_000,
             device: str | None = None, store=None,
             layers: list[dict[str, Any]] | None = None, *, policy: str) -> Estimate:
    """The estimate for `spec` on `n_fit` training and `n_val` validation images.

    Args:
        policy: the arithmetic the training computes in, "float32" or "mixed_bfloat16"
            (`fmnist_core.nets.precision.training_policy`).
        device: the device the run will use, to pick this machine's past runs.
        store: a RunStore whose finished runs correct the reference figures.
        layers: the layer table when already at hand (`describe(spec)["layers"]`).
    """
    if layers is None:
        layers = describe(spec)["layers"]
    train, val = raw_epoch(layers, spec, n_fit, n_val, policy=policy)
    factor, used = 1.0, 0
    if store is not None:
        try:
            factor, used = machine_factor(store.timing_samples(), device)
        except Exception:  # noqa: BLE001 - an unreadable store leaves the reference figures
            _LOGGER.warning("The past runs' timings could not be read; the estimate uses the "
                            "reference figures.", exc_info=True)
            factor, used = 1.0, 0
    epoch = (train + val) * factor
    test = (n_test * (cost_terms(layers)["forward_flop"] * COEFFICIENTS["forward_flop"]) * factor
            * (2 if spec.test_flip else 1))
    # tracing is Python on the host's CPU: a GPU's speed-up does not shorten it
    on_cpu = device is None or device.startswith("CPU")
    prepare = raw_prepare(layers) * (factor if on_cpu else max(1.0, factor))
    total = spec.epochs * epoch + prepare + test
    basis = (f"this machine's speed, from its last {plural(used, 'run')}" if used else
             "the speed of a 2-core CPU; it adjusts to this machine after its first runs")
    return Estimate(train_seconds=train * factor, val_seconds=val * factor,
                    epoch_seconds=epoch, prepare_seconds=prepare, total_seconds=total,
                    factor=factor, basis=basis)
