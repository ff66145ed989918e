"""A spec's layer table by arithmetic: the names, types, output shapes, parameters and FLOPs
of the network `fmnist_core.nets.model.build_model` builds, without loading Keras or a backend.

The Train page previews every spec a student types, and `python -m fmnist_core describe`
answers at once: neither waits for a backend to load (5–20 s on a busy 2-core server).
tests/test_anatomy.py builds specs with Keras and checks every row against the real model.
"""

from __future__ import annotations

from typing import Any

from fmnist_core.nets.spec import IMAGE_SIZE, ModelSpec, conv_name

NUM_CLASSES = 10
# The training images of Fashion-MNIST and of MNIST: an epoch of the full dataset.
FULL_TRAIN_IMAGES = 60_000

# One call into the compiled training function trains a few small batches at once (Keras's
# steps_per_execution), about this much work, so Python's per-step cost stays small while
# the progress callback still hears from the worker several times a second on a 2-core CPU.
WORK_PER_EXECUTION = 8e9  # FLOPs ≈ 0.25 s at 30 GFLOP/s
MAX_STEPS_PER_EXECUTION = 8
# Batch norm's moving statistics keep this much of themselves each batch (Keras's default is
# 0.99), lowered for a short epoch until at most BATCH_NORM_START_LEFT of their start (mean 0,
# variance 1) is left after the first epoch (`fmnist_core.nets.model.batch_norm_momentum`).
# Here, without Keras, so the exported code (`fmnist_core.export.code`) writes the same.
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_START_LEFT = 0.01


def describe(spec: ModelSpec, train_images: int | None = None,
             num_classes: int = NUM_CLASSES) -> dict[str, Any]:
    """The layer table and totals of a spec, without building it.

    Args:
        spec: the spec.
        train_images: images per epoch for the FLOP estimate; default FULL_TRAIN_IMAGES
            less the validation split.
        num_classes: width of the softmax output.

    Returns:
        A dict with `layers` (list of {name, type, output_shape, params, flops}, as Keras
        names the layer classes), `total_params` (batch norm's moving statistics included,
        as Keras counts them), `trainable_params`, `flops_per_image` (forward),
        `train_flops_per_image` and `train_flops_per_epoch`.
    """
    table = _Table()
    table.add("rescale", "Rescaling", [IMAGE_SIZE, IMAGE_SIZE])
    table.add("channel", "Reshape", [IMAGE_SIZE, IMAGE_SIZE, 1])
    if spec.augment == "flip":
        table.add("flip", "TrainingFlip", [IMAGE_SIZE, IMAGE_SIZE, 1])
    size, channels = _conv_blocks(spec, table)
    _head(spec, table, size * size * channels, num_classes)

    rows = table.rows
    total = sum(row["params"] for row in rows)
    train_per_image = train_flops_from([row["flops"] for row in rows])
    if train_images is None:
        train_images = int(spec.images(FULL_TRAIN_IMAGES) * (1 - spec.validation_split))
    return {
        "layers": rows,
        "total_params": total,
        "trainable_params": total - table.frozen,
        "flops_per_image": sum(row["flops"] for row in rows),
        "train_flops_per_image": train_per_image,
        "train_flops_per_epoch": train_per_image * train_images,
    }


class _Table:
    """The rows of the layer table as they are added, and the weights not trained."""

    def __init__(self):
        self.rows: list[dict[str, Any]] = []
        self.frozen = 0  # batch norm's moving mean and variance: weights, but not trained

    def add(self, name: str, kind: str, shape: list[int], params: int = 0,
            flops: int = 0) -> None:
        self.rows.append({"name": name, "type": kind, "output_shape": shape,
                          "params": params, "flops": flops})


def _conv_blocks(spec: ModelSpec, table: _Table) -> tuple[int, int]:
    """Adds the conv blocks' rows; returns the (size, channels) of the last feature map."""
    sizes = dict(spec.feature_map_sizes())
    size, channels = IMAGE_SIZE, 1
    pool_kind = {"max": "MaxPooling2D", "avg": "AveragePooling2D"}.get(spec.pooling)
    for block, filters in enumerate(spec.filters, start=1):
        for index in range(1, spec.convs_per_block + 1):
            name = conv_name(block, index, spec.convs_per_block)
            size = sizes[name]
            shape = [size, size, filters]
            weights = spec.kernel_size ** 2 * channels * filters
            flops = 2 * weights * size * size
            channels = filters
            if spec.batch_norm:  # no bias before the norm; the activation follows it
                table.add(name, "Conv2D", shape, weights, flops)
                table.add(f"{name}_bn", "BatchNormalization", shape, 4 * filters)
                table.add(f"{name}_{spec.activation}", "Activation", shape)
                table.frozen += 2 * filters
            else:
                table.add(name, "Conv2D", shape, weights + filters, flops)
        if pool_kind:
            size = sizes[f"pool{block}"]
            table.add(f"pool{block}", pool_kind, [size, size, channels])
    return size, channels


def _head(spec: ModelSpec, table: _Table, width: int, num_classes: int) -> None:
    """Adds the rows after the conv blocks: flatten, the dense layer, dropout, the output."""
    table.add("flatten", "Flatten", [width])
    if spec.dense_units:
        table.add("dense", "Dense", [spec.dense_units], (width + 1) * spec.dense_units,
                  2 * width * spec.dense_units)
        width = spec.dense_units
    if spec.dropout:
        table.add("dropout", "Dropout", [width])
    table.add("output", "Dense", [num_classes], (width + 1) * num_classes,
              2 * width * num_classes)


def train_flops_from(costs: list[int]) -> int:
    """Training FLOPs for one image from the layers' forward FLOPs, in order: forward +
    backward (about twice the forward), less the input gradient of the first weighted
    layer, which nothing needs."""
    weighted = [c for c in costs if c]
    return 3 * sum(costs) - (weighted[0] if weighted else 0)


def steps_per_execution_for(train_flops: int, batch_size: int) -> int:
    """Batches per call of the training function for a model of `train_flops` training
    FLOPs per image: 1 for heavy models, up to 8 for tiny ones."""
    per_step = train_flops * batch_size
    return int(max(1, min(MAX_STEPS_PER_EXECUTION, WORK_PER_EXECUTION // max(per_step, 1))))
