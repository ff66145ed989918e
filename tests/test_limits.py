"""Tests for fmnist_core.nets.limits: what one run may cost, refused where it is queued, stopped
when it trains too long."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_core.training.job import TrainingJob
from fmnist_core.training.jobqueue import JobQueue
from fmnist_core.nets.limits import RunLimits, SpecTooCostlyError, memory_mb
from fmnist_core.nets.spec import ModelSpec, preset

ROOT = Path(__file__).resolve().parents[1]
# reachable from the form or a link: 248 M parameters, about 159 hours on 2,000 images
HOG = ModelSpec(conv_blocks=3, filters=(256, 256, 256), convs_per_block=3, kernel_size=9,
                padding="same", pooling="none", dense_units=1024, epochs=200, batch_size=16)


def test_the_presets_fit_and_the_class_hog_does_not():
    limits = RunLimits()
    for name in ("dense", "seed-cnn", "quick", "best"):
        limits.check(preset(name), n_fit=54_000, n_val=6_000)  # the full data
    with pytest.raises(SpecTooCostlyError) as caught:
        limits.check(HOG, n_fit=1_800, n_val=200)
    assert str(caught.value).startswith("This network would need about 4.1 GB of memory to "
                                        "train, more than the 4.0 GB a run may use here")
    assert "\n" not in str(caught.value)
    # as much memory as it likes, it still takes too long
    with pytest.raises(SpecTooCostlyError, match=r"^This run would take about \d+ h \d+ min, "
                                                 r"longer than the 2 h 00 min a run may train"):
        RunLimits(max_memory_mb=1e6).check(HOG, n_fit=1_800, n_val=200)


def test_memory_counts_parameters_with_their_optimizer_state_and_a_batchs_activations():
    dense = preset("dense")  # 101,770 parameters; activations 28×28 ×3 + 128 + 10 an image
    expected = (101_770 * 16 + dense.batch_size * (784 * 3 + 128 + 10) * 12) / 2**20
    assert memory_mb(dense) == pytest.approx(expected)
    assert memory_mb(dense.replace(batch_size=2 * dense.batch_size)) > memory_mb(dense)


def test_the_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STUDIO_MAX_RUN_MINUTES", "1")
    monkeypatch.setenv("STUDIO_MAX_RUN_MEMORY_MB", "nonsense")
    limits = RunLimits.from_env()
    assert limits.max_seconds == 60 and limits.max_memory_mb == 4096
    with pytest.raises(SpecTooCostlyError, match="longer than the 60 s a run may train"):
        limits.check(preset("seed-cnn"), n_fit=54_000, n_val=6_000)


def test_the_queue_refuses_a_spec_beyond_the_limits_before_it_is_queued(store, small_data):
    queue = JobQueue(store, dataset_loader=lambda name: small_data, worker_processes=False,
                     tick_seconds=None)
    try:
        with pytest.raises(SpecTooCostlyError):
            queue.submit(HOG, "greedy")
        assert store.list_runs() == []
    finally:
        queue.close()


def test_the_cli_refuses_it_in_one_line(tmp_path):
    cli = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "train", "--conv-blocks", "3", "--filters",
         "256,256,256", "--convs-per-block", "3", "--kernel-size", "9", "--padding", "same",
         "--pooling", "none", "--dense-units", "1024", "--epochs", "200", "--batch-size", "16",
         "--limit-train", "2000", "--home", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "STUDIO_NO_DOWNLOAD": "1"})
    assert cli.returncode == 2 and cli.stdout == ""
    assert cli.stderr.strip().splitlines()[-1].startswith(
        "error: This network would need about")


def test_a_run_past_its_time_limit_stops_as_by_stop_and_keeps_its_model(store, small_data):
    job = TrainingJob(preset("quick").replace(epochs=200, batch_size=16), "alice", store,
                      dataset=small_data, time_limit=3.0)
    job.start()
    assert job.wait(180)
    snap = job.snapshot()
    assert snap["status"] == "stopped", snap["message"]
    assert snap["message"].startswith("Stopped after 3.0 s of training, the longest a run may "
                                      "train on this server, in epoch ")
    assert snap["test_accuracy"] is not None and store.model_file(job.run_id).is_file()
