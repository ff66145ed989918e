import numpy as np
import pytest

from fmnist_core.training.job import TrainingJob
from fmnist_core.explain.replay import EpochReplay
from fmnist_core.nets.spec import ModelSpec

SPEC = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=3, batch_size=64)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, small_data):
    from fmnist_core.store.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("replay"))
    job = TrainingJob(SPEC, "alice", store, dataset=small_data)
    job.start()
    assert job.wait(120) and job.status == "completed"
    return store, job.run_id, EpochReplay(SPEC, store.checkpoints(job.run_id))


def test_every_epoch_is_replayed_and_the_last_is_the_saved_model(replayed, small_data):
    store, run_id, replay = replayed
    image = small_data.x_test[0]
    assert replay.epochs == [0, 1, 2, 3]  # 0: the weights before the first batch
    final = store.load_model(run_id)
    last_kernel = final.get_layer("conv1").get_weights()[0]
    np.testing.assert_allclose(replay.kernel(3, "conv1"), last_kernel, rtol=1e-6)
    assert not np.allclose(replay.kernel(1, "conv1"), last_kernel)
    maps_1, probs_1 = replay.features(1, image)
    maps_3, probs_3 = replay.features(3, image)
    assert [m.name for m in maps_1] == [m.name for m in maps_3] == ["conv1", "pool1"]
    assert not np.allclose(maps_1[0].maps, maps_3[0].maps)
    np.testing.assert_allclose(probs_3, np.asarray(final(image[None]))[0], atol=1e-5)
    answers = replay.class_probabilities(image)
    assert answers.shape == (4, 10)
    np.testing.assert_allclose(answers[-1], probs_3, atol=1e-5)
    np.testing.assert_allclose(answers[1], probs_1, atol=1e-5)
    life = replay.filter_life("conv1", 2)
    assert life.shape == (3, 3, 4)
    np.testing.assert_allclose(life[:, :, -1], last_kernel[:, :, 0, 2], rtol=1e-6)
    np.testing.assert_allclose(life[:, :, 0], replay.kernel(0, "conv1")[:, :, 0, 2])
    assert replay.predict(2, small_data.x_test[:50]).shape == (50, 10)


def test_an_epoch_that_was_not_kept_is_refused(replayed):
    with pytest.raises(ValueError, match="`epoch`"):
        replayed[2].features(7, np.zeros((28, 28), np.uint8))
    with pytest.raises(ValueError, match="`checkpoints`"):
        EpochReplay(SPEC, {})


def test_epoch_0_is_the_network_before_its_first_step(replayed, small_data):
    import keras

    from fmnist_core.nets.model import build_model

    _, _, replay = replayed
    # the fit loop seeds Keras with the spec's seed, then builds: so does this
    keras.utils.set_random_seed(SPEC.seed)
    start = build_model(SPEC, 10)
    with replay.at(0) as model:
        replayed_weights = model.get_weights()
    assert len(replayed_weights) == len(start.get_weights()) == 6  # conv, dense, output
    for replayed_w, start_w in zip(replayed_weights, start.get_weights()):
        np.testing.assert_array_equal(replayed_w, start_w)
    np.testing.assert_array_equal(replay.kernel(0, "conv1"),
                                  start.get_layer("conv1").get_weights()[0])
    assert not np.allclose(replay.kernel(0, "conv1"), replay.kernel(1, "conv1"))
    # untrained, it answers about as well as guessing
    probs = replay.predict(0, small_data.x_test)
    assert (probs.argmax(axis=1) == small_data.y_test).mean() < 0.3


def test_a_run_without_its_starting_weights_replays_from_epoch_1(replayed):
    store, run_id, _ = replayed
    older = {e: path for e, path in store.checkpoints(run_id).items() if e > 0}
    replay = EpochReplay(SPEC, older)
    assert replay.epochs == [1, 2, 3]
    assert replay.filter_life("conv1", 0).shape == (3, 3, 3)
