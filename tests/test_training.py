import threading
import time

import numpy as np
import pytest

from fmnist_core import training
from fmnist_core.datasets import Dataset
from fmnist_core.model import MAX_STEPS_PER_EXECUTION
from fmnist_core.spec import ModelSpec, preset
from fmnist_core.training import JobQueue, OwnerLimitError, TrainingJob

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


def test_stop_during_an_epoch_ends_the_worker_within_two_seconds(store, small_data):
    spec = TINY.replace(epochs=50, batch_size=16)
    job = TrainingJob(spec, "alice", store, dataset=small_data)
    job.start()
    deadline = time.time() + 60
    # past the first epoch, so validation has run once, then mid-way through the second
    while job.snapshot()["steps_done"] < 130 and time.time() < deadline:
        time.sleep(0.01)
    at_stop = job.snapshot()["steps_done"]
    job.stop()
    # the model is saved as well within the two seconds
    assert job.wait(2.0), "the worker took more than 2 s to end after Stop"
    snap = job.snapshot()
    assert snap["status"] == "stopped" and snap["message"].startswith("Stopped by you in epoch 2")
    # the call in flight when stop() was called (up to steps_per_execution batches) is the
    # last one
    assert snap["stop_seen_at_step"] <= at_stop + MAX_STEPS_PER_EXECUTION
    assert snap["steps_done"] == snap["stop_seen_at_step"]
    # the stopped epoch is kept without its validation pass (skipped to end quickly)
    assert "val_accuracy" in snap["history"][0] and "val_accuracy" not in snap["history"][1]
    run = store.get_run(job.run_id)
    assert run["status"] == "stopped" and run["epochs_run"] == 2
    assert store.model_file(job.run_id).is_file()


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
    import fmnist_core.model as model_module

    def broken(spec, num_classes=10):
        raise RuntimeError("layer exploded")

    monkeypatch.setattr(model_module, "build_model", broken)
    job = run_job(TINY, store, small_data)
    snap = job.snapshot()
    assert snap["status"] == "failed"
    assert snap["message"] == "Training failed (RuntimeError: layer exploded)."
    assert store.get_run(job.run_id)["error"] == snap["message"]


def test_out_of_memory_sentence():
    assert "smaller batch size" in training.failure_sentence(MemoryError())


def tiny_data(n=256):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n, dtype=np.uint8)
    return Dataset("fashion_mnist", x, y, x[:64], y[:64], tuple("abcdefghij"), "test")


def test_queue_caps_concurrency_and_keeps_fifo(store):
    data = tiny_data()
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=2, batch_size=32)
    jobs = [queue.submit(spec, f"owner{i}") for i in range(3)]
    assert queue.position(jobs[0]) == 0
    assert [queue.position(j) for j in jobs[1:]] == [1, 2]
    assert jobs[2].snapshot()["queue_position"] == 2
    for job in jobs:
        assert job.wait(60)
    assert queue.peak_running == 1
    starts = [j.snapshot()["started_at"] for j in jobs]
    assert starts == sorted(starts)
    assert all(j.status == "completed" for j in jobs)
    assert queue.position(jobs[0]) is None


def test_queue_with_cap_two_runs_two_at_once(store):
    data = tiny_data()
    queue = JobQueue(store, max_concurrent=2, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=1, batch_size=32)
    jobs = [queue.submit(spec, f"owner{i}") for i in range(3)]
    assert queue.running_count() == 2 and queue.position(jobs[2]) == 1
    for job in jobs:
        assert job.wait(60)
    assert queue.peak_running == 2


def test_owner_limit_stop_permissions_and_cancel(store):
    data = tiny_data()
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=30, batch_size=8)
    first = queue.submit(spec, "alice")
    with pytest.raises(OwnerLimitError):
        queue.submit(spec, "alice")
    waiting = queue.submit(spec, "bob")
    with pytest.raises(PermissionError):
        queue.stop(first.run_id, "bob")
    assert queue.cancel_queued("bob") == 1
    assert waiting.status == "cancelled" and waiting.done
    assert store.get_run(waiting.run_id)["status"] == "cancelled"
    queue.stop(first.run_id, "alice")
    assert first.wait(30) and first.status == "stopped"
    again = queue.submit(spec.replace(epochs=1), "alice")  # alice is free again
    assert again.wait(60)


def test_a_failed_job_ends_its_thread_and_the_queue_moves_on(store, monkeypatch):
    import fmnist_core.model as model_module

    real_build = model_module.build_model

    def build_or_fail(spec, num_classes=10):
        if spec.dense_units == 13:
            raise RuntimeError("layer exploded")
        return real_build(spec, num_classes)

    monkeypatch.setattr(model_module, "build_model", build_or_fail)
    data = tiny_data()
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: data)
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=1, batch_size=32)
    failing = queue.submit(spec.replace(dense_units=13), "alice")
    after = queue.submit(spec, "bob")
    assert failing.wait(60) and failing.status == "failed"
    assert after.wait(60) and after.status == "completed"
    assert not failing._thread.is_alive()
    assert queue.running_count() == 0 and queue.waiting_count() == 0


def test_one_owner_racing_two_submits_gets_one_job(store):
    data = tiny_data()
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: data)
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
