"""Shared fixtures: small slices of the real Fashion-MNIST, a throwaway run store."""

import os

# Offline and quiet before anything imports Keras.
os.environ["STUDIO_NO_DOWNLOAD"] = "1"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from fmnist_core.datasets import load_dataset  # noqa: E402
from fmnist_core.runs import RunStore  # noqa: E402


@pytest.fixture(scope="session")
def fashion():
    """The real Fashion-MNIST (loaded once, read-only)."""
    return load_dataset("fashion_mnist")


@pytest.fixture(scope="session")
def small_data(fashion):
    """2,000 training and 500 test images of the real data."""
    return fashion.subset(limit_train=2000, limit_test=500)


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "studio")
