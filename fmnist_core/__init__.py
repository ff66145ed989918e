"""Fashion-MNIST CNN Studio engine: data, specs, models, training, inspection, run store.

Nothing in this package imports Streamlit, so it works from a notebook or the CLI
(`python -m fmnist_core`).
"""

import os

# TensorFlow's C++ start-up chatter (CPU feature notices, CUDA probes) is noise for students;
# an operator who wants it sets TF_CPP_MIN_LOG_LEVEL=0 before starting.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
