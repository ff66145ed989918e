"""fmnist_core.data.feed: the batches `fit` and `predict` are given, on hand-made arrays."""

import numpy as np
import pytest

from fmnist_core.data import feed
from fmnist_core.nets.model import build_model
from fmnist_core.nets.spec import preset


def numbered(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n (28, 28) uint8 images, image i filled with i % 256, and label i, so a batch tells
    which images it holds and whether each label stayed with its image."""
    x = np.broadcast_to((np.arange(n) % 256).astype(np.uint8)[:, None, None], (n, 28, 28))
    return np.ascontiguousarray(x), np.arange(n, dtype=np.int64)


def epochs_of(dataset, count: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    return [[(np.asarray(x), np.asarray(y)) for x, y in dataset] for _ in range(count)]


def test_training_batches_hold_every_image_once_an_epoch_in_a_new_order():
    x, y = numbered(300)
    args, kwargs = feed.training_input(x, y, 64, seed=3)
    assert kwargs == {"shuffle": False} and len(args) == 1  # it shuffles itself
    epochs = epochs_of(args[0], 3)
    orders = []
    for batches in epochs:
        assert [len(labels) for _, labels in batches] == [64, 64, 64, 64, 44]
        labels = np.concatenate([labels for _, labels in batches])
        images = np.concatenate([images for images, _ in batches])
        assert sorted(labels.tolist()) == list(range(300))
        # each label still travels with its own image
        assert (images[:, 0, 0] == labels % 256).all() and (images == x[labels]).all()
        orders.append(labels.tolist())
    assert orders[0] != list(range(300))
    assert orders[0] != orders[1] != orders[2]
    # the same seed draws the same orders again
    again = feed.training_input(x, y, 64, seed=3)[0][0]
    assert [np.concatenate([lab for _, lab in b]).tolist()
            for b in epochs_of(again, 3)] == orders


def test_the_pipelines_do_not_autotune():
    x, y = numbered(50)
    pipelines = [feed.training_input(x, y, 16, seed=1)[0][0],
                 feed.prediction_input(x, 16)[0][0], feed.labelled_input(x, y, 16)]
    for pipeline in pipelines:
        assert pipeline.options().autotune.enabled is False


def test_prediction_and_labelled_batches_keep_the_order():
    x, y = numbered(70)
    (images,), kwargs = feed.prediction_input(x, 32)
    assert kwargs == {}
    batches = [np.asarray(batch) for batch in images]
    assert [len(b) for b in batches] == [32, 32, 6]
    assert (np.concatenate(batches) == x).all()
    pairs = list(feed.labelled_input(x, y, 32))
    assert np.concatenate([np.asarray(labels) for _, labels in pairs]).tolist() == \
        list(range(70))


def test_predict_answers_as_keras_does_on_the_arrays():
    model = build_model(preset("seed-cnn"))
    x, _ = numbered(45)
    expected = model.predict(x, batch_size=20, verbose=0)
    np.testing.assert_allclose(feed.predict(model, x, 20), expected, rtol=1e-5, atol=1e-6)
    one_batch = feed.predict(model, x[:7], 20)  # through predict_on_batch
    assert isinstance(one_batch, np.ndarray)
    np.testing.assert_allclose(one_batch, expected[:7], rtol=1e-5, atol=1e-6)


def test_other_backends_get_the_arrays(monkeypatch):
    monkeypatch.setattr(feed, "_tensorflow", lambda: None)
    x, y = numbered(10)
    args, kwargs = feed.training_input(x, y, 4, seed=1)
    assert args[0] is x and args[1] is y
    assert kwargs == {"batch_size": 4, "shuffle": True}
    args, kwargs = feed.prediction_input(x, 4)
    assert args[0] is x and kwargs == {"batch_size": 4}
    pairs = feed.labelled_input(x, y, 4)
    assert pairs[0] is x and pairs[1] is y


@pytest.mark.parametrize("n", [1, 64])
def test_a_single_batch_or_image_is_fed(n):
    x, y = numbered(n)
    batches = epochs_of(feed.training_input(x, y, 64, seed=0)[0][0], 1)[0]
    assert len(batches) == 1 and len(batches[0][1]) == n
