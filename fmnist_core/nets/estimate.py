"""How long a spec takes to train, before it trains.

An epoch's time is modelled from the layer table (`fmnist_core.nets.model.describe`): the
convolutions' arithmetic, the dense layers' arithmetic (memory-bound on a CPU: each weight
is read for every batch), the feature maps written and read back (pooling, batch norm,
activations), a fixed cost per batch and per call of the training function (Python,
dispatch; one call trains up to 8 small batches), and a validation pass (forward only).
The coefficients were fitted on a 2-core CPU (`bench/estimate.py --fit` measures them again
and prints estimate against measurement for every preset), training in bfloat16; a training in
float32 (`fmnist_core.nets.precision`) pays its convolutions' own, slower rate.

Those are the reference figures. The machine that trains multiplies them by its own pace
(`fmnist_core.nets.pace`): the per-image work by its measured compute pace, the per-batch and
per-call costs by its overhead pace, both by how much less of the CPU a training gets under
the load it carries (the per-batch costs less, `fmnist_core.nets.load.overhead_share`), and
by the median correction of its last finished runs. Nothing measured yet (a worker process
measures its pace as it starts): the reference figures.

    guess = for_spec(preset("seed-cnn"), n_fit=54_000, n_val=6_000, policy="mixed_bfloat16")
    guess.epoch_seconds, guess.total_seconds
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from fmnist_core.nets import pace, precision
from fmnist_core.nets.anatomy import describe, steps_per_execution_for, train_flops_from
from fmnist_core.nets.pace import Pace
from fmnist_core.nets.spec import ModelSpec

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
        factor: the correction from this machine's finished runs (1.0 without any),
            kept with the run so that a later estimate can undo it.
        basis: a phrase saying what the figures rest on, for the page.
        paced: whether they rest on this machine's measured pace (else the reference).
    """

    train_seconds: float
    val_seconds: float
    epoch_seconds: float
    prepare_seconds: float
    total_seconds: float
    factor: float
    basis: str
    paced: bool = False


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


def training_parts(layers: list[dict[str, Any]], n_fit: int, batch_size: int, n_calls: int,
                   coefficients: dict[str, float] | None = None, *,
                   policy: str) -> tuple[float, float]:
    """(per-image seconds, per-batch and per-call seconds) of training `n_fit` images in
    batches of `batch_size` through `n_calls` calls of the training function, on the
    reference machine, computing in `policy`: the two parts a machine's pace multiplies
    (`fmnist_core.nets.pace`)."""
    c = coefficients or COEFFICIENTS
    terms = cost_terms(layers)
    conv = c["conv_flop"] if policy == precision.MIXED else c["conv_flop_float32"]
    per_image = (terms["conv_flop"] * conv + terms["dense_flop"] * c["dense_flop"]
                 + terms["activation"] * c["activation"])
    return (n_fit * per_image,
            math.ceil(n_fit / batch_size) * c["step"] + n_calls * c["call"])


def raw_epoch(layers: list[dict[str, Any]], spec: ModelSpec, n_fit: int, n_val: int,
              coefficients: dict[str, float] | None = None, *,
              policy: str) -> tuple[float, float]:
    """(training seconds, validation seconds) of one epoch on the reference machine, the
    training computing in `policy` ("float32" or "mixed_bfloat16"; validation is float32)."""
    return (sum(training_parts(layers, n_fit, spec.batch_size, calls(layers, spec, n_fit),
                               coefficients, policy=policy)),
            raw_validation(layers, spec, n_val, coefficients))


def raw_validation(layers: list[dict[str, Any]], spec: ModelSpec, n_val: int,
                   coefficients: dict[str, float] | None = None) -> float:
    """Seconds of a validation pass over `n_val` images on the reference machine (float32,
    forward only)."""
    c = coefficients or COEFFICIENTS
    terms = cost_terms(layers)
    val = n_val * (terms["forward_flop"] * c["forward_flop"] + terms["activation"] / 6 *
                   c["activation_val"])
    looks = 2 if spec.test_flip else 1  # a test-time flip predicts every image twice
    return val * looks


def raw_prepare(layers: list[dict[str, Any]],
                coefficients: dict[str, float] | None = None) -> float:
    """Seconds the first epoch adds on the reference machine (tracing, compiling)."""
    c = coefficients or COEFFICIENTS
    return c["first_epoch"] + c["first_epoch_layer"] * len(layers)


def for_spec(spec: ModelSpec, n_fit: int, n_val: int, n_test: int = 10_000,
             device: str | None = None, store=None,
             layers: list[dict[str, Any]] | None = None, *, policy: str,
             beside: int | None = None, run_id: str | None = None) -> Estimate:
    """The estimate for `spec` on `n_fit` training and `n_val` validation images.

    Args:
        policy: the arithmetic the training computes in, "float32" or "mixed_bfloat16"
            (`fmnist_core.nets.precision.training_policy`).
        device: the device line of the run (`fmnist_core.nets.device.device_line`); None:
            the device this host measured last for `policy`.
        store: a RunStore with this machine's measured pace and finished runs
            (`fmnist_core.nets.pace`); None: the reference figures.
        layers: the layer table when already at hand (`describe(spec)["layers"]`).
        beside: trainings that will run at the same time on this host (see
            `fmnist_core.nets.pace.for_machine`).
        run_id: the run estimated, once it is training.
    """
    if layers is None:
        layers = describe(spec)["layers"]
    machine = Pace()
    if store is not None:
        try:
            machine = pace.for_machine(store, device, policy, beside=beside, run_id=run_id)
        except Exception:  # noqa: BLE001 - an unreadable store leaves the reference figures
            _LOGGER.warning("This machine's measured pace could not be read; the estimate "
                            "uses the reference figures.", exc_info=True)
    per_image, per_batch = training_parts(layers, n_fit, spec.batch_size,
                                          calls(layers, spec, n_fit), policy=policy)
    compute, overhead = machine.compute_factor(), machine.overhead_factor()
    train = per_image * compute + per_batch * overhead
    val = raw_validation(layers, spec, n_val) * compute
    epoch = train + val
    test = (n_test * (cost_terms(layers)["forward_flop"] * COEFFICIENTS["forward_flop"])
            * compute * (2 if spec.test_flip else 1))
    # tracing is Python on the host's CPU: a GPU's speed-up does not shorten it
    prepare = raw_prepare(layers) * (overhead if not machine.on_gpu else max(1.0, overhead))
    total = spec.epochs * epoch + prepare + test
    return Estimate(train_seconds=train, val_seconds=val, epoch_seconds=epoch,
                    prepare_seconds=prepare, total_seconds=total, factor=machine.runs,
                    basis=machine.basis(), paced=machine.measured is not None)
