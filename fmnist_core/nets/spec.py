"""ModelSpec: every knob a student turns, validated and frozen, saved with each run.

Field names follow Keras (`filters`, `kernel_size`, `pool_size`, `batch_size`, `epochs`) so a
spec reads like the code it builds. Any run can be rebuilt from its stored `to_json()`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from fmnist_core.data.datasets import DATASETS

IMAGE_SIZE = 28
MAX_CONV_BLOCKS = 3
SHOWN_LENGTH = 60  # characters of a refused value that a sentence repeats
# A run trains on 100 images at least (fewer leave a validation split of a handful), at
# most on the 60,000 of either dataset's training set.
MIN_TRAIN_IMAGES, MAX_TRAIN_IMAGES = 100, 60_000
PADDINGS = ("valid", "same")
ACTIVATIONS = ("relu", "elu", "gelu", "tanh", "sigmoid")
POOLINGS = ("max", "avg", "none")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
AUGMENTS = ("none", "flip")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A CNN (or dense baseline) and how to train it.

    Construction validates every field and raises `ValueError` naming the field, the
    expected range and the value received.
    """

    dataset: str = "fashion_mnist"  # "fashion_mnist" or "mnist"
    conv_blocks: int = 2  # 0 = dense baseline (no convolution), up to 3
    filters: tuple[int, ...] = (64, 64)  # per block; one number is used for every block
    convs_per_block: int = 1  # Conv2D layers before each pooling (VGG style uses 2)
    kernel_size: int = 3  # odd or even, 1..9, square kernels
    padding: str = "valid"  # "valid" shrinks 28→26 with a 3×3 kernel, "same" keeps 28
    activation: str = "relu"
    pooling: str = "max"  # "max", "avg" or "none"
    pool_size: int = 2  # 2 quarters the feature map (26→13)
    batch_norm: bool = False  # BatchNormalization after each Conv2D
    dropout: float = 0.0  # rate before the dense head, 0..0.9
    dense_units: int = 512  # hidden Dense layer width; 0 = none
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # "cosine" glides the rate down to 0 over all the epochs
    augment: str = "none"  # "flip" mirrors a random half of each batch left-right in training
    label_smoothing: float = 0.0  # 0.1 trains toward 90 % on the right class, not 100 %
    test_flip: bool = False  # answer with the average of the image's and its mirror's
    batch_size: int = 128
    epochs: int = 5
    target_accuracy: float | None = None  # stop once validation (else train) accuracy reaches it
    validation_split: float = 0.1  # last fraction of the training set held out, 0..0.5
    train_images: int | None = None  # the first N training images (validation included); None: all
    seed: int = 0

    def __post_init__(self) -> None:
        # before `filters` is broadcast to it: a count of 10**9 from a link would build a
        # tuple of 8 GB, and one of 10**22 cannot be a tuple's length at all
        _int_range("conv_blocks", self.conv_blocks, 0, MAX_CONV_BLOCKS)
        filters = self.filters
        if isinstance(filters, (int, float)) and not isinstance(filters, bool):
            filters = (int(filters),) * self.conv_blocks
        elif isinstance(filters, (list, tuple)):
            filters = tuple(filters)
            if len(filters) == 1 and self.conv_blocks > 1:
                filters = filters * self.conv_blocks
        else:
            _fail("filters", "an int or a tuple of ints", filters)
        object.__setattr__(self, "filters", filters)
        if self.target_accuracy is not None:
            object.__setattr__(self, "target_accuracy", float(self.target_accuracy))
        self._validate()

    def _validate(self) -> None:
        _choice("dataset", self.dataset, DATASETS)
        if len(self.filters) != self.conv_blocks:
            _fail("filters", f"{self.conv_blocks} values (one per conv block)", self.filters)
        for f in self.filters:
            _int_range("filters", f, 1, 512)
        _int_range("convs_per_block", self.convs_per_block, 1, 3)
        _int_range("kernel_size", self.kernel_size, 1, 9)
        _choice("padding", self.padding, PADDINGS)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("pooling", self.pooling, POOLINGS)
        _int_range("pool_size", self.pool_size, 1, 7)
        if not isinstance(self.batch_norm, bool):
            _fail("batch_norm", "True or False", self.batch_norm)
        _float_range("dropout", self.dropout, 0.0, 0.9)
        _int_range("dense_units", self.dense_units, 0, 4096)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _float_range("learning_rate", self.learning_rate, 1e-6, 10.0)
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _choice("augment", self.augment, AUGMENTS)
        _float_range("label_smoothing", self.label_smoothing, 0.0, 0.5)
        _int_range("batch_size", self.batch_size, 1, 8192)
        _int_range("epochs", self.epochs, 1, 200)
        if self.target_accuracy is not None:
            _float_range("target_accuracy", self.target_accuracy, 0.01, 1.0)
        _float_range("validation_split", self.validation_split, 0.0, 0.5)
        if self.train_images is not None:
            _int_range("train_images", self.train_images, MIN_TRAIN_IMAGES, MAX_TRAIN_IMAGES)
        _int_range("seed", self.seed, 0, 2**31 - 1)
        if not isinstance(self.test_flip, bool):
            _fail("test_flip", "True or False", self.test_flip)
        if self.test_flip and self.augment != "flip":
            raise SpecError(
                "test_flip", "Argument `test_flip` needs augment='flip', received "
                f"augment={self.augment!r}: a network that never trained on mirrored images "
                "answers worse for them.",
                "The test-time flip needs flip augmentation: a network that never saw a "
                "mirrored picture while training answers worse for one.")
        if self.augment == "flip" and self.dataset == "mnist":
            raise SpecError(
                "augment", "Argument `augment` must be 'none' for dataset='mnist', received "
                "'flip': a mirrored digit is not the digit it was.",
                "Flip augmentation is for clothes, not digits: a mirrored 2 is no digit. "
                "Choose augmentation none for MNIST.")
        self.feature_map_sizes()

    def feature_map_sizes(self) -> list[tuple[str, int]]:
        """The spatial size after each conv and pooling layer.

        Returns:
            A list of (layer name, size) pairs, e.g. [("conv1", 26), ("pool1", 13), …].

        Raises:
            ValueError: a kernel larger than the map it meets, or pooling a map smaller
                than the pool (an impossible spec).
        """
        size = IMAGE_SIZE
        sizes = []
        for block in range(1, self.conv_blocks + 1):
            for conv in range(1, self.convs_per_block + 1):
                name = conv_name(block, conv, self.convs_per_block)
                if self.padding == "valid":
                    if self.kernel_size > size:
                        k = self.kernel_size
                        raise SpecError(
                            "kernel_size", f"Argument `kernel_size` must be at most {size} (the "
                            f"size of the feature map that {name} meets), received {k}; use a "
                            "smaller kernel, fewer blocks or padding='same'.",
                            f"A {k}×{k} kernel does not fit the {size}×{size} map that "
                            f"{_where(block, conv, self.convs_per_block)} sees; use fewer "
                            "blocks, a smaller kernel or 'same' padding.")
                    size = size - self.kernel_size + 1
                sizes.append((name, size))
            if self.pooling != "none":
                if size < self.pool_size or size < 2:
                    p = self.pool_size
                    raise SpecError(
                        "pool_size", f"Argument `pool_size` must be at most {size} and the map "
                        f"larger than 1×1 for pool{block}, which meets a {size}×{size} map, "
                        f"received {p}; use a smaller pool, fewer blocks or pooling='none'.",
                        f"A {p}×{p} pooling does not fit the {size}×{size} map that the "
                        f"{_ORDINALS[block]} block's pooling meets; use fewer blocks, a smaller "
                        "pool size" + (", 'same' padding" if self.padding == "valid" else "")
                        + " or no pooling.")
                size //= self.pool_size
                sizes.append((f"pool{block}", size))
        return sizes

    def train_limit(self, server_limit: int | None = None) -> int | None:
        """The first N training images (validation included) this spec trains on where the
        server allows `server_limit` (None: any); None: every image there is."""
        wanted = [n for n in (self.train_images, server_limit) if n]
        return min(wanted) if wanted else None

    def images(self, available: int, server_limit: int | None = None) -> int:
        """Training images (validation included) this spec trains on where `available`
        exist and the server allows `server_limit` (None: any)."""
        return min(available, self.train_limit(server_limit) or available)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["filters"] = list(self.filters)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown spec field(s) {unknown}; known fields are {sorted(known)}.")
        data = dict(data)
        if "filters" in data and isinstance(data["filters"], list):
            data["filters"] = tuple(data["filters"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed; `filters` follows a new `conv_blocks`."""
        blocks = changes.get("conv_blocks")
        # only a possible count is broadcast; validation refuses any other in one sentence
        if ("filters" not in changes and isinstance(blocks, int)
                and 0 <= blocks <= MAX_CONV_BLOCKS):
            first = self.filters[0] if self.filters else 32
            changes["filters"] = (first,) * blocks
        return dataclasses.replace(self, **changes)

    def summary(self, with_output: bool = False) -> str:
        """One line, e.g. "Conv 64 3×3 → MaxPool 2 → Conv 64 3×3 → MaxPool 2 → Dense 512",
        then how it trains when that is unusual: " · flip augmentation · label smoothing 0.1".
        `with_output` names the softmax layer too (after the layers, before the training)."""
        parts = []
        if self.conv_blocks:
            pool = {"max": "MaxPool", "avg": "AvgPool", "none": ""}[self.pooling]
            blocks = []
            for f in self.filters:
                conv = f"Conv {f} {self.kernel_size}×{self.kernel_size}"
                if self.convs_per_block > 1:
                    conv = f"{self.convs_per_block}×{conv}"
                blocks.append(conv + (f" → {pool} {self.pool_size}" if pool else ""))
            parts.append(" → ".join(blocks))
        if self.dense_units:
            parts.append(f"Dense {self.dense_units}")
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        line = " → ".join(parts) if parts else "Dense 10 (logistic regression)"
        if with_output and parts:
            line += " → Dense 10 (softmax)"
        extras = [f"{self.augment} augmentation"] if self.augment != "none" else []
        if self.test_flip:
            extras.append("test-time flip")
        if self.label_smoothing:
            extras.append(f"label smoothing {self.label_smoothing:g}")
        return " · ".join([line, *extras])


    def brief(self) -> str:
        """The network in a few words, for a narrow table column: "Conv 64, 64 → Dense 512",
        "Conv 2×32, 2×64 → Dense 256", "Conv 32 5×5 avg pool → Dense 128"; the kernel size
        when not 3×3 and the pooling when not max; `summary` has the whole line."""
        parts = []
        if self.conv_blocks:
            each = f"{self.convs_per_block}×" if self.convs_per_block > 1 else ""
            conv = "Conv " + ", ".join(f"{each}{f}" for f in self.filters)
            if self.kernel_size != 3:
                conv += f" {self.kernel_size}×{self.kernel_size}"
            if self.pooling != "max":
                conv += " no pool" if self.pooling == "none" else " avg pool"
            parts.append(conv)
        if self.dense_units:
            parts.append(f"Dense {self.dense_units}")
        return " → ".join(parts) if parts else "Dense 10"


def conv_name(block: int, index: int, convs_per_block: int) -> str:
    """Layer name of a convolution: conv1, conv2… or conv1a, conv1b… with several per block."""
    return f"conv{block}" if convs_per_block == 1 else f"conv{block}{'abc'[index - 1]}"


class SpecError(ValueError):
    """An invalid or impossible spec. `str(err)` names the argument, Keras style;
    `err.student` says the same for a student, and `err.field` is the field's name."""

    def __init__(self, field: str, message: str, student: str):
        super().__init__(message)
        self.field = field
        self.student = student


# How the Train page names each field, for the sentences a student reads.
FIELD_LABELS = {
    "dataset": "The dataset", "conv_blocks": "Conv blocks", "filters": "Filters",
    "convs_per_block": "Convs per block", "kernel_size": "The kernel size",
    "padding": "Padding", "activation": "The activation", "pooling": "Pooling",
    "pool_size": "The pool size", "batch_norm": "Batch norm", "dropout": "Dropout",
    "dense_units": "Dense units", "optimizer": "The optimizer",
    "learning_rate": "The learning rate", "lr_schedule": "The learning-rate schedule",
    "augment": "Augmentation", "label_smoothing": "Label smoothing",
    "test_flip": "The test-time flip",
    "batch_size": "The batch size", "epochs": "Epochs", "target_accuracy": "The target accuracy",
    "validation_split": "The validation split", "seed": "The seed",
    "train_images": "Training images",
}
_ORDINALS = {1: "first", 2: "second", 3: "third"}


def _where(block: int, conv: int, convs_per_block: int) -> str:
    if convs_per_block == 1:
        return f"the {_ORDINALS[block]} block"
    return f"convolution {conv} of the {_ORDINALS[block]} block"


def _fail(name: str, expected: str, received: Any) -> None:
    shown = _shown(received)
    raise SpecError(name, f"Argument `{name}` must be {expected}, received {shown}.",
                    f"{FIELD_LABELS.get(name, name)} must be {expected}, not {shown}.")


def _shown(value: Any) -> str:
    """`repr(value)`, cut to SHOWN_LENGTH characters: a value from a link or a flag can be
    4 KB (a repr of 28 KB), which would make the sentence a page long."""
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"


def _int_range(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(name, f"an integer from {low} to {high}", value)


def _float_range(name: str, value: Any, low: float, high: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        _fail(name, f"a number from {low:g} to {high:g}", value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(name, f"one of {choices}", value)


PRESET_NOTES = {
    "dense": "The tutorial's baseline without convolution: Flatten → Dense 128 → Dense 10, "
    "about 88 % on Fashion-MNIST.",
    "seed-cnn": "The classic tutorial CNN: Conv 64 3×3 → MaxPool 2 → Conv 64 3×3 → MaxPool 2 "
    "→ Dense 512 → Dense 10, 862,410 parameters.",
    "quick": "A small CNN that passes 90 % in three short epochs: 16 filters keep the dense "
    "layer small, small batches take many steps, and the learning rate glides down to 0 "
    "(cosine schedule).",
    "best": "Two VGG-style blocks with batch norm and dropout, trained on mirrored pictures "
    "too, toward 90 % sure answers (label smoothing), answering with the average of the "
    "picture's and its mirror's: the highest accuracy here in minutes on a CPU.",
}


def presets() -> dict[str, ModelSpec]:
    """The named starting points; a fresh dict each call (specs themselves are frozen)."""
    return {
        "dense": ModelSpec(conv_blocks=0, filters=(), dense_units=128, epochs=5,
                           batch_size=32),
        "seed-cnn": ModelSpec(conv_blocks=2, filters=(64, 64), kernel_size=3, pooling="max",
                              pool_size=2, dense_units=512, epochs=5, batch_size=128),
        "quick": ModelSpec(conv_blocks=1, filters=(16,), kernel_size=3, pooling="max",
                           dense_units=128, epochs=3, batch_size=64, learning_rate=3e-3,
                           lr_schedule="cosine"),
        "best": ModelSpec(conv_blocks=2, filters=(32, 64), convs_per_block=2, padding="same",
                          batch_norm=True, dropout=0.4, dense_units=256, epochs=22,
                          batch_size=128, learning_rate=2e-3, lr_schedule="cosine",
                          augment="flip", label_smoothing=0.1, test_flip=True),
    }


def preset(name: str) -> ModelSpec:
    """One preset by name; ValueError naming the known presets otherwise."""
    table = presets()
    if name not in table:
        raise ValueError(f"Argument `preset` must be one of {tuple(table)}, received {name!r}.")
    return table[name]
