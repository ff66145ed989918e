"""Switch filters off: a copy of a trained network with chosen filters of a conv layer
silenced, its test accuracy, and the filters ranked by the accuracy lost without them.

A filter is knocked out by zeroing its kernel and bias (and, after batch norm, that
channel's scale and shift), so its channel before the activation is zero everywhere: after
relu, elu, gelu and tanh it is zero; after sigmoid it is the constant 0.5, which carries no
more about the image than zero. The trained model itself is never changed (pages share it).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fmnist_core.explain import inspection


@dataclasses.dataclass(frozen=True)
class Knocked:
    """One filter's place in the ranking: the test accuracy without it, and the points
    (percentage points) lost against the whole network."""

    filter: int
    accuracy: float
    lost_points: float


def knocked_out(model, layer: str, off: Sequence[int]):
    """A copy of `model` whose filters `off` of conv layer `layer` are switched off.

    Args:
        model: a trained model from `build_model` (or its test-flip wrapper).
        layer: a conv layer's name, e.g. "conv1".
        off: 0-based filter indices; none gives a plain copy.

    Returns:
        A new `keras.Model` with the same weights but those filters.

    Raises:
        ValueError: no such conv layer, or an index outside the layer's filters.
    """
    import keras

    count = _check(model, layer, off)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    silence(copy, layer, off, count)
    return copy


def silence(model, layer: str, off: Sequence[int], count: int | None = None) -> None:
    """Zeroes filters `off` of `layer` in `model` itself (see `knocked_out` for a copy)."""
    count = count if count is not None else _check(model, layer, off)
    if not len(off):
        return
    mask = np.ones(count, np.float32)
    mask[list(off)] = 0.0
    conv = model.get_layer(layer)
    conv.kernel.assign(np.asarray(conv.kernel) * mask)
    if conv.use_bias:
        conv.bias.assign(np.asarray(conv.bias) * mask)
    norm = _norm(model, layer)
    if norm is not None:
        norm.gamma.assign(np.asarray(norm.gamma) * mask)
        norm.beta.assign(np.asarray(norm.beta) * mask)


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of `images` ((n, 28, 28) uint8) whose answer is their label ((n,) int)."""
    probs = inspection.predict_proba(model, images)
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def ranking(model, layer: str, images: np.ndarray, labels: np.ndarray
            ) -> tuple[float, list[Knocked]]:
    """Every filter of `layer` switched off alone: the most important (most accuracy lost)
    first.

    Args:
        model: a trained model.
        layer: a conv layer's name.
        images: (n, 28, 28) uint8 test images.
        labels: (n,) their classes.

    Returns:
        (the whole network's accuracy on `images`, one `Knocked` per filter).
    """
    import keras

    count = _check(model, layer, ())
    whole = accuracy(model, images, labels)
    copy = keras.models.clone_model(model)
    weights = model.get_weights()
    ranked = []
    for index in range(count):
        copy.set_weights(weights)  # one copy for every filter: building one costs more
        silence(copy, layer, (index,), count)
        score = accuracy(copy, images, labels)
        ranked.append(Knocked(index, score, 100.0 * (whole - score)))
    ranked.sort(key=lambda k: (-k.lost_points, k.filter))
    return whole, ranked


def _check(model, layer: str, off: Sequence[int]) -> int:
    """The number of filters of `layer`, after checking the layer and the indices."""
    names = inspection.conv_layers(model)
    if layer not in names:
        raise ValueError(f"Argument `layer` must be one of {names}, received {layer!r}.")
    count = int(model.get_layer(layer).filters)
    bad = [i for i in off if isinstance(i, bool) or not isinstance(i, (int, np.integer))
           or not 0 <= i < count]
    if bad:
        raise ValueError(f"Argument `off` must hold filter indices from 0 to {count - 1}, "
                         f"received {list(off)!r}.")
    return count


def _norm(model, layer: str):
    """The batch norm right after `layer`, when the network has one."""
    try:
        return model.get_layer(f"{layer}_bn")
    except ValueError:
        return None
