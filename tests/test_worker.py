"""Training in worker processes: progress relayed, Stop, reuse, a dying worker, a dying server."""

import errno
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_core.store.presence import pid_alive
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import ModelSpec, preset
from fmnist_core.training import executors
from fmnist_core.training.jobqueue import JobQueue
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=1, batch_size=64)


@pytest.fixture
def queue(store, small_data):
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: small_data,
                     worker_processes=True)
    yield queue
    queue.close()


def test_a_job_trains_in_a_lower_priority_process_that_is_reused(queue, store):
    first = queue.submit(preset("quick").replace(epochs=2), "alice")
    wait_for(lambda: first.snapshot()["steps_done"] > 0, what="the first batch")
    worker = first.worker
    assert worker.pid != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) > os.getpriority(os.PRIO_PROCESS, 0)
    assert first.wait(120)
    snap = first.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert snap["test_accuracy"] > 0.6
    assert [row["epoch"] for row in snap["history"]] == [1, 2]
    assert len(snap["batch_points"]) >= 2 and snap["images_per_second"] > 0
    run = store.get_run(first.run_id)
    assert run["status"] == "completed" and run["pid"] == worker.pid
    # a worker started for its job measured the machine's pace before training it
    assert run["progress"]["estimate_paced"] and run["estimate_seconds"] > 0
    assert run["device"] in {row["device"] for row in store.paces()}
    assert store.model_file(first.run_id).is_file() and len(store.epochs(first.run_id)) == 2

    second = queue.submit(TINY, "bob")
    assert second.wait(120) and second.status == "completed", second.snapshot()["message"]
    assert second.worker is worker and worker.jobs_run == 2  # Keras is imported once


def test_a_worker_started_ahead_trains_the_next_job(store, small_data):
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: small_data,
                     worker_processes=True)  # kept idle long enough to load TensorFlow
    try:
        queue.prepare()  # what opening Train does: Keras imports before any job
        assert not queue.executor.prepare(), "a second worker while one waits idle"
        (ahead,) = queue.executor._idle
        maps = Path(f"/proc/{ahead.pid}/maps")
        wait_for(lambda: "libtensorflow" in maps.read_text(), timeout=120,
                 what="the waiting worker to load TensorFlow")
        # and measures the machine's pace, before any job, for the form's estimate
        measured = wait_for(lambda: [row for row in store.paces() if row["kind"] == "compute"],
                            timeout=120, what="the waiting worker to measure the pace")
        first = queue.submit(TINY, "alice")
        assert first.wait(120) and first.status == "completed", first.snapshot()["message"]
        assert first.worker is ahead and ahead.jobs_run == 1
        run = store.get_run(first.run_id)
        assert run["progress"]["estimate_paced"] and measured[0]["device"] == run["device"]
    finally:
        queue.close()


def test_an_idle_worker_ends_and_the_next_job_starts_a_new_one(store, small_data):
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: small_data,
                     worker_processes=True, worker_idle_seconds=1.0)
    try:
        first = queue.submit(TINY, "alice")
        assert first.wait(120) and first.status == "completed", first.snapshot()["message"]
        # unused after its job, it ends after the idle time; the next job starts a new one
        wait_for(lambda: not first.worker.alive, timeout=30, what="the idle worker to end")
        second = queue.submit(TINY, "alice")
        assert second.wait(120) and second.status == "completed"
        assert second.worker is not first.worker
    finally:
        queue.close()


def test_stop_reaches_the_worker_and_ends_its_training(queue, store):
    job = queue.submit(TINY.replace(epochs=50, batch_size=16), "alice")
    wait_for(lambda: job.snapshot()["steps_done"] >= 130, what="the second epoch")
    queue.stop(job.run_id, "alice")
    assert job.wait(60), "the job did not end after Stop"
    snap = job.snapshot()
    assert snap["status"] == "stopped" and snap["message"].startswith("Stopped in epoch"), snap
    # the worker trained nothing after it saw the Stop (counted in batches, not seconds)
    assert snap["steps_done"] == snap["stop_seen_at_step"]
    assert store.get_run(job.run_id)["status"] == "stopped"
    assert store.model_file(job.run_id).is_file()


def test_a_killed_worker_fails_its_job_with_a_sentence_and_the_queue_moves_on(queue, store):
    doomed = queue.submit(TINY.replace(epochs=50, batch_size=16), "alice")
    waiting = queue.submit(TINY, "bob")
    wait_for(lambda: doomed.snapshot()["steps_done"] > 0, what="the first batch")
    os.kill(doomed.worker.pid, signal.SIGKILL)
    assert doomed.wait(60)
    snap = doomed.snapshot()
    assert snap["status"] == "failed"
    assert snap["message"].startswith("The training process was killed (signal 9)")
    assert store.get_run(doomed.run_id)["status"] == "failed"
    assert waiting.wait(120) and waiting.status == "completed", waiting.snapshot()["message"]
    assert waiting.worker is not doomed.worker


def test_without_a_worker_process_jobs_train_in_the_server_and_say_so(store, small_data,
                                                                       monkeypatch, caplog):
    def refused(store=None):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(executors, "WorkerProcess", refused)
    queue = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: small_data,
                     worker_processes=True)
    try:
        assert queue.where() == "this machine"
        with caplog.at_level(logging.WARNING, logger=executors.__name__):
            assert not queue.executor.prepare()  # a student opens Train
            job = queue.submit(TINY, "alice")
            assert job.wait(120) and job.status == "completed", job.snapshot()["message"]
        assert job.worker is None  # trained in a thread of this process
        assert queue.where() == ("this machine, in the server's own process (no worker "
                                 "process could be started: Resource temporarily "
                                 "unavailable)")
        # said once in the log, with the reason and its traceback, not at every try
        (said,) = [r for r in caplog.records if r.name == executors.__name__]
        assert said.levelno == logging.WARNING and said.exc_info is not None
        assert "Resource temporarily unavailable" in said.getMessage()

        class Started:  # a worker process that could be started again
            alive = True

            def __init__(self, store=None):
                self.store = store  # where it would measure the pace

            def close(self):
                pass

        monkeypatch.setattr(executors, "WorkerProcess", Started)
        assert queue.executor.prepare()
        assert queue.where() == "this machine"
    finally:
        queue.close()


SERVER = """
import sys, time
from fmnist_core.data.datasets import load_dataset
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.training.jobqueue import JobQueue

data = load_dataset("fashion_mnist").subset(2000, 200)
queue = JobQueue(RunStore(sys.argv[1]), dataset_loader=lambda name: data, worker_processes=True)
job = queue.submit(ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=50, batch_size=16), "x")
while job.snapshot()["steps_done"] == 0:
    time.sleep(0.05)
print(job.worker.pid, job.run_id, flush=True)
time.sleep(120)
"""


def test_the_worker_ends_with_the_server_and_the_run_is_interrupted(tmp_path):
    home = tmp_path / "home"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(home)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        worker_pid, run_id = server.stdout.readline().split()
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        wait_for(lambda: not pid_alive(int(worker_pid)), timeout=10,
                 what="the orphaned worker to exit")
    finally:
        server.kill()
    store = RunStore(home)  # the server's restart
    run = store.get_run(run_id)
    assert run["status"] == "interrupted"
    assert store.integrity_ok() and not list(store.models_dir.glob("*.partial.keras"))
