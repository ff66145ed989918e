"""Pick dataset images by class: counts, the n-th image of a class, a few samples per class.

The Data page's browser draws on these; they work on the labels alone, so they are cheap
enough to call on every rerun even for the 60,000 training labels.

Example:
    >>> counts = class_counts(data.y_train, data.num_classes)  # (10,) int64
    >>> grid = samples_per_class(data.y_train, data.num_classes, per_class=8)  # (10, 8)
    >>> images = data.x_train[grid]  # (10, 8, 28, 28) uint8
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike


def class_counts(labels: ArrayLike, num_classes: int) -> np.ndarray:
    """How many images each class has.

    Args:
        labels: `(n,)` integer labels in `0..num_classes - 1`.
        num_classes: Number of classes, an integer >= 1.

    Returns:
        `(num_classes,) int64` counts, index = label.

    Raises:
        ValueError: If `num_classes` is not a positive integer or a label is out of range.
    """
    labels = _as_labels(labels, num_classes)
    return np.bincount(labels, minlength=num_classes).astype(np.int64)


def class_indices(labels: ArrayLike, label: int) -> np.ndarray:
    """Positions of every image of class `label`, in dataset order.

    Args:
        labels: `(n,)` integer labels.
        label: The class, an integer >= 0.

    Returns:
        `(m,) int64` indices into the dataset; empty when the class has no image.

    Raises:
        ValueError: If `labels` is not 1-D or `label` is not a non-negative integer.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"Argument `labels` must be 1-D, received shape {labels.shape}.")
    label = _check_int(label, "label", minimum=0)
    return np.flatnonzero(labels == label).astype(np.int64)


def samples_per_class(
    labels: ArrayLike, num_classes: int, per_class: int = 8, seed: int | None = None
) -> np.ndarray:
    """Indices of a few images of every class, one row per class.

    Args:
        labels: `(n,)` integer labels in `0..num_classes - 1`.
        num_classes: Number of classes, an integer >= 1.
        per_class: Images wanted per class, an integer >= 1. Rows are shortened to the
            rarest class's count so the result stays rectangular.
        seed: None for the first images of each class (the same every time), else a seed
            for a random choice without repeats.

    Returns:
        `(num_classes, min(per_class, rarest count)) int64` indices into the dataset; row
        `c` holds images of class `c` in dataset order.

    Raises:
        ValueError: If an argument has the wrong type or value.
    """
    labels = _as_labels(labels, num_classes)
    per_class = _check_int(per_class, "per_class", minimum=1)
    if seed is not None:
        seed = _check_int(seed, "seed", minimum=0)
    by_class = [np.flatnonzero(labels == c) for c in range(num_classes)]
    take = min(per_class, *(len(idx) for idx in by_class))
    rng = np.random.default_rng(seed) if seed is not None else None
    rows = [
        idx[:take] if rng is None else np.sort(rng.choice(idx, size=take, replace=False))
        for idx in by_class
    ]
    return np.asarray(rows, dtype=np.int64).reshape(num_classes, take)


def _as_labels(labels: ArrayLike, num_classes: int) -> np.ndarray:
    num_classes = _check_int(num_classes, "num_classes", minimum=1)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            "Argument `labels` must be a 1-D array of integers, "
            f"received shape {labels.shape} and dtype {labels.dtype}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Argument `labels` must hold values from 0 to {num_classes - 1}, "
            f"received values from {labels.min()} to {labels.max()}."
        )
    return labels.astype(np.int64)


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"Argument `{name}` must be an integer >= {minimum}, received {value!r}."
        )
    return int(value)
