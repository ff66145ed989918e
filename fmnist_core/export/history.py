"""A run's history out of the studio: a CSV file, or TensorBoard event files.

The CSV has one row per point the curves drew: `kind` "batch" (the running loss and accuracy
during an epoch, at its position in epochs, e.g. 1.62) or "epoch" (an epoch's end, with
validation and each class's validation accuracy, or a stopped epoch's partial figures). The
TensorBoard export writes the same scalars with TensorFlow's own summary writer, and the
first convolution's filters after every stored epoch as images, so
`tensorboard --logdir DIR` shows the run.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from fmnist_core.data.datasets import class_names

EPOCH_FIELDS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "batches",
                "complete")
# a filter mosaic is drawn this many pixels per weight, so a 3×3 kernel is visible
FILTER_ZOOM = 8


def history(store, run_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(batch points, epoch rows) of a stored run: the points the trainer kept in its last
    progress snapshot, the epochs from the store."""
    run = store.get_run(run_id)
    progress = run.get("progress") or {}
    points = [{"position": p[0], "loss": p[1], "accuracy": p[2]}
              for p in progress.get("batch_points", [])]
    return points, store.epochs(run_id)


def csv_text(store, run_id: str) -> str:
    """The run's history as CSV text (see the module docstring for the columns)."""
    run = store.get_run(run_id)
    names = class_names(run["spec"].dataset)
    points, epochs = history(store, run_id)
    per_class = [f"val_accuracy {name}" for name in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "epoch", "position", *EPOCH_FIELDS, *per_class])
    for p in points:
        writer.writerow(["batch", math.ceil(p["position"]), _cell(p["position"]),
                         _cell(p["loss"]), _cell(p["accuracy"]), "", "", "", "", "",
                         *[""] * len(names)])
    for row in epochs:
        position = row["epoch"] if row["complete"] else (
            row["epoch"] - 1 + (row["batches"] or 0) / max(1, _batches_per_epoch(epochs)))
        accuracy = row.get("class_accuracy") or [None] * len(names)
        writer.writerow(["epoch", row["epoch"], _cell(position),
                         *[_cell(row.get(f)) for f in EPOCH_FIELDS],
                         *[_cell(v) for v in accuracy]])
    return out.getvalue()


def write_csv(store, run_id: str, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(csv_text(store, run_id))
    return path


def write_tensorboard(store, run_id: str, logdir: str | Path) -> Path:
    """Writes the run's scalars and first-layer filters as TensorBoard event files in
    `logdir/<run id>`; returns that folder.

    Raises:
        RuntimeError: TensorFlow is not installed (a sentence).
        OSError: The folder cannot be made (`logdir` is a file, say).
    """
    try:
        import tensorboard  # noqa: F401 - tf.summary's writers live in this package
        import tensorflow as tf
    except ImportError as err:
        raise RuntimeError("The TensorBoard export writes with TensorFlow's summary writer; "
                           "install it: pip install tensorflow tensorboard") from err
    run = store.get_run(run_id)
    names = class_names(run["spec"].dataset)
    points, epochs = history(store, run_id)
    folder = Path(logdir) / run_id
    # made here, so that a `logdir` that is a file is the OS's one-line error, not a
    # FailedPreconditionError from inside TensorFlow's writer
    folder.mkdir(parents=True, exist_ok=True)
    steps = _batches_per_epoch(epochs)
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        for p in points:
            step = int(round(p["position"] * steps))
            tf.summary.scalar("batch/loss", p["loss"], step=step)
            tf.summary.scalar("batch/accuracy", p["accuracy"], step=step)
        for row in epochs:
            if not row["complete"]:
                continue
            for field in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if row.get(field) is not None:
                    tf.summary.scalar(f"epoch/{field}", row[field], step=row["epoch"])
            for name, value in zip(names, row.get("class_accuracy") or []):
                if value is not None and not math.isnan(value):
                    tf.summary.scalar(f"class_accuracy/{name}", value, step=row["epoch"])
        for epoch, grid in _filter_images(store, run_id, run["spec"]):
            tf.summary.image("filters/first_conv", grid[None, ..., None], step=epoch)
    writer.flush()
    writer.close()
    return folder


def _filter_images(store, run_id: str, spec) -> list[tuple[int, np.ndarray]]:
    """(epoch, (h, w) float32 in [0, 1]) mosaics of the first convolution's filters after
    every stored epoch, epoch 0 being the starting weights (0.5 is a zero weight)."""
    if spec.conv_blocks == 0:
        return []
    from fmnist_core.explain.replay import EpochReplay

    checkpoints = store.checkpoints(run_id)
    if not checkpoints:
        return []
    replay = EpochReplay(spec, checkpoints)
    layer = "conv1" if spec.convs_per_block == 1 else "conv1a"
    kernels = {epoch: replay.kernel(epoch, layer)[:, :, 0, :] for epoch in replay.epochs}
    bound = max(float(np.abs(k).max()) for k in kernels.values()) or 1.0
    return [(epoch, _mosaic(k, bound)) for epoch, k in kernels.items()]


def _mosaic(kernels: np.ndarray, bound: float) -> np.ndarray:
    k, _, n = kernels.shape
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.full((rows * (k + 1) - 1, columns * (k + 1) - 1), 0.5, np.float32)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * (k + 1): r * (k + 1) + k, c * (k + 1): c * (k + 1) + k] = \
            0.5 + 0.5 * kernels[:, :, i] / bound
    return np.kron(grid, np.ones((FILTER_ZOOM, FILTER_ZOOM), np.float32))


def _batches_per_epoch(epochs: list[dict[str, Any]]) -> int:
    full = [row["batches"] for row in epochs if row.get("complete") and row.get("batches")]
    return max(full) if full else 1


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
