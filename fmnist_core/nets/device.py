"""Which Keras backend and device train here; GPU memory growth for TensorFlow."""

from __future__ import annotations

import functools
import logging
import os

_LOGGER = logging.getLogger(__name__)

# Set in a process that trains one run with some of the machine's cores (a Ray actor, which
# the cluster gave `num_cpus` of them): the device line says those, not the node's count.
CPUS_ENV = "STUDIO_TRAINING_CPUS"


def _cores() -> str:
    """"16 cores", or "1 of 16 cores" in a process given some of them (`CPUS_ENV`)."""
    total = os.cpu_count() or 1
    try:
        given = float(os.environ.get(CPUS_ENV, ""))
    except ValueError:
        return f"{total} cores"
    return f"{given:g} of {total} cores" if 0 < given < total else f"{total} cores"


@functools.lru_cache(maxsize=1)
def device_info() -> dict[str, str]:
    """The backend and the device training will use, e.g. {"backend": "tensorflow",
    "device": "CPU", "detail": "2 cores"} ("1 of 16 cores" for a run given one of them).
    Turns on memory growth for TensorFlow GPUs so
    several trainings and the pages can share one card."""
    import keras

    backend = keras.backend.backend()
    gpus: list[str] = []
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            devices = tf.config.list_physical_devices("GPU")
            for gpu in devices:
                try:
                    tf.config.experimental.set_memory_growth(gpu, True)
                except RuntimeError:
                    pass  # already initialised: growth can only be set before first use
            gpus = [d.name for d in devices]
        elif backend == "jax":
            import jax

            gpus = [str(d.device_kind) for d in jax.devices() if d.platform == "gpu"]
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - a broken driver means "train on the CPU"
        _LOGGER.warning("The %s backend could not list its GPUs; training uses the CPU.",
                        backend, exc_info=True)
        gpus = []
    if gpus:
        return {"backend": backend, "device": "GPU", "detail": ", ".join(gpus)}
    return {"backend": backend, "device": "CPU", "detail": _cores()}


def device_label() -> str:
    """E.g. "CPU (2 cores) · tensorflow · bfloat16 training" (see fmnist_core.nets.precision)."""
    from fmnist_core.nets import precision

    info = device_info()
    label = f"{info['device']} ({info['detail']}) · {info['backend']}"
    try:
        policy = precision.training_policy(info)
    except ValueError:
        return f"{label} · {precision.ENV} not understood (auto, float32 or bfloat16)"
    return label + (" · bfloat16 training" if policy == precision.MIXED else "")
