"""The precision a training computes in: float32, or bfloat16 with float32 weights.

Keras's `mixed_bfloat16` policy keeps every weight (and the optimizer's state) in float32 and
does the layers' arithmetic in bfloat16. On a CPU that multiplies bfloat16 natively (the
`avx512_bf16` or `amx_bf16` instructions: AMD Zen 4 and later, Intel Cooper Lake and Sapphire
Rapids and later) TensorFlow's convolutions run about twice as fast; elsewhere bfloat16 is
emulated and slower, so `auto` trains in float32 there.

Only the training computes in bfloat16: the model a run saves, its epoch checkpoints, and
everything the pages ask (validation, test, feature maps, predictions) are float32, built
from the same spec and given the trained weights (`fmnist_core.training.fitloop`).

`STUDIO_PRECISION`: `auto` (the default), `float32` or `bfloat16`.
"""

from __future__ import annotations

import functools
import os

ENV = "STUDIO_PRECISION"
CHOICES = ("auto", "float32", "bfloat16")
MIXED = "mixed_bfloat16"
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (Linux's /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in NATIVE_BF16_FLAGS)
    except OSError:
        pass
    return False


def choice() -> str:
    """`STUDIO_PRECISION` as given (lower case), or ValueError in one sentence."""
    value = os.environ.get(ENV, "").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV} must be auto, float32 or bfloat16, not {value!r}.")
    return value


def training_policy(info: dict[str, str]) -> str:
    """The Keras dtype policy a training on `info`'s device (`device_info()`) computes in:
    "float32" or "mixed_bfloat16"."""
    wanted = choice()
    if wanted == "float32":
        return "float32"
    if wanted == "bfloat16":
        return MIXED
    native = (info.get("device") == "CPU" and info.get("backend") == "tensorflow"
              and cpu_has_native_bfloat16())
    return MIXED if native else "float32"


def expected_policy(info: dict[str, str] | None = None) -> str:
    """The policy a training will compute in, for a page that estimates it before it starts:
    `training_policy(info)` once the device is known (`device.device_info()`), else the guess
    that needs no Keras import: the CPU, with the backend `KERAS_BACKEND` names (TensorFlow
    by default). "float32" when `STUDIO_PRECISION` is not understood (the training will say
    so and not start)."""
    if info is None:
        info = {"device": "CPU", "backend": os.environ.get("KERAS_BACKEND") or "tensorflow"}
    try:
        return training_policy(info)
    except ValueError:
        return "float32"


def label(policy: str) -> str:
    """What the run's device line says about its arithmetic ("" for float32)."""
    return ", bfloat16 compute" if policy == MIXED else ""


def device_line(info: dict[str, str], policy: str) -> str:
    """A run's device line, e.g. "CPU (2 cores, bfloat16 compute)": the device of `info`
    (`fmnist_core.nets.device.device_info()`) and the arithmetic it trains in. Runs and
    this machine's measured paces are kept under it (`fmnist_core.store.paces`)."""
    return f"{info['device']} ({info['detail']}{label(policy)})"


def policy_of(device: str) -> str:
    """The policy a run's device line (`fmnist_core.training.fitloop`) names, `label` read back:
    "mixed_bfloat16" or "float32"."""
    return MIXED if label(MIXED) in device else "float32"
