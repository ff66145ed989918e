"""A class's runs on a Ray cluster of two nodes: a head and a second node on loopback
(`ray.cluster_utils.Cluster`, which starts the nodes' processes from this one, with this
process's token), tiny models on a few hundred images of the real data.

Two runs spread over the two nodes and each keeps the node that trained it; ending a node
fails its run with a sentence, the cluster's node count follows within seconds, and the
queue moves on to the node that is left. The nodes are ended by their own process ids,
never with `ray stop`.
"""

import importlib.util
import os
import tempfile

import pytest

from raycluster import CLIENT_ENV, OBJECT_STORE_BYTES

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install -r requirements-cluster.txt)",
                allow_module_level=True)
os.environ.update(CLIENT_ENV)  # token and loopback: Ray reads them when imported, below

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from fmnist_core.nets.spec import ModelSpec  # noqa: E402
from fmnist_core.store.records import ray_node  # noqa: E402
from fmnist_core.training.jobqueue import JobQueue  # noqa: E402
from fmnist_core.training.ray_executor import RayExecutor  # noqa: E402
from fmnist_core.training.ray_relay import NODE_LOST  # noqa: E402
from waiting import wait_for  # noqa: E402

NAMESPACE = "fmnist-studio-two-nodes"
LIMIT_TRAIN, LIMIT_TEST = 400, 200
TINY = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=1, batch_size=16)
LONG = TINY.replace(epochs=200)
# each node offers one CPU, and each run asks for one: one run per node
NODE_ARGS = {"num_cpus": 1, "num_gpus": 0, "node_ip_address": "127.0.0.1",
             "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False}


@pytest.fixture(scope="module")
def cluster():
    """A head and a second node, each of one CPU, in a temp dir of their own. The cluster
    is not written down as the machine's current one (`ray.init()` without an address
    elsewhere on the machine must not find it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray._private.utils, "write_ray_address", lambda *args: None)
        patch.setattr(ray._common.utils, "reset_ray_address", lambda *args: None)
        # a short path: Ray's Unix sockets live under it (108 bytes at most)
        temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        made = Cluster(initialize_head=True, shutdown_at_exit=True,
                       head_node_args={**NODE_ARGS, "temp_dir": temp_dir})
        try:
            made.add_node(**NODE_ARGS, temp_dir=temp_dir)
            made.wait_for_nodes()
            yield made
        finally:
            ray.shutdown()
            made.shutdown()  # each node's processes, by their ids


def node_of(cluster: Cluster, node_id: str):
    return next(node for node in cluster.list_all_nodes() if node.node_id == node_id)


def test_two_runs_spread_over_two_nodes_and_a_dead_node_fails_only_its_run(cluster, store):
    executor = RayExecutor(cluster.address, namespace=NAMESPACE)
    assert executor.where() == "the Ray cluster (2 nodes, 0 GPUs)"
    queue = JobQueue(store, max_concurrent=2, limit_train=LIMIT_TRAIN, limit_test=LIMIT_TEST,
                     executor=executor, tick_seconds=0.2)
    try:
        first, second = queue.submit(LONG, "alice"), queue.submit(LONG, "bob")
        waiting = queue.submit(TINY, "carol")  # third in line: both nodes are busy
        for job in (first, second):
            wait_for(lambda job=job: job.snapshot()["steps_done"] > 0, timeout=300,
                     what="both runs training")
        nodes = {job.run_id: store.get_run(job.run_id)["node"] for job in (first, second)}
        every = {ray_node(node.node_id, "127.0.0.1") for node in cluster.list_all_nodes()}
        assert set(nodes.values()) == every, nodes  # one run on each node
        for job in (first, second):  # the CPUs the run was given, not the machine's
            device = store.get_run(job.run_id)["device"]
            assert device.startswith(f"CPU (1 of {os.cpu_count()} cores"), device
        assert waiting.status == "queued"

        # the node this process's driver is not attached to goes (its machine stopped)
        driver_node = ray.get_runtime_context().get_node_id()
        doomed = next(job for job in (first, second)
                      if nodes[job.run_id] != ray_node(driver_node, "127.0.0.1"))
        kept = first if doomed is second else second
        gone = next(node for node in cluster.list_all_nodes() if node.node_id != driver_node)
        cluster.remove_node(gone, allow_graceful=False)
        assert doomed.wait(120), "the run of the ended node did not end"
        assert doomed.snapshot()["status"] == "failed"
        assert store.get_run(doomed.run_id)["error"] == NODE_LOST
        # the other node's run is untouched (200 epochs of 400 images may be done by now)
        assert kept.status in ("running", "completed"), kept.snapshot()["message"]
        # the sidebar's count follows within seconds, not the head's minute and more
        wait_for(lambda: executor.where() == "the Ray cluster (1 node, 0 GPUs)", timeout=40,
                 what="the node count without the ended node")

        # the queue moves on: the waiting run trains on the node that is left
        queue.stop(kept.run_id, "alice" if kept is first else "bob")  # if still training
        assert kept.wait(120) and kept.status in ("stopped", "completed")
        assert store.get_run(kept.run_id)["error"] is None
        assert waiting.wait(300), "the waiting run did not train"
        run = store.get_run(waiting.run_id)
        assert run["status"] == "completed", run["error"]
        assert run["node"] == ray_node(driver_node, "127.0.0.1")
    finally:
        queue.close()
