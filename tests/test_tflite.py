"""The TFLite export: the interpreter answers as the stored Keras model does, and a run
without a model is one sentence."""

import warnings

import numpy as np
import pytest

from fmnist_core.export import tflite
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.store.runs import RunStore
from fmnist_core.training.job import TrainingJob

# batch norm, the flip, dropout, label smoothing and the test-time flip: every layer the
# converter meets in a studio's model
SPEC = ModelSpec(conv_blocks=2, filters=(8, 16), convs_per_block=2, padding="same",
                 batch_norm=True, dropout=0.25, dense_units=32, augment="flip",
                 label_smoothing=0.1, test_flip=True, epochs=1, batch_size=64)
MATCH = 1e-4  # the interpreter's probabilities against Keras's, float32 both
IMAGES = 100


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data):
    store = RunStore(tmp_path_factory.mktemp("tflite"))
    job = TrainingJob(SPEC, "alice", store, dataset=small_data.subset(1000, 200))
    job.start()
    assert job.wait(300) and job.status == "completed", job.snapshot()["message"]
    return store, job.run_id


def interpreter_answers(content: bytes, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    with warnings.catch_warnings():  # tf.lite.Interpreter names its successor, LiteRT
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=content)
    (given,), (answer,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert given["dtype"] == np.uint8 and list(given["shape"][1:]) == [28, 28]
    interpreter.resize_tensor_input(given["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(answer["index"])


def test_the_interpreter_answers_as_the_keras_model(trained, tmp_path, fashion):
    store, run_id = trained
    path = tflite.write_tflite(store, run_id, tmp_path / "run.tflite")
    images = np.asarray(fashion.x_test[:IMAGES])
    lite = interpreter_answers(path.read_bytes(), images)
    keras_model = store.load_model(run_id)
    assert keras_model.get_layer("mirror") is not None  # the test-time flip is converted too
    expected = np.asarray(keras_model.predict(images, verbose=0))
    assert lite.shape == (IMAGES, 10)
    np.testing.assert_allclose(lite, expected, atol=MATCH)
    assert (lite.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_a_run_without_a_model_is_one_sentence(tmp_path):
    store = RunStore(tmp_path)
    queued = store.create_run(SPEC, "alice", status="queued")
    with pytest.raises(ValueError) as err:
        tflite.tflite_bytes(store, queued)
    assert str(err.value) == (f"Run {queued} has no saved model to convert to TFLite: it has "
                              "not trained yet.")
    diverged = store.create_run(SPEC, "alice")
    store.finish_run(diverged, "diverged")
    with pytest.raises(ValueError, match="it did not learn, so no model was saved.$"):
        tflite.tflite_bytes(store, diverged)
    with pytest.raises(RunNotFoundError):
        tflite.tflite_bytes(store, "0123456789ab")
    assert not list(tmp_path.glob("**/*.tflite"))
