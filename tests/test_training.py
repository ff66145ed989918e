import logging
import threading
import time

import numpy as np
import pytest

from fmnist_core.training import job as job_module
from fmnist_core.data.datasets import Dataset
from fmnist_core.training.job import TrainingJob
from fmnist_core.store.queue import OwnerLimitError
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.training.jobqueue import JobQueue
from fmnist_core.nets.anatomy import MAX_STEPS_PER_EXECUTION
from fmnist_core.nets.spec import ModelSpec, preset
from storetools import peak_running
from waiting import wait_for

TINY = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=1, batch_size=64)


def run_job(spec, store, data, **kwargs):
    job = TrainingJob(spec, "alice", store, dataset=data, **kwargs)
    job.start()
    assert job.wait(120), "training did not finish in time"
    return job


def test_small_job_learns_and_reports_batches_and_epochs(store, small_data):
    spec = preset("quick").replace(epochs=2)
    job = run_job(spec, store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert snap["test_accuracy"] > 0.6  # chance is 0.10
    assert [row["epoch"] for row in snap["history"]] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(snap["history"][0])
    points = snap["batch_points"]
    assert len(points) >= 2 and points[-1][0] == pytest.approx(2.0)
    assert all(0 < p[0] <= 2 for p in points)
    assert snap["steps_done"] == 2 * snap["batches_per_epoch"]
    assert snap["images_per_second"] > 0 and snap["eta"] == 0.0
    run = store.get_run(job.run_id)
    assert run["status"] == "completed" and run["epochs_run"] == 2
    assert run["test_accuracy"] == pytest.approx(snap["test_accuracy"])
    assert len(store.epochs(job.run_id)) == 2
    assert store.model_file(job.run_id).is_file()
    assert run["device"].startswith(("CPU", "GPU"))
    # the time of the training itself, and what preparing its step added to epoch 1
    assert snap["train_seconds"] == pytest.approx(run["train_seconds"])
    assert sum(row["seconds"] for row in snap["history"]) <= snap["train_seconds"]
    assert snap["train_seconds"] < snap["elapsed"] == pytest.approx(run["total_seconds"])
    first = snap["history"][0]
    assert 0 <= first["prepare_seconds"] < first["seconds"]


def test_stop_during_an_epoch_ends_training_after_the_call_in_flight(store, small_data):
    # seconds vary with the load of a busy 2-core machine; the count of batches trained
    # after the Stop was seen does not
    spec = TINY.replace(epochs=50, batch_size=16)
    job = TrainingJob(spec, "alice", store, dataset=small_data)
    job.start()
    deadline = time.time() + 60
    # past the first epoch, so validation has run once, then mid-way through the second
    while job.snapshot()["steps_done"] < 130 and time.time() < deadline:
        time.sleep(0.01)
    at_stop = job.snapshot()["steps_done"]
    job.stop()
    assert job.wait(60), "the job did not end after Stop"
    snap = job.snapshot()
    assert snap["status"] == "stopped" and snap["message"].startswith("Stopped in epoch 2")
    # the call in flight when stop() was called (up to steps_per_execution batches) is the
    # last one
    assert snap["stop_seen_at_step"] <= at_stop + MAX_STEPS_PER_EXECUTION
    assert snap["steps_done"] == snap["stop_seen_at_step"]
    # the stopped epoch is kept without its validation pass (skipped to end quickly), as a
    # partial epoch drawn where it really ended
    first, stopped = snap["history"]
    assert "val_accuracy" in first and "val_accuracy" not in stopped
    assert first["complete"] and not stopped["complete"]
    steps = snap["batches_per_epoch"]
    assert 0 < stopped["batches"] < steps
    assert stopped["position"] == pytest.approx(1 + stopped["batches"] / steps)
    assert snap["message"].startswith(f"Stopped in epoch 2 of 50, at batch "
                                      f"{stopped['batches']} of {steps}")
    run = store.get_run(job.run_id)
    assert run["status"] == "stopped" and run["epochs_run"] == 1  # complete epochs only
    rows = store.epochs(job.run_id)
    assert [(r["epoch"], r["complete"], r["batches"]) for r in rows] == [
        (1, True, steps), (2, False, stopped["batches"])]
    assert store.model_file(job.run_id).is_file()
    # the saved model (what the download gives) is tested when it stops
    assert snap["test_accuracy"] is not None and run["test_accuracy"] == snap["test_accuracy"]


def test_target_accuracy_stops_early(store, small_data):
    spec = preset("quick").replace(epochs=20, target_accuracy=0.5)
    job = run_job(spec, store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "completed"
    assert len(snap["history"]) < 20 and "target" in snap["message"]
    assert snap["history"][-1]["val_accuracy"] >= 0.5


def test_huge_learning_rate_is_reported_as_diverged(store, small_data):
    # elu does not saturate at zero like relu, so the weights blow up to inf and the loss to NaN
    spec = TINY.replace(activation="elu", optimizer="sgd", learning_rate=10.0, epochs=3)
    job = run_job(spec, store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "diverged"
    assert "learning rate" in snap["message"] and "\n" not in snap["message"]
    assert store.get_run(job.run_id)["status"] == "diverged"


def test_failing_build_is_failed_with_a_sentence(store, small_data, monkeypatch):
    import fmnist_core.nets.model as model_module

    def broken(spec, num_classes=10):
        raise RuntimeError("layer exploded")

    monkeypatch.setattr(model_module, "build_model", broken)
    job = run_job(TINY, store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "failed"
    assert snap["message"] == "Training failed (RuntimeError: layer exploded)."
    assert store.get_run(job.run_id)["error"] == snap["message"]


def test_out_of_memory_sentence():
    assert "smaller batch size" in job_module.failure_sentence(MemoryError())


@pytest.fixture
def make_queue(store):
    """JobQueues on the test's store; each is closed after the test, so no queue's tick
    outlives its store."""
    made = []

    def make(**kwargs):
        made.append(JobQueue(store, **kwargs))
        return made[-1]

    yield make
    for queue in made:
        queue.close()


def tiny_data(n=256):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n, dtype=np.uint8)
    return Dataset("fashion_mnist", x, y, x[:64], y[:64], tuple("abcdefghij"), "test")


def test_queue_caps_concurrency_and_keeps_fifo(store, make_queue):
    data = tiny_data()
    queue = make_queue(max_concurrent=1, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=2, batch_size=32)
    jobs = [queue.submit(spec, f"owner{i}") for i in range(3)]
    assert queue.position(jobs[0]) == 0
    assert [queue.position(j) for j in jobs[1:]] == [1, 2]
    assert jobs[2].snapshot()["queue_position"] == 2
    for job in jobs:
        assert job.wait(60)
    assert peak_running(store) == 1
    starts = [j.snapshot()["started_at"] for j in jobs]
    assert starts == sorted(starts)
    assert all(j.status == "completed" for j in jobs)
    assert queue.position(jobs[0]) is None


def test_queue_with_cap_two_runs_two_at_once(store, make_queue):
    data = tiny_data()
    queue = make_queue(max_concurrent=2, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=1, batch_size=32)
    jobs = [queue.submit(spec, f"owner{i}") for i in range(3)]
    assert queue.running_count() == 2 and queue.position(jobs[2]) == 1
    for job in jobs:
        assert job.wait(60)
    assert peak_running(store) == 2


def test_owner_limit_stop_permissions_and_cancel(store, make_queue):
    data = tiny_data()
    queue = make_queue(max_concurrent=1, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=30, batch_size=8)
    first = queue.submit(spec, "alice")
    with pytest.raises(OwnerLimitError):
        queue.submit(spec, "alice")
    waiting = queue.submit(spec, "bob")
    with pytest.raises(PermissionError):
        queue.stop(first.run_id, "bob")
    for missing in ("0123456789ab", "../runs"):
        with pytest.raises(RunNotFoundError, match="There is no training"):
            queue.stop(missing, "alice")
    assert queue.cancel_queued("bob") == 1
    assert waiting.status == "cancelled" and waiting.done
    assert store.get_run(waiting.run_id)["status"] == "cancelled"
    queue.stop(first.run_id, "alice")
    assert first.wait(30) and first.status == "stopped"
    again = queue.submit(spec.replace(epochs=1), "alice")  # alice is free again
    assert again.wait(60)


def test_a_failed_job_ends_its_thread_and_the_queue_moves_on(store, monkeypatch, make_queue):
    import fmnist_core.nets.model as model_module

    real_build = model_module.build_model

    def build_or_fail(spec, num_classes=10, dtype=None):
        if spec.dense_units == 13:
            raise RuntimeError("layer exploded")
        return real_build(spec, num_classes, dtype=dtype)

    monkeypatch.setattr(model_module, "build_model", build_or_fail)
    data = tiny_data()
    queue = make_queue(max_concurrent=1, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=1, batch_size=32)
    failing = queue.submit(spec.replace(dense_units=13), "alice")
    after = queue.submit(spec, "bob")
    assert failing.wait(60) and failing.status == "failed"
    assert after.wait(60) and after.status == "completed"
    failing.job._thread.join(5)
    assert not failing.job._thread.is_alive()
    assert queue.running_count() == 0 and queue.waiting_count() == 0


def test_a_failing_tick_is_logged_once_with_its_traceback_and_its_recovery(
        store, make_queue, monkeypatch, caplog):
    from fmnist_core.training import jobqueue

    broken = threading.Event()
    broken.set()
    real = store.stop_requests

    def stop_requests(server):
        if broken.is_set():
            raise RuntimeError("the database said no")
        return real(server)

    monkeypatch.setattr(store, "stop_requests", stop_requests)
    with caplog.at_level(logging.DEBUG, logger=jobqueue.__name__):
        make_queue(tick_seconds=0.02)
        wait_for(lambda: _said(caplog, "tick failed") >= 3, timeout=10,
                 what="three failed ticks")
        broken.clear()
        wait_for(lambda: _said(caplog, "works again"), timeout=10, what="the recovery")
    warned = [r for r in caplog.records
              if r.name == jobqueue.__name__ and r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "tick failed" in warned[0].getMessage()
    assert warned[0].exc_info[1].args == ("the database said no",)


def _said(caplog, words: str) -> int:
    return sum(words in r.getMessage() for r in caplog.records)


def test_one_owner_racing_two_submits_gets_one_job(store, make_queue):
    data = tiny_data()
    queue = make_queue(max_concurrent=1, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=1, batch_size=32)
    results, barrier = [], threading.Barrier(4)

    def submit(owner):
        barrier.wait()
        try:
            results.append((owner, queue.submit(spec, owner)))
        except OwnerLimitError:
            results.append((owner, None))

    threads = [threading.Thread(target=submit, args=(who,)) for who in ("al", "al", "bo", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for who in ("al", "bo"):
        jobs = [job for owner, job in results if owner == who]
        assert len(jobs) == 2 and sum(job is not None for job in jobs) == 1
    for _, job in results:
        if job is not None:
            assert job.wait(60)
    assert len(store.list_runs()) == 2


def test_a_runaway_learning_rate_is_diverged_never_a_success(store, small_data):
    job = run_job(preset("quick").replace(learning_rate=10.0, epochs=3, batch_size=16), store,
                  small_data)
    snap = job.snapshot()
    assert snap["status"] == "diverged", snap["message"]
    assert "learning rate (10)" in snap["message"] and "try 0.001" in snap["message"]
    assert "\n" not in snap["message"]
    # caught in the first epoch: the loss exploded, or the accuracy stayed at chance
    assert len([row for row in snap["history"] if row["complete"]]) <= 1
    run = store.get_run(job.run_id)
    assert run["status"] == "diverged" and run["error"] == snap["message"]
    assert store.run_files(job.run_id) == []


def test_accuracy_at_chance_after_the_first_epoch_is_did_not_learn(store, small_data,
                                                                    monkeypatch):
    from fmnist_core.training import validation

    def guessing(model, x, y, num_classes, test_flip=False):
        return {"val_loss": 2.30, "val_accuracy": 0.1}, [0.1] * num_classes

    monkeypatch.setattr(validation, "validate", guessing)
    job = run_job(TINY.replace(epochs=5, learning_rate=1e-6, batch_size=16), store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "diverged"
    assert snap["message"].startswith("The network did not learn: its validation accuracy "
                                      "after the first epoch is 10.0%")
    assert "may be too small" in snap["message"] and len(snap["history"]) == 1


def test_the_eta_is_hidden_until_the_pace_is_steady(store, small_data, monkeypatch):
    import itertools
    import types

    from fmnist_core.training import progress

    # the training loop's clock moves a quarter of a second each time it is read (about once
    # per call of the training step), so when the pace counts as steady follows the steps
    # trained, not this machine's speed
    ticks = itertools.count()
    monkeypatch.setattr(progress, "time",
                        types.SimpleNamespace(perf_counter=lambda: 0.25 * next(ticks)))
    job = TrainingJob(TINY.replace(epochs=200, batch_size=16), "alice", store,
                      dataset=small_data)
    seen = []  # (seconds since the start on that clock, steps done, ETA) of each point
    original = job.add_batch_point

    def record(point, **fields):
        seen.append((fields["elapsed"], job.snapshot()["steps_done"], fields.get("eta")))
        original(point, **fields)
        if fields.get("eta") is not None:
            job.stop()  # stopped once an ETA shows

    job.add_batch_point = record
    job.start()
    assert job.wait(180) and job.status == "stopped", job.snapshot()["message"]
    assert seen[0][2] is None  # the first points: tracing, no pace yet
    steady_from = next(t for t, steps, _ in seen if steps >= progress.STEADY_STEPS)
    hidden = [eta is None for t, _, eta in seen]
    # hidden exactly until the pace has been measured for STEADY_SECONDS after STEADY_STEPS
    assert hidden == [t - steady_from < progress.STEADY_SECONDS for t, _, _ in seen]
    assert not hidden[-1] and seen[-1][2] > 0
    assert job.snapshot()["eta"] == 0.0


def test_per_class_validation_accuracy_is_stored_with_each_epoch(store, small_data):
    from fmnist_core.training.validation import split_validation, validate

    job = run_job(TINY.replace(epochs=2), store, small_data)
    rows = store.epochs(job.run_id)
    assert all(len(row["class_accuracy"]) == 10 for row in rows)
    # the per-class figures agree with the overall validation accuracy
    _, (x_val, y_val) = split_validation(small_data.x_train, small_data.y_train, 0.1)
    counts = np.bincount(y_val, minlength=10)
    for row in rows:
        weighted = np.nansum(np.array(row["class_accuracy"]) * counts) / counts.sum()
        assert weighted == pytest.approx(row["val_accuracy"], abs=1e-6)
    # and equal a recomputation from the saved (last) model
    model = store.load_model(job.run_id)
    scores, per_class = validate(model, x_val, y_val, 10)
    assert per_class == pytest.approx(rows[-1]["class_accuracy"], abs=1e-6)
    assert scores["val_accuracy"] == pytest.approx(rows[-1]["val_accuracy"], abs=1e-6)


def test_each_epochs_weights_are_kept_and_replay_its_class_accuracy(store, small_data):
    from fmnist_core.training.validation import split_validation, validate
    from fmnist_core.nets.model import build_model

    spec = TINY.replace(epochs=3)
    job = run_job(spec, store, small_data)
    assert job.status == "completed"
    saved = store.checkpoints(job.run_id)
    assert list(saved) == [0, 1, 2, 3]  # 0: the weights it started from
    _, (x_val, y_val) = split_validation(small_data.x_train, small_data.y_train, 0.1)
    rows = {row["epoch"]: row for row in store.epochs(job.run_id)}
    weights = []
    for epoch, path in saved.items():
        model = build_model(spec)
        model.load_weights(path)
        weights.append(model.get_layer("conv1").get_weights()[0])
        if epoch == 0:
            continue
        # the per-class accuracy stored with the epoch is what its weights give
        scores, per_class = validate(model, x_val, y_val, 10)
        assert per_class == pytest.approx(rows[epoch]["class_accuracy"], abs=1e-6)
        assert scores["val_accuracy"] == pytest.approx(rows[epoch]["val_accuracy"], abs=1e-6)
    assert not np.allclose(weights[0], weights[-1])  # the filters changed as it learned
    # the layers' weights only: Adam's two moments would triple the file
    params = build_model(spec).count_params() * 4
    assert all(path.stat().st_size < 1.5 * params + 50_000 for path in saved.values())
    # the unusual-input check is kept beside the model, and everything goes with the run
    assert store.run_file(job.run_id, "ood.npz").is_file()
    store.delete_run(job.run_id, "alice")
    assert store.run_files(job.run_id) == []


def test_a_short_run_that_learnt_nothing_is_caught_by_its_test(store, small_data):
    # 15 steps an epoch: too few to judge the first epoch, so the test set judges the end
    job = run_job(preset("quick").replace(learning_rate=10.0, epochs=2), store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "diverged" and "learning rate (10)" in snap["message"]
    assert store.get_run(job.run_id)["status"] == "diverged"
    # its epochs' weights were written as they ended; a diverged run keeps none of them
    assert store.run_files(job.run_id) == [] and store.checkpoints(job.run_id) == {}


def test_a_batch_norm_network_on_a_short_epoch_tests_with_statistics_of_its_own(store,
                                                                                small_data):
    # 15 batches an epoch: at batch norm's momentum of 0.9 its moving statistics would
    # still be 21 % their start (mean 0, variance 1), and a network that had learned
    # answered its test images at chance and was told it "did not learn"
    from fmnist_core.nets.model import batch_norm_momentum

    job = run_job(preset("best").replace(epochs=1), store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert snap["test_accuracy"] > 0.25  # chance is 0.10; about 0.43 measured
    norms = [layer for layer in store.load_model(job.run_id).layers
             if layer.__class__.__name__ == "BatchNormalization"]
    assert len(norms) == 4
    assert [layer.momentum for layer in norms] == [pytest.approx(batch_norm_momentum(15))] * 4


def test_smoothed_labels_and_flips_train_and_test_with_the_plain_cross_entropy(store,
                                                                               small_data):
    spec = preset("quick").replace(epochs=2, augment="flip", label_smoothing=0.1,
                                   test_flip=True)
    job = run_job(spec, store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert snap["test_accuracy"] > 0.6
    model = store.load_model(job.run_id)
    assert {"flip", "mirror", "test_flip"} <= {layer.name for layer in model.layers}
    probs = np.asarray(model.predict(small_data.x_test, verbose=0))
    # the saved model answers with the average of each picture's and its mirror's answers
    one_look = keras_model(model.inputs[0], model.get_layer("output").output)
    looks = [np.asarray(one_look.predict(x, verbose=0))
             for x in (small_data.x_test, small_data.x_test[:, :, ::-1])]
    np.testing.assert_allclose(probs, (looks[0] + looks[1]) / 2, atol=1e-5)
    picked = np.clip(probs[np.arange(len(small_data.y_test)), small_data.y_test], 1e-7, 1)
    # the test loss a student reads is the cross-entropy of the true class, not the
    # smoothed training loss; the accuracy is the saved model's on the test images
    assert snap["test_loss"] == pytest.approx(float(-np.log(picked).mean()), rel=1e-4)
    assert snap["test_accuracy"] == pytest.approx(
        float((probs.argmax(axis=1) == small_data.y_test).mean()))
    # the smoothed training loss cannot fall below the entropy of its target
    # (0.91 on the class, 0.01 on each other): 0.50 nats
    floor = -(0.91 * np.log(0.91) + 9 * 0.01 * np.log(0.01))
    assert all(row["loss"] >= floor - 1e-3 for row in snap["history"])
    # the last epoch replayed answers as validation measured it: with both looks
    from fmnist_core.explain.replay import EpochReplay

    replay = EpochReplay(spec, store.checkpoints(job.run_id))
    x_val, y_val = small_data.x_train[-200:], small_data.y_train[-200:]
    replayed = replay.predict(replay.epochs[-1], x_val)
    assert float((replayed.argmax(axis=1) == y_val).mean()) == pytest.approx(
        snap["history"][-1]["val_accuracy"])
    assert store.run_file(job.run_id, "ood.npz").is_file()  # the unusual-input check
    # feature maps and Grad-CAM read the picture as given; their answer is the model's
    from fmnist_core.explain.gradcam import GradCam
    from fmnist_core.explain.inspection import FeatureExtractor

    image = small_data.x_test[0]
    maps, answer = FeatureExtractor(model)(image)
    np.testing.assert_allclose(answer, probs[0], atol=1e-5)
    first = one_look_maps(model, image)
    np.testing.assert_allclose(maps[0].maps, first, atol=1e-5)
    cam = GradCam(model)(image)
    assert cam.probability == pytest.approx(float(probs[0].max()), abs=1e-5)
    assert cam.heatmap.shape == (28, 28)


def one_look_maps(model, image):
    """The first feature layer's maps of the unmirrored image, from a plain sub-model."""
    from fmnist_core.nets.model import feature_layer_names

    layer = model.get_layer(feature_layer_names(model)[0])
    return np.asarray(keras_model(model.inputs[0], layer.output)(image[None],
                                                                 training=False))[0]


def keras_model(inputs, outputs):
    import keras

    return keras.Model(inputs, outputs)


def test_an_unusual_input_check_that_cannot_be_fitted_is_logged_and_skipped(caplog):
    import logging
    from types import SimpleNamespace

    from fmnist_core.training.fitloop import fit_unusual_input_check

    written = []
    store = SimpleNamespace(write_run_file=lambda *args: written.append(args))
    job = SimpleNamespace(run_id="r1", store=store)
    one_image = np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.int64)
    with caplog.at_level(logging.WARNING, logger="fmnist_core.training.fitloop"):
        fit_unusual_input_check(job, None, one_image, one_image[0])  # too few to fit
    assert written == []
    assert "Run r1: the check for unusual inputs could not be fitted" in caplog.text
    ours = [r for r in caplog.records if r.name == "fmnist_core.training.fitloop"]
    assert ours[0].exc_info[0] is ValueError
