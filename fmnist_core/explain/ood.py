"""How unlike the training images is an input: an out-of-distribution score for one model.

The score adds four standardised measures (`PARTS`), three read from the features that the
output layer receives (the penultimate layer) and one from the picture itself:

- distance: the Mahalanobis distance to the nearest class centre, with one covariance shared
  by all classes (Lee et al., 2018): features far from every class's cluster;
- energy: -logsumexp of the logits (Liu et al., 2020), where the logits are the output
  Dense layer's pre-activation (features · kernel + bias): an input that excites no class;
- features' nearest: the cosine distance to the features of the nearest of 5,000 training
  images (Sun et al., 2022): no training image that the network sees the same way;
- pixels' nearest: the same for the pixels, each image first reduced to its weights on the
  64 directions that carry most of the training images' pixels (`Nearest`). In all 784
  pixels a garment's print and texture keep it far even from its closest neighbour, and a
  digit hardly stands out (AUROC 0.95 for handwritten digits); in 64 directions, 0.99.

Why four: each alone misses inputs another catches, and which one misses depends on the
model. On the official test images against 1,797 handwritten and 1,000 printed digits
(bench/ood.py, AUROC, quick then seed-cnn): distance 0.88 / 0.96 and 0.96 / 0.996, energy
0.99 / 0.93 and 0.93 / 0.82, features' nearest 0.999 / 0.993 and 0.998 / 0.995, pixels'
nearest 0.99 / 0.998 (the same for any model); their sum 0.999 / 0.999 and 0.998 / 0.9995.
A confidence such as the top softmax probability is weaker still (0.93 / 0.83 and
0.80 / 0.72): a digit 1 is a confident Trouser.

Each part is standardised by its mean and spread on held-out Fashion-MNIST images, and the
threshold is the 99th percentile of the sum on those images (`QUANTILE`), so about 99 of 100
images like the training images pass: 0.9 % and 0.8 % of the official test images are
flagged, and 99.4 % and 98.3 % of the handwritten digits, 99.6 % and 100 % of the printed
ones. The threshold before, the 95th percentile of the first two parts, flagged about one
test image in twenty (5.2 % and 4.7 %); those two parts could not flag few test images and
most digits at any threshold (quick: at the 99th percentile 1.2 % of the test images and
16 % of the handwritten digits, at the 98th 2.2 % and 74 %).

Fitting reads up to 10,000 training images once, when training ends (about 2 s); the result
is a few arrays, kept beside the model as `models/<run id>.ood.npz` (see `path_for`): 1.6 MB
for quick, 2.7 MB for seed-cnn (its 512 features' covariance is 1 MB). A file fitted before
the studio had the last two parts holds the first two and its own threshold (the 95th
percentile then), and is scored with those.

Typical use:

    ood = fit(model, x_train, y_train, x_val)        # when training ends
    ood.save(path_for(model_file))
    ood = OodModel.load(path_for(model_file))        # later, with the model
    ood.is_unusual(model, images)                    # (n,) bool
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import keras
import numpy as np

from fmnist_core.data import feed
from fmnist_core.explain.inspection import _check_images
from fmnist_core.nets.model import output_layer

FILE_NAME = "ood.npz"  # beside the model: models/<run id>.ood.npz
FIT_LIMIT = 10_000  # training images read by `fit`; class centres settle well before that
MIN_HELD_OUT = 20
# The share of held-out images that pass: at 0.99 about one official test image in a hundred
# is flagged (at 0.95, one in twenty), while nearly every digit still is (bench/ood.py).
QUANTILE = 0.99
PARTS = ("distance", "energy", "features' nearest", "pixels' nearest")
# Features wider than this (a Flatten straight into the output) are averaged over the map's
# positions first, so the covariance stays small.
MAX_FEATURES = 2048
# Shrinks the covariance towards its average variance, so units that never fire on the
# training images (ReLU) do not make it singular.
SHRINKAGE = 1e-3
BANK_SIZE = 5000  # training images kept for the nearest-image parts (10,000 measured no better)
RANK = 64  # directions each image is reduced to before it is compared
PREDICT_BATCH_SIZE = 1000
CHUNK = 1000  # images compared with the bank at a time: a (1000, BANK_SIZE) float32 block
_ARRAYS = ("whitening", "centres", "classes", "stats", "threshold", "quantile", "pooled")
_BANKS = ("feature_basis", "feature_bank", "pixel_basis", "pixel_bank")


class OodModel:
    """The fitted score of one model; small, saved as .npz beside the model file.

    Attributes:
        whitening: (d, d) float32; ||(f - centre) @ whitening|| is the Mahalanobis distance.
        centres: (k, d) float32, the class means already multiplied by `whitening`.
        classes: (k,) int64, the classes the centres belong to.
        stats: (2p,) float64, the mean and standard deviation of each of the p parts on the
            held-out images, in the order of `PARTS`.
        threshold: the score above which an input is unusual.
        quantile: the share of held-out images at or below the threshold.
        pooled: whether the features were averaged over positions (see MAX_FEATURES).
        features, pixels: the `Nearest` banks of the last two parts; None in a file fitted
            before the studio had them, whose score then adds the first two parts only.
    """

    def __init__(self, whitening, centres, classes, stats, threshold, quantile, pooled,
                 features: Nearest | None = None, pixels: Nearest | None = None):
        self.whitening = np.asarray(whitening, np.float32)
        self.centres = np.asarray(centres, np.float32)
        self.classes = np.asarray(classes, np.int64)
        self.stats = np.asarray(stats, np.float64)
        self.threshold = float(threshold)
        self.quantile = float(quantile)
        self.pooled = bool(pooled)
        self.features, self.pixels = features, pixels
        self._extractors = weakref.WeakKeyDictionary()

    def parts(self, model, images: np.ndarray) -> tuple[np.ndarray, ...]:
        """The parts of `PARTS` this score holds, each (n,) float64, before standardising.

        Args:
            model: the model this was fitted for.
            images: (n, 28, 28) uint8.
        """
        images = _check_images(images)
        features, logits = self._features(model, images)
        if features.shape[1] != self.whitening.shape[0]:
            raise ValueError(f"Argument `model` gives {features.shape[1]} features, but this "
                             f"score was fitted on a model with {self.whitening.shape[0]}.")
        parts = (_distance(features, self.whitening, self.centres), _energy(logits))
        if self.features is None or self.pixels is None:
            return parts
        return (*parts, self.features(features), self.pixels(_pixels(images)))

    def score(self, model, images: np.ndarray) -> np.ndarray:
        """(n,) float64: how unusual each image is; above `threshold` is unusual.

        Args:
            model: the model this was fitted for.
            images: (n, 28, 28) uint8.
        """
        return self.combine(self.parts(model, images))

    def combine(self, parts: tuple[np.ndarray, ...]) -> np.ndarray:
        """(n,) float64: the score of parts already read with `parts`, the sum of each
        standardised by its mean and spread on the held-out images."""
        return _combine(parts, self.stats)

    def is_unusual(self, model, images: np.ndarray) -> np.ndarray:
        """(n,) bool: the score is above the threshold."""
        return self.score(model, images) > self.threshold

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the arrays to `path` (.npz), atomically; returns the path."""
        path = Path(path)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        banks = {}
        if self.features is not None and self.pixels is not None:
            banks = dict(zip(_BANKS, (*self.features.arrays(), *self.pixels.arrays())))
        with open(partial, "wb") as file:
            np.savez(file, whitening=self.whitening, centres=self.centres,
                     classes=self.classes, stats=self.stats, threshold=self.threshold,
                     quantile=self.quantile, pooled=self.pooled, **banks)
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> OodModel:
        """Reads a file written by `save` (an older one without the banks too); ValueError
        when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                banks = {}
                if all(name in data for name in _BANKS):
                    banks = {"features": Nearest(data["feature_basis"], data["feature_bank"]),
                             "pixels": Nearest(data["pixel_basis"], data["pixel_bank"])}
                return cls(*(data[name] for name in _ARRAYS), **banks)
        except (KeyError, ValueError, OSError) as err:
            raise ValueError(f"Argument `path` must be a file written by OodModel.save, "
                             f"received {str(path)!r} ({err}).") from None

    def _features(self, model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if model not in self._extractors:
            self._extractors[model] = _Extractor(model, self.pooled)
        return self._extractors[model](images)


class Nearest:
    """The cosine distance from a vector to the nearest of a bank of training images'
    vectors, each reduced to its weights on the bank's main directions (Sun et al., 2022,
    on a network's features; here on the pixels too).

    Attributes:
        basis: (d, r) float32, the bank's r main directions (uncentred), as columns.
        bank: (m, r) float32, the bank's reduced vectors scaled to length 1 (saved as
            float16: a distance moves by less than 0.001).
    """

    def __init__(self, basis, bank):
        self.basis = np.asarray(basis, np.float32)
        self.bank = np.asarray(bank, np.float32)

    @classmethod
    def fit(cls, vectors: np.ndarray, rank: int = RANK) -> Nearest:
        """A bank of `vectors`, (m, d) float, reduced to their `rank` main directions."""
        vectors = np.asarray(vectors, np.float64)
        _, directions = np.linalg.eigh(vectors.T @ vectors)  # ascending
        basis = directions[:, ::-1][:, :min(rank, vectors.shape[1])]
        return cls(basis, _unit(vectors @ basis).astype(np.float16))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """(n,) float64 in [0, 2]: 1 − the largest cosine between each of the (n, d)
        `vectors` and the bank's."""
        unit = _unit(np.asarray(vectors, np.float32) @ self.basis)
        nearest = np.empty(len(unit))
        for start in range(0, len(unit), CHUNK):
            nearest[start:start + CHUNK] = (unit[start:start + CHUNK] @ self.bank.T).max(axis=1)
        return 1.0 - nearest

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(basis, bank) as saved: the bank in float16."""
        return self.basis, self.bank.astype(np.float16)


def fit(model, x_train: np.ndarray, y_train: np.ndarray, x_held_out: np.ndarray,
        quantile: float = QUANTILE, limit: int = FIT_LIMIT, seed: int = 0) -> OodModel:
    """Fits the score of a trained model.

    Args:
        model: a trained model from `build_model` (ends with a Dense layer).
        x_train: (n, 28, 28) uint8, the images it was trained on.
        y_train: (n,) integer labels.
        x_held_out: (m, 28, 28) uint8 images of the same kind that it was not trained on
            (the validation split, or the test set); they set the threshold.
        quantile: the share of held-out images that pass.
        limit: at most this many training images are read (a seeded random subset); the
            first `BANK_SIZE` of them, in a seeded random order, make the banks.
        seed: the subset's seed.

    Returns:
        The fitted `OodModel`.
    """
    x_train, x_held_out = _check_images(x_train), _check_images(x_held_out)
    y_train = np.asarray(y_train)
    if y_train.shape != (len(x_train),) or len(x_train) < 2:
        raise ValueError(f"Arguments `x_train` and `y_train` must hold the same number of "
                         f"images and labels, at least 2, received {x_train.shape} and "
                         f"{y_train.shape}.")
    if len(x_held_out) < MIN_HELD_OUT:
        raise ValueError(f"Argument `x_held_out` must hold at least {MIN_HELD_OUT} images, "
                         f"received {len(x_held_out)}.")
    if not 0 < quantile < 1:
        raise ValueError(f"Argument `quantile` must be between 0 and 1, received {quantile}.")
    rng = np.random.default_rng(seed)
    if len(x_train) > limit:
        keep = np.sort(rng.choice(len(x_train), limit, replace=False))
        x_train, y_train = x_train[keep], y_train[keep]
    pooled = _width(output_layer(model).input) > MAX_FEATURES
    extract = _Extractor(model, pooled)
    features = extract(x_train)[0]
    classes = np.unique(y_train)
    means = np.stack([features[y_train == c].mean(axis=0) for c in classes])
    centred = features - means[np.searchsorted(classes, y_train)]
    covariance = centred.T @ centred / len(features)
    covariance += SHRINKAGE * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    values, vectors = np.linalg.eigh(covariance)
    whitening = vectors / np.sqrt(np.maximum(values, 1e-12))
    bank = rng.permutation(len(x_train))[:BANK_SIZE]
    nearest_features = Nearest.fit(features[bank])
    nearest_pixels = Nearest.fit(_pixels(x_train[bank]))
    held_features, held_logits = extract(x_held_out)
    parts = (_distance(held_features, whitening, means @ whitening), _energy(held_logits),
             nearest_features(held_features), nearest_pixels(_pixels(x_held_out)))
    stats = np.ravel([(part.mean(), part.std() or 1.0) for part in parts])
    threshold = np.quantile(_combine(parts, stats), quantile)
    return OodModel(whitening, means @ whitening, classes, stats, threshold, quantile, pooled,
                    nearest_features, nearest_pixels)


def path_for(model_file: str | os.PathLike) -> Path:
    """Where the score of a saved model lives: `models/<run id>.keras` → `<run id>.ood.npz`."""
    return Path(model_file).with_suffix(".ood.npz")


class _Extractor:
    """A sub-model giving the penultimate features (averaged over positions when `pooled`)
    and the logits, built once per model."""

    def __init__(self, model, pooled: bool):
        output = output_layer(model)  # with a test-time flip: the unmirrored image's
        if not isinstance(output, keras.layers.Dense):
            raise ValueError(f"Argument `model` must end with a Dense layer, received one "
                             f"ending with {type(output).__name__}.")
        tensors = [output.input]
        if pooled:
            flatten = [layer for layer in model.layers if isinstance(layer, keras.layers.Flatten)]
            tensors.append(flatten[-1].input)
        self.sub = keras.Model(model.inputs[0], tensors)
        self.kernel = np.asarray(output.kernel, np.float64)
        self.bias = np.asarray(output.bias, np.float64) if output.use_bias else 0.0

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = feed.predict(self.sub, images, PREDICT_BATCH_SIZE)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        penultimate = np.asarray(outputs[0], np.float64)
        logits = penultimate @ self.kernel + self.bias
        features = penultimate if len(outputs) == 1 else np.asarray(outputs[1]).mean(axis=(1, 2))
        return features.astype(np.float64), logits


def _width(tensor) -> int:
    return int(np.prod(tensor.shape[1:]))


def _distance(features: np.ndarray, whitening: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n,) float64 Mahalanobis distance of (n, d) features to the nearest centre."""
    white = features @ whitening.astype(np.float64)
    nearest = np.full(len(white), np.inf)
    for centre in centres.astype(np.float64):
        nearest = np.minimum(nearest, ((white - centre) ** 2).sum(axis=1))
    return np.sqrt(nearest)


def _energy(logits: np.ndarray) -> np.ndarray:
    """(n,) float64 -logsumexp of (n, classes) logits: high when no class is excited."""
    top = logits.max(axis=1)
    return -(top + np.log(np.exp(logits - top[:, None]).sum(axis=1)))


def _pixels(images: np.ndarray) -> np.ndarray:
    """(n, 784) float32 in [0, 1]: each image's pixels in a row."""
    return images.reshape(len(images), -1).astype(np.float32) / 255


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1; a row of zeros stays zeros (and is far from every bank
    vector)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1)).astype(np.float32)


def _combine(parts: tuple[np.ndarray, ...], stats: np.ndarray) -> np.ndarray:
    """(n,) float64: the sum of the parts, each standardised by its (mean, sd) in `stats`."""
    return sum((part - stats[2 * i]) / stats[2 * i + 1] for i, part in enumerate(parts))
