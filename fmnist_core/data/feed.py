"""What `model.fit` and `model.predict` are fed: the arrays as they are, or on TensorFlow a
tf.data pipeline built here with autotuning off.

Given numpy arrays, Keras on TensorFlow builds a tf.data pipeline with autotuning on and
makes a new iterator for every epoch (and for every `predict` call). tf.data's autotuner
thread sleeps between its optimisation passes, for a period that doubles while the
iterator lives (to several seconds within one epoch), and the old iterator's destructor
waits for that sleep to end. Both cores sit idle meanwhile. On the 2-core bench machine, 7
of 10 epoch starts of a seed-cnn run on 27,000 images stalled for 4.3-5.0 s before their
first batch (an epoch trains in about 5 s), and a 6,000-image `predict` took 1.3 s instead
of 0.67 s in about half its calls. Fed from the pipeline below, every epoch start took at
most 30 ms. This was the "long-lived process" slowdown: it hit whichever run, thread or
worker process, happened to end an iterator mid-sleep.

Other backends (JAX on a GPU machine) are given the arrays: they iterate them without
tf.data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# batches made ahead of the one training: the gather of a batch takes well under a
# millisecond, so two keep the model from ever waiting
PREFETCH_BATCHES = 2


def _tensorflow() -> Any | None:
    """The tensorflow module when Keras runs on it, else None."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


def _without_autotuning(tf, dataset):
    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.apply_default_optimizations = False
    return dataset.with_options(options)


def training_input(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int
                   ) -> tuple[tuple, dict[str, Any]]:
    """(positional, keyword) arguments of `model.fit` that feed (x, y) in batches of
    `batch_size`, in a new order every epoch drawn from `seed`, the last batch partial.

        args, kwargs = training_input(x, y, 128, seed=1)
        model.fit(*args, epochs=5, **kwargs)
    """
    tf = _tensorflow()
    if tf is None:
        return (x, y), {"batch_size": batch_size, "shuffle": True}
    n = len(x)
    images, labels = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True)
    batches = order.batch(batch_size).map(
        lambda i: (tf.gather(images, i), tf.gather(labels, i)))
    # the pipeline draws each epoch's order itself: `shuffle=False` keeps Keras from
    # warning that it cannot shuffle a dataset
    return (_without_autotuning(tf, batches.prefetch(PREFETCH_BATCHES)),), {"shuffle": False}


def prediction_input(x: np.ndarray, batch_size: int) -> tuple[tuple, dict[str, Any]]:
    """(positional, keyword) arguments of `model.predict` that feed x in order, in batches
    of `batch_size`."""
    tf = _tensorflow()
    if tf is None:
        return (x,), {"batch_size": batch_size}
    images = tf.data.Dataset.from_tensor_slices(tf.constant(x)).batch(batch_size)
    return (_without_autotuning(tf, images.prefetch(PREFETCH_BATCHES)),), {}


def labelled_input(x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
    """(x, y) in order, in batches of `batch_size`: what `model.evaluate` or `fit`'s
    `validation_data` is given (with `validation_batch_size=batch_size` for the arrays)."""
    tf = _tensorflow()
    if tf is None:
        return x, y
    pairs = tf.data.Dataset.from_tensor_slices((tf.constant(x), tf.constant(y)))
    return _without_autotuning(tf, pairs.batch(batch_size).prefetch(PREFETCH_BATCHES))


def predict(model, x: np.ndarray, batch_size: int):
    """`model.predict(x)` in batches of `batch_size`, fed as above; its outputs as Keras
    returns them (an array, or a list for a model with several outputs). At most one batch
    (a drawing, a sweep of a few images) goes through `predict_on_batch`, which skips
    `predict`'s per-call set-up (about 0.1 s)."""
    if 0 < len(x) <= batch_size:
        return model.predict_on_batch(x)
    args, kwargs = prediction_input(x, batch_size)
    return model.predict(*args, verbose=0, **kwargs)
