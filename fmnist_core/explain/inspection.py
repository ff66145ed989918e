"""Look inside a trained model: feature maps, filters, confusion matrix, occlusion saliency.

All functions take a built Keras model and uint8 images as the data is stored; only forward
passes are used, so everything works on every Keras backend.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fmnist_core.data import feed
from fmnist_core.words import plural

PREDICT_BATCH_SIZE = 1000


@dataclasses.dataclass(frozen=True)
class FeatureMap:
    """One layer's output for one image.

    Attributes:
        name: layer name, e.g. "conv1" or "pool1".
        kind: "conv" or "pool".
        maps: (h, w, channels) float32.
    """

    name: str
    kind: str
    maps: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.maps.shape)


class FeatureExtractor:
    """A sub-model exposing every conv and pooling output of `model`, built once.

    Args:
        model: a model from `build_model` (starts with `keras.Input`).
    """

    def __init__(self, model):
        import keras

        from fmnist_core.nets.model import feature_layer_names  # Keras loads only when a model does

        self.model = model
        self.names = feature_layer_names(model)
        outputs = [model.get_layer(name).output for name in self.names] + [model.outputs[0]]
        self._sub = keras.Model(model.inputs[0], outputs)

    def __call__(self, image: np.ndarray) -> tuple[list[FeatureMap], np.ndarray]:
        """Feature maps and class probabilities for one image.

        Args:
            image: (28, 28) uint8.

        Returns:
            (feature maps in layer order, (num_classes,) float32 probabilities).
        """
        image = _check_image(image)[None]
        outputs = self._sub(image, training=False)
        # A model without feature layers (the dense baseline) returns one tensor, not a list.
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        outputs = [np.asarray(o)[0].astype(np.float32) for o in outputs]
        maps = [FeatureMap(name, "pool" if name.startswith("pool") else "conv", out)
                for name, out in zip(self.names, outputs[:-1])]
        return maps, outputs[-1]


def conv_layers(model) -> list[str]:
    """Names of the Conv2D layers, in order."""
    import keras

    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def filters(model, layer_name: str | None = None) -> np.ndarray:
    """The kernel of a conv layer (the first one by default).

    Returns:
        (k, k, in_channels, filters) float32.

    Raises:
        ValueError: the model has no conv layer (the dense baseline) or no such layer.
    """
    names = conv_layers(model)
    if not names:
        raise ValueError("This model has no convolution layer, so it has no filters to show.")
    name = layer_name or names[0]
    if name not in names:
        raise ValueError(f"Argument `layer_name` must be one of {names}, received {name!r}.")
    return np.asarray(model.get_layer(name).kernel).astype(np.float32)


def predict_proba(model, images: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Class probabilities for many images: (n, 28, 28) uint8 → (n, num_classes) float32."""
    images = _check_images(images)
    if len(images) == 0:
        return np.zeros((0, model.outputs[0].shape[-1]), np.float32)
    return np.asarray(feed.predict(model, images, batch_size), np.float32)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """(num_classes, num_classes) int64; rows are true classes, columns predictions."""
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"Arguments `y_true` and `y_pred` must have the same shape, received "
                         f"{y_true.shape} and {y_pred.shape}.")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"Argument `{name}` must hold class indices from 0 to "
                             f"{num_classes - 1}, received values from {labels.min()} to "
                             f"{labels.max()}.")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """(num_classes,) float64 recall per true class; NaN for a class with no examples."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def most_common_mistake(matrix: np.ndarray) -> tuple[int, int]:
    """(true class, predicted class) of the largest off-diagonal cell."""
    errors = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(errors, -1)
    true, pred = np.unravel_index(int(errors.argmax()), errors.shape)
    return int(true), int(pred)


def layer_note(feature_map: FeatureMap, before: tuple[int, ...], spec) -> str:
    """One teaching sentence about a feature-map layer, given the shape it received."""
    h, w, c = feature_map.shape
    if feature_map.kind == "pool":
        how = "strongest" if spec.pooling == "max" else "average"
        return (f"Pooling keeps the {how} response of each {spec.pool_size}×{spec.pool_size} "
                f"block, so every map shrinks from {before[0]}×{before[1]} to {h}×{w}.")
    return (f"{plural(c, 'filter')} of {spec.kernel_size}×{spec.kernel_size} "
            f"{'slides' if c == 1 else 'slide'} over the "
            f"{'×'.join(map(str, before))} input. Each square is what one filter responds to; "
            "bright = strong response.")


def cell_examples(y_true: np.ndarray, probs: np.ndarray, true_class: int,
                  predicted_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The images of one confusion-matrix cell, most confident first.

    Returns:
        (indices (m,) int64 into the evaluated set, confidences (m,) float32 of the
        predicted class).
    """
    y_true = np.asarray(y_true)
    probs = np.asarray(probs)
    if probs.ndim != 2 or y_true.shape != probs.shape[:1]:
        raise ValueError(f"Arguments `y_true` and `probs` must have shapes (n,) and "
                         f"(n, num_classes), received {y_true.shape} and {probs.shape}.")
    predicted = probs.argmax(axis=1)
    idx = np.flatnonzero((y_true == true_class) & (predicted == predicted_class))
    confidence = probs[idx, predicted_class]
    order = np.argsort(-confidence, kind="stable")
    return idx[order], confidence[order]


