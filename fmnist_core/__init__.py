"""Fashion-MNIST CNN Studio engine: data, specs, models, training, inspection, run store.

Nothing in this package imports Streamlit, so it works from a notebook or the CLI
(`python -m fmnist_core`).
"""

import os

# TensorFlow's C++ start-up chatter (CPU feature notices, CUDA probes) is noise for students;
# an operator who wants it sets TF_CPP_MIN_LOG_LEVEL=0 before starting.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# What a notebook imports, from the modules that hold it; each is imported when first asked
# for, so `python -m fmnist_core describe` does not load the backend.
_PUBLIC = {
    "ModelSpec": "fmnist_core.nets.spec", "preset": "fmnist_core.nets.spec",
    "presets": "fmnist_core.nets.spec",
    "load_dataset": "fmnist_core.data.datasets", "Dataset": "fmnist_core.data.datasets",
    "preprocess": "fmnist_core.data.preprocessing", "ImageError": "fmnist_core.data.decoding",
    "TrainingJob": "fmnist_core.training.job", "JobQueue": "fmnist_core.training.jobqueue",
    "RunStore": "fmnist_core.store.runs", "build_model": "fmnist_core.nets.model",
    "describe": "fmnist_core.nets.anatomy",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'fmnist_core' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_PUBLIC[name]), name)
