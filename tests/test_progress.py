"""The progress callback's logic, driven hook by hook as Keras drives it, without a network:
Stop and the time limit, a loss that explodes, a first epoch at chance, a target reached."""

from types import SimpleNamespace

import numpy as np
import pytest

from fmnist_core.nets.spec import ModelSpec
from fmnist_core.training import checkpoints
from fmnist_core.training.job import TrainingJob
from fmnist_core.training.progress import Progress
from fmnist_core.training.validation import MIN_JUDGED_STEPS

TINY = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=5, batch_size=64)
NO_VALIDATION_PASS = SimpleNamespace(val_seconds=0.0)


class Answers:
    """Stands in for a model: answers the i-th image of a batch with row i of `probs`."""

    def __init__(self, probs: np.ndarray):
        self.probs = probs
        self.stop_training = False

    def predict_on_batch(self, x):
        return self.probs[: len(x)]


def drive(job, n_fit, validation_xy=None, answering=None) -> Progress:
    """A Progress over `job` with Keras's part played here: its model set, the fit begun."""
    model = Answers(np.zeros((0, 10)))
    progress = Progress(job, n_fit, validation_xy, 10, NO_VALIDATION_PASS, model,
                        answering or model)
    progress.model = model  # what Keras's `set_model` does
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    return progress


def test_a_stop_is_seen_at_the_batch_it_arrives_and_ends_the_fit(store):
    job = TrainingJob(TINY, "alice", store)
    progress = drive(job, n_fit=640)
    progress.on_train_batch_end(0, {"loss": 2.3, "accuracy": 0.1})
    snap = job.snapshot()
    assert snap["steps_done"] == 1 and snap["stop_seen_at_step"] is None
    assert snap["batches_per_epoch"] == 10 and not progress.model.stop_training
    job.stop()
    progress.on_train_batch_end(1, {"loss": 2.2, "accuracy": 0.15})
    progress.on_train_batch_end(2, {"loss": 2.2, "accuracy": 0.15})  # one more call in flight
    snap = job.snapshot()
    assert snap["steps_done"] == 3 and snap["stop_seen_at_step"] == 2
    assert progress.model.stop_training and not progress.time_up


def test_the_time_limit_stops_the_run_as_a_stop_does(store):
    job = TrainingJob(TINY, "alice", store, time_limit=0.0)
    progress = drive(job, n_fit=640)
    progress.on_train_batch_end(0, {"loss": 2.3, "accuracy": 0.1})
    assert progress.time_up and job.stop_requested and progress.model.stop_training


@pytest.mark.parametrize("loss, said", [(2.3 * 30, "exploded to 69 (it started at 2.3)"),
                                        (float("nan"), "became nan")])
def test_a_loss_that_explodes_or_becomes_nan_diverges(store, loss, said):
    job = TrainingJob(TINY.replace(learning_rate=0.1), "alice", store)
    progress = drive(job, n_fit=640)
    progress.on_train_batch_end(0, {"loss": 2.3, "accuracy": 0.1})
    assert progress.diverged is None
    progress.on_train_batch_end(1, {"loss": loss, "accuracy": 0.1})
    assert progress.diverged == (f"The loss {said} at epoch 1, batch 2: the learning rate "
                                 "(0.1) is too high for this network; try 0.001.")
    assert progress.model.stop_training


def epoch_of(job, answers: np.ndarray, monkeypatch) -> Progress:
    """One complete first epoch of MIN_JUDGED_STEPS batches, validated on 100 images of
    class 0 that the model answers with `answers`; the checkpoint it keeps is noted only."""
    kept = []
    monkeypatch.setattr(checkpoints, "save_checkpoint",
                        lambda job, model, epoch: kept.append(epoch))
    x_val, y_val = np.zeros((100, 28, 28), np.uint8), np.zeros(100, np.int64)
    progress = drive(job, MIN_JUDGED_STEPS * job.spec.batch_size, (x_val, y_val),
                     Answers(np.tile(answers, (100, 1))))
    progress.on_train_batch_end(MIN_JUDGED_STEPS - 1, {"loss": 2.3, "accuracy": 0.1})
    progress.on_epoch_end(0, {"loss": 2.3, "accuracy": 0.1})
    assert kept == [1] and progress.epochs_done == 1
    return progress


def test_a_first_epoch_at_chance_did_not_learn(store, monkeypatch):
    job = TrainingJob(TINY.replace(learning_rate=1e-5), "alice", store)
    progress = epoch_of(job, np.eye(10)[3], monkeypatch)  # always "class 3": 0 % right
    assert progress.diverged.startswith("The network did not learn: its validation accuracy "
                                        "after the first epoch is 0.0%")
    assert "may be too small" in progress.diverged and progress.model.stop_training
    row = store.epochs(job.run_id)[0]
    assert row["val_accuracy"] == 0.0 and row["class_accuracy"][0] == 0.0


def test_a_target_reached_ends_the_run_early(store, monkeypatch):
    job = TrainingJob(TINY.replace(target_accuracy=0.9), "alice", store)
    progress = epoch_of(job, np.eye(10)[0], monkeypatch)  # every image right
    assert progress.diverged is None and progress.model.stop_training
    assert progress.target_reached == ("Reached the target: validation accuracy 100.0% ≥ "
                                       "90.0% at epoch 1, so training stopped early.")
    assert job.snapshot()["history"][0]["val_accuracy"] == 1.0