def occlusion_saliency(model, image: np.ndarray, class_index: int, patch: int = 4,
                       stride: int = 2) -> np.ndarray:
    """How much the probability of `class_index` drops when each region is hidden.

    A black square (the dataset's background) slides over the image; the drop in
    probability says which pixels the network relies on. Forward passes only.

    Args:
        image: (28, 28) uint8.
        class_index: the class to explain.
        patch: side of the hiding square in pixels.
        stride: step between squares.

    Returns:
        (28, 28) float32, the mean probability drop at each pixel (negative = hiding helps).
    """
    image = _check_image(image)
    num_classes = model.outputs[0].shape[-1]
    if not 0 <= class_index < num_classes:
        raise ValueError(f"Argument `class_index` must be from 0 to {num_classes - 1}, "
                         f"received {class_index}.")
    if not 1 <= patch <= 28 or stride < 1:
        raise ValueError(f"Arguments `patch` and `stride` must be 1..28 and at least 1, "
                         f"received {patch} and {stride}.")
    positions = [(r, c) for r in range(0, 28 - patch + 1, stride)
                 for c in range(0, 28 - patch + 1, stride)]
    batch = np.repeat(image[None], len(positions) + 1, axis=0)
    for i, (r, c) in enumerate(positions, start=1):
        batch[i, r:r + patch, c:c + patch] = 0
    probs = predict_proba(model, batch, batch_size=len(batch))[:, class_index]
    drop = np.zeros((28, 28), np.float32)
    count = np.zeros((28, 28), np.float32)
    for i, (r, c) in enumerate(positions, start=1):
        drop[r:r + patch, c:c + patch] += probs[0] - probs[i]
        count[r:r + patch, c:c + patch] += 1
    return drop / np.maximum(count, 1)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.shape != (28, 28):
        raise ValueError(f"Argument `image` must have shape (28, 28), received {image.shape}.")
    if image.dtype != np.uint8:
        raise ValueError(f"Argument `image` must be uint8 as the data is stored, received "
                         f"{image.dtype}.")
    return image


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"Argument `images` must have shape (n, 28, 28), received "
                         f"{images.shape}.")
    if images.dtype != np.uint8:
        raise ValueError(f"Argument `images` must be uint8 as the data is stored, received "
                         f"{images.dtype}.")
    return images


def class_progress(history: list[dict]) -> tuple[np.ndarray, list[int]]:
    """Each class's validation accuracy after each epoch that measured it.

    Args:
        history: epoch rows with "epoch" and "class_accuracy" (a list per class, or None).

    Returns:
        ((num_classes, epochs) float64 with NaN for a class absent from the validation
        images, the epoch numbers); an empty (0, 0) array when no epoch measured them.
    """
    rows = [row for row in history if row.get("class_accuracy")]
    if not rows:
        return np.zeros((0, 0)), []
    matrix = np.array([[np.nan if v is None else v for v in row["class_accuracy"]]
                       for row in rows], dtype=np.float64).T
    return matrix, [int(row["epoch"]) for row in rows]


def learned_last(matrix: np.ndarray, class_names: tuple[str, ...], count: int = 2
                 ) -> list[tuple[str, float]]:
    """The classes with the lowest accuracy at the latest epoch: (name, accuracy) pairs,
    hardest first."""
    if matrix.size == 0:
        return []
    latest = matrix[:, -1]
    order = [i for i in np.argsort(np.where(np.isnan(latest), np.inf, latest))
             if not np.isnan(latest[i])]
    return [(class_names[i], float(latest[i])) for i in order[:count]]
