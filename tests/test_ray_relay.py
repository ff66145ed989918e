"""The relay of a run on a Ray cluster, without a cluster: what it writes of a node's records.

The relay's life with real actors (progress, Stop, a node lost, a model fetched) is in
tests/test_ray_executor.py, which starts a head.
"""

import importlib.util

import pytest

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install -r requirements-cluster.txt)",
                allow_module_level=True)

from fmnist_core.nets.spec import ModelSpec  # noqa: E402
from fmnist_core.training.job import TrainingJob  # noqa: E402
from fmnist_core.training.ray_relay import Relay  # noqa: E402


def test_a_nodes_records_write_only_the_run_this_server_claimed(store):
    """A node replays its run's store writes through the server; records naming another
    run's id (a node that is not what it should be) still write only the claimed run."""
    victim = store.create_run(ModelSpec(), "victim", status="completed", test_accuracy=0.9)
    claimed = store.create_run(ModelSpec(), "alice", status="running")
    job = TrainingJob(ModelSpec(), "alice", store, run_id=claimed)
    relay = Relay(job, actor=None, placed=True)
    relay._replay("update_run", (victim,), {"test_accuracy": 0.01, "error": "rewritten"})
    relay._replay("add_epoch", (victim, 1, {"loss": 9.0}), {"seconds": 1.0})
    assert store.get_run(victim)["test_accuracy"] == 0.9 and not store.epochs(victim)
    assert store.get_run(claimed)["error"] == "rewritten" and store.epochs(claimed)


def test_a_run_no_node_places_fails_with_a_sentence(store):
    run_id = store.create_run(ModelSpec(), "alice", status="running")
    job = TrainingJob(ModelSpec(), "alice", store, run_id=run_id)
    relay = Relay(job, actor=None, placed=False, placement_seconds=1.0)
    assert relay._silent_too_long(heard=0.0)
    run = store.get_run(run_id)
    assert run["status"] == "failed" and run["error"].startswith(
        "No node of the Ray cluster started this training within 1 second:")
    relay._fail("a second failure is not written over the first")
    assert store.get_run(run_id)["error"] == run["error"]
