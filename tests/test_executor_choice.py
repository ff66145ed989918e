"""Where trainings run, chosen from the environment: never this machine when a cluster was
asked for."""

import importlib.util

import pytest

from fmnist_core.training.cluster import ClusterUnavailableError
from fmnist_core.training.executor_choice import executor_from_env
from fmnist_core.training.executors import ProcessExecutor, ThreadExecutor


def test_this_machine_trains_in_worker_processes_unless_told_threads(monkeypatch):
    monkeypatch.delenv("STUDIO_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("STUDIO_TRAINING_WORKER", raising=False)
    chosen = executor_from_env(3)
    assert isinstance(chosen, ProcessExecutor) and chosen.slots == 3
    monkeypatch.setenv("STUDIO_TRAINING_WORKER", "thread")
    assert isinstance(executor_from_env(), ThreadExecutor)
    local = ThreadExecutor()
    assert executor_from_env(local=local) is local


def test_a_cluster_without_ray_installed_is_one_sentence(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ray" else real(name, *args))
    monkeypatch.setenv("STUDIO_RAY_ADDRESS", "head.school.lan:6379")
    with pytest.raises(ClusterUnavailableError) as refused:
        executor_from_env(local=ThreadExecutor())  # never this machine instead
    sentence = str(refused.value)
    assert sentence.startswith("Trainings should run on the Ray cluster at "
                               "head.school.lan:6379, but Ray is not installed")
    assert "\n" not in sentence
