"""What one run may cost on this server: its estimated time and memory, checked where a run
is queued, and the longest a run may train.

A spec reachable from the form or a link can hold the class's server for days: three blocks
of 256 filters of 9×9 with `same` padding and no pooling into Dense 1024 is 248 M parameters
and, at 200 epochs of batch 16, about 159 hours even on 2,000 images. Such a spec is refused
with one sentence before it is queued, and a run that the estimate got wrong is stopped once
it has trained for the longest a run may.

    limits = RunLimits.from_env()
    limits.check(spec, n_fit=54_000, n_val=6_000, store=store)   # SpecTooCostlyError
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import TYPE_CHECKING

from fmnist_core.nets import anatomy, estimate
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.words import duration

if TYPE_CHECKING:
    from fmnist_core.data.datasets import Dataset

MAX_RUN_MINUTES = 120  # $STUDIO_MAX_RUN_MINUTES
MAX_RUN_MEMORY_MB = 4096  # $STUDIO_MAX_RUN_MEMORY_MB
# Memory per parameter while training: the weights, their gradient and Adam's two moments,
# float32 each.
BYTES_PER_PARAMETER = 16
# Memory per activation of one image: the forward value kept for the backward pass, its
# gradient, and the backend's scratch for the layer that follows (float32 each).
BYTES_PER_ACTIVATION = 12


class SpecTooCostlyError(ValueError):
    """A spec that would cost more than this server lets one run cost; `str(err)` is one
    sentence for the student."""


@dataclasses.dataclass(frozen=True)
class RunLimits:
    """What one run may cost.

    Attributes:
        max_seconds: the longest a run may train; its estimate must fit in it, and a run
            still training then is stopped.
        max_memory_mb: the most memory a run's training may need, by the estimate.
    """

    max_seconds: float = MAX_RUN_MINUTES * 60.0
    max_memory_mb: float = MAX_RUN_MEMORY_MB

    @classmethod
    def from_env(cls) -> RunLimits:
        """`$STUDIO_MAX_RUN_MINUTES` and `$STUDIO_MAX_RUN_MEMORY_MB`, else the defaults."""
        return cls(max_seconds=60.0 * _positive("STUDIO_MAX_RUN_MINUTES", MAX_RUN_MINUTES),
                   max_memory_mb=_positive("STUDIO_MAX_RUN_MEMORY_MB", MAX_RUN_MEMORY_MB))

    def check(self, spec: ModelSpec, n_fit: int, n_val: int, n_test: int = 10_000,
              store=None, policy: str = "float32") -> None:
        """Refuses a spec whose training would take longer or need more memory than allowed.

        Args:
            spec: the spec.
            n_fit: training images per epoch.
            n_val: validation images per epoch.
            n_test: test images evaluated at the end.
            store: a RunStore whose finished runs correct the time estimate.
            policy: the arithmetic it would train in (`fmnist_core.nets.precision`).

        Raises:
            SpecTooCostlyError: one sentence saying what is too much and what to change.
        """
        layers = anatomy.describe(spec)["layers"]
        memory = memory_mb(spec, layers)
        if memory > self.max_memory_mb:
            raise SpecTooCostlyError(
                f"This network would need about {_megabytes(memory)} of memory to train, "
                f"more than the {_megabytes(self.max_memory_mb)} a run may use here: use "
                "fewer filters, pooling, a smaller dense layer or a smaller batch.")
        seconds = estimate.for_spec(spec, n_fit, n_val, n_test, store=store, layers=layers,
                                    policy=policy).total_seconds
        if seconds > self.max_seconds:
            raise SpecTooCostlyError(
                f"This run would take about {duration(seconds)}, longer than the "
                f"{duration(self.max_seconds)} a run may train here: use fewer epochs, "
                "fewer training images or a smaller network.")


def memory_mb(spec: ModelSpec, layers: list[dict] | None = None) -> float:
    """Megabytes a spec's training needs, by arithmetic: every parameter with its gradient
    and optimizer state, and one batch's activations with their gradients."""
    layers = layers if layers is not None else anatomy.describe(spec)["layers"]
    params = sum(row["params"] for row in layers)
    activations = sum(math.prod(row["output_shape"]) for row in layers)
    total = (params * BYTES_PER_PARAMETER
             + spec.batch_size * activations * BYTES_PER_ACTIVATION)
    return total / 2**20


def _positive(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def _megabytes(mb: float) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:,.0f} MB"


def env_int(name: str, default: int | None) -> int | None:
    """An integer from the environment; the default when unset or not a positive int."""
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def run_images(data: Dataset, spec: ModelSpec, limit_train: int | None,
               limit_test: int | None) -> tuple[int, int]:
    """(training, test) images a run of `spec` gets from `data`: the dataset's, cut to the
    spec's own `train_images` (when given) and to the server's limits; the training images
    include the validation split."""
    n_train = spec.images(len(data.x_train), limit_train)
    n_test = min(limit_test or len(data.x_test), len(data.x_test))
    return n_train, n_test
