"""Replaying a run's learning: its weights after each stored epoch, in one model.

Each run keeps the weights it started from (epoch 0, the random initial weights) and its
weights after every epoch (or every k-th of a long run) beside its model
(`RunStore.checkpoints`); a run trained before the studio kept its starting weights has no
epoch 0. `EpochReplay` builds the run's network once, reads every stored
epoch's weights into memory once, and swaps them in to answer for any epoch: switching
epochs costs a `set_weights`, not a model build, so a slider over the epochs answers at
once. A lock keeps two pages from swapping weights under each other.

    replay = EpochReplay(spec, store.checkpoints(run_id))
    with replay.at(3) as model:
        maps, probs = FeatureExtractor(model)(image)
    replay.class_probabilities(image)        # (epochs, classes): the answer at every epoch
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from fmnist_core.data import feed
from fmnist_core.explain.inspection import FeatureExtractor, _check_image
from fmnist_core.nets.model import build_model, with_test_flip
from fmnist_core.nets.spec import ModelSpec


class EpochReplay:
    """A run's network with the weights of any of its stored epochs.

    Args:
        spec: the run's spec (to build the network).
        checkpoints: epoch number → `.weights.h5` file, at least one; 0 is the weights
            before the first batch.
        num_classes: width of the output layer.

    Raises:
        ValueError: no checkpoints, or a file that does not fit the spec.
    """

    def __init__(self, spec: ModelSpec, checkpoints: dict[int, Path], num_classes: int = 10):
        if not checkpoints:
            raise ValueError("Argument `checkpoints` must name at least one epoch's weights, "
                             "received none.")
        self.spec = spec
        self._network = build_model(spec, num_classes)  # the layers the checkpoints fill
        self.epochs = sorted(checkpoints)
        self._weights: dict[int, list[np.ndarray]] = {}
        for epoch in self.epochs:
            self._network.load_weights(checkpoints[epoch])
            self._weights[epoch] = [np.array(w) for w in self._network.get_weights()]
        # answers as the run's validation measured them: with its test-time flip, if any
        self.model = (with_test_flip(self._network) if spec.test_flip else self._network)
        self._lock = threading.RLock()
        self._current = self.epochs[-1]
        self.extractor = FeatureExtractor(self.model)

    @contextlib.contextmanager
    def at(self, epoch: int) -> Iterator:
        """The network with the weights after `epoch` (0: before training), held for the
        `with` block."""
        if epoch not in self._weights:
            raise ValueError(f"Argument `epoch` must be one of the stored epochs "
                             f"{self.epochs}, received {epoch!r}.")
        with self._lock:
            if epoch != self._current:
                self._network.set_weights(self._weights[epoch])
                self._current = epoch
            yield self.model

    def features(self, epoch: int, image: np.ndarray):
        """(feature maps, probabilities) of one (28, 28) uint8 image after `epoch`."""
        with self.at(epoch):
            return self.extractor(image)

    def kernel(self, epoch: int, layer: str) -> np.ndarray:
        """A conv layer's (k, k, in, out) float32 kernel after `epoch`."""
        with self.at(epoch) as model:
            return np.array(model.get_layer(layer).get_weights()[0])

    def filter_life(self, layer: str, index: int) -> np.ndarray:
        """One filter of a conv layer at every stored epoch: (k, k, epochs) float32 of its
        first input channel (the image itself, for the first layer)."""
        kernels = [self.kernel(epoch, layer)[:, :, 0, index] for epoch in self.epochs]
        return np.stack(kernels, axis=-1)

    def class_probabilities(self, image: np.ndarray) -> np.ndarray:
        """(epochs, classes) float32: the network's answer for `image` after each epoch."""
        image = _check_image(image)
        rows = []
        for epoch in self.epochs:
            with self.at(epoch) as model:
                rows.append(np.asarray(model.predict_on_batch(image[None]))[0])
        return np.stack(rows).astype(np.float32)

    def predict(self, epoch: int, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """(n, classes) float32 probabilities of many images after `epoch`."""
        with self.at(epoch) as model:
            return np.asarray(feed.predict(model, images, batch_size), dtype=np.float32)
