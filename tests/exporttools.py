"""Helpers of the exported code's tests: the specs they run, a small IDX data folder, the
layer table the exported code built, and the studio's table of the same spec."""

from __future__ import annotations

import gzip
import os
import random
import struct
from pathlib import Path

from fmnist_core.data.datasets import FASHION_FILES
from fmnist_core.nets.anatomy import describe
from fmnist_core.nets.spec import ModelSpec, SpecError, presets

# a run short enough for a test: one epoch on 600 training images (60 held out), the data
# folder holding a few more so that the limit is seen to apply, and 300 test images
LIMIT_TRAIN, FOLDER_TRAIN, FOLDER_TEST = 600, 800, 300
SHORT_ARGS = ["--epochs", "1", "--limit-train", str(LIMIT_TRAIN)]
# the studio's flip layer is Keras's RandomFlip told when it trains; the exported code has
# Keras's own
STUDIO_KINDS = {"TrainingFlip": "RandomFlip"}

# Python that prints, as JSON, what the exported code left in its globals `g`: the layer
# table of `model`, its parameter count and `test_accuracy`
TABLE_SOURCE = """
import json
print("TABLE " + json.dumps({
    "layers": [[layer.name, type(layer).__name__, list(layer.output.shape[1:])]
               for layer in model.layers],
    "params": model.count_params(),
    "test_accuracy": test_accuracy,
}))
"""


def random_specs(count: int, seed: int) -> list[ModelSpec]:
    """`count` valid specs drawn at random (seeded): small, so a test trains them quickly,
    and together covering the knobs the presets leave alone."""
    draw = random.Random(seed)
    specs = []
    while len(specs) < count:
        blocks = draw.randint(0, 3)
        augment = draw.choice(["none", "flip"])
        fields = dict(
            conv_blocks=blocks, filters=tuple(draw.choice([4, 8, 16]) for _ in range(blocks)),
            convs_per_block=draw.randint(1, 2), kernel_size=draw.randint(1, 5),
            padding=draw.choice(["valid", "same"]),
            activation=draw.choice(["relu", "elu", "gelu", "tanh", "sigmoid"]),
            pooling=draw.choice(["max", "avg", "none"]), pool_size=draw.randint(2, 3),
            batch_norm=draw.random() < 0.5, dropout=draw.choice([0.0, 0.25]),
            dense_units=draw.choice([0, 32, 64]),
            optimizer=draw.choice(["adam", "adamw", "sgd", "rmsprop"]),
            learning_rate=draw.choice([1e-3, 3e-3, 0.01]),
            lr_schedule=draw.choice(["constant", "cosine"]), augment=augment,
            label_smoothing=draw.choice([0.0, 0.1]),
            test_flip=augment == "flip" and draw.random() < 0.5,
            batch_size=draw.choice([32, 64, 100]), epochs=draw.randint(1, 4),
            target_accuracy=draw.choice([None, 0.05]),
            validation_split=draw.choice([0.0, 0.1, 0.2]),
            train_images=draw.choice([None, 1000]), seed=draw.randint(0, 1000))
        try:
            specs.append(ModelSpec(**fields))
        except SpecError:
            continue  # an impossible one (a kernel larger than its map): draw again
    return specs


def specs_to_run() -> dict[str, ModelSpec]:
    """Every preset and three random specs, by a name for the test's ids."""
    drawn = {f"random{i}": spec for i, spec in enumerate(random_specs(3, seed=74))}
    return {**presets(), **drawn}


def idx_folder(folder: Path, data) -> Path:
    """The first FOLDER_TRAIN training and FOLDER_TEST test images and labels of `data` as
    the four gzipped IDX files the exported code reads."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": data.x_train[:FOLDER_TRAIN], "y_train": data.y_train[:FOLDER_TRAIN],
              "x_test": data.x_test[:FOLDER_TEST], "y_test": data.y_test[:FOLDER_TEST]}
    for key, array in arrays.items():
        magic = 0x0803 if array.ndim == 3 else 0x0801
        header = struct.pack(">" + "I" * (1 + array.ndim), magic, *array.shape)
        with gzip.open(folder / f"{FASHION_FILES[key]}.gz", "wb") as f:
            f.write(header + array.tobytes())
    return folder


def code_env(data_dir: Path) -> dict[str, str]:
    """The environment the exported code runs in: the small data folder, TensorFlow, no
    path to this project, and matplotlib's own choice of backend (importing Streamlit sets
    MPLBACKEND=Agg for the whole process, which would keep a notebook's curves out of it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND")}
    env.update(FMNIST_DATA_DIR=str(data_dir), KERAS_BACKEND="tensorflow",
               TF_CPP_MIN_LOG_LEVEL="3", STUDIO_URL="http://studio.example:8501")
    return env


def studio_table(spec: ModelSpec) -> dict:
    """What the exported code's TABLE line must say for `spec`, from the studio's own
    layer table (`anatomy.describe`, checked against Keras in tests/test_anatomy.py)."""
    info = describe(spec)
    return {"layers": [[row["name"], STUDIO_KINDS.get(row["type"], row["type"]),
                        row["output_shape"]] for row in info["layers"]],
            "params": info["total_params"]}


def short_run_counts(spec: ModelSpec) -> str:
    """The line the exported code prints about its images in a short run."""
    n_val = int(LIMIT_TRAIN * spec.validation_split)
    return (f"{LIMIT_TRAIN - n_val} training images, {n_val} validation images, "
            f"{FOLDER_TEST} test images")
