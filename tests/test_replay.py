import numpy as np
import pytest

from fmnist_core.job import TrainingJob
from fmnist_core.replay import EpochReplay
from fmnist_core.spec import ModelSpec

SPEC = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=3, batch_size=64)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, small_data):
    from fmnist_core.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("replay"))
    job = TrainingJob(SPEC, "alice", store, dataset=small_data)
    job.start()
    assert job.wait(120) and job.status == "completed"
    return store, job.run_id, EpochReplay(SPEC, store.checkpoints(job.run_id))


def test_every_epoch_is_replayed_and_the_last_is_the_saved_model(replayed, small_data):
    store, run_id, replay = replayed
    image = small_data.x_test[0]
    assert replay.epochs == [1, 2, 3]
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
    assert answers.shape == (3, 10)
    np.testing.assert_allclose(answers[-1], probs_3, atol=1e-5)
    np.testing.assert_allclose(answers[0], probs_1, atol=1e-5)
    life = replay.filter_life("conv1", 2)
    assert life.shape == (3, 3, 3)
    np.testing.assert_allclose(life[:, :, -1], last_kernel[:, :, 0, 2], rtol=1e-6)
    assert replay.predict(2, small_data.x_test[:50]).shape == (50, 10)


def test_an_epoch_that_was_not_kept_is_refused(replayed):
    with pytest.raises(ValueError, match="`epoch`"):
        replayed[2].features(7, np.zeros((28, 28), np.uint8))
    with pytest.raises(ValueError, match="`checkpoints`"):
        EpochReplay(SPEC, {})
