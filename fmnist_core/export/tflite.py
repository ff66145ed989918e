"""A run's trained model as a TensorFlow Lite file: the same network answering on a phone or a
small board (a Raspberry Pi) through a TFLite interpreter, without Keras or TensorFlow there.

TensorFlow's converter turns the stored .keras model (the model as the run answers, with its
test-time flip when it has one) into one flat file. Its input is what the studio's model
takes, (batch, 28, 28) uint8 images, light on dark; its output the 10 classes'
probabilities. A run without a saved model (it did not learn, or was stopped before it
trained) has nothing to convert: one sentence says why.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

# why a run has no model to convert, by its status
_NO_MODEL = {
    "queued": "it has not trained yet",
    "running": "it is still training",
    "diverged": "it did not learn, so no model was saved",
    "failed": "its training failed before a model was saved",
    "cancelled": "it was cancelled before it trained",
    "interrupted": "its training was interrupted before a model was saved",
    "stopped": "it was stopped before its training began",
}


def tflite_bytes(store, run_id: str) -> bytes:
    """The run's stored model converted to TFLite (the .tflite file's bytes).

    Raises:
        RunNotFoundError: no such run.
        ValueError: the run has no saved model (a sentence saying why).
        RuntimeError: TensorFlow is not installed or Keras runs on another backend (a
            sentence).
    """
    run = store.get_run(run_id)
    if not store.model_file(run_id).is_file():
        why = _NO_MODEL.get(run["status"], "its model file is gone")
        raise ValueError(f"Run {run_id} has no saved model to convert to TFLite: {why}.")
    converter_module = _tensorflow_lite()
    model = store.load_model(run_id)
    converter = converter_module.TFLiteConverter.from_keras_model(model)
    # the converter exports the model first and prints the export's signature to stdout,
    # which would land in a CLI's output or a server's log
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def write_tflite(store, run_id: str, path: str | Path) -> Path:
    """Writes `tflite_bytes` to `path`; returns it."""
    path = Path(path)
    path.write_bytes(tflite_bytes(store, run_id))
    return path


def _tensorflow_lite():
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("The TFLite export converts with TensorFlow's converter, which needs "
                           "Keras on TensorFlow: set KERAS_BACKEND=tensorflow.")
    try:
        import tensorflow as tf
    except ImportError as err:  # pragma: no cover - Keras's TensorFlow backend imports it
        raise RuntimeError("The TFLite export converts with TensorFlow; install it: "
                           "pip install tensorflow") from err
    return tf.lite
