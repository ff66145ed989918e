"""Trainings on a real Ray cluster: a head started by these tests on loopback, with token
authentication, trains tiny models on a few hundred images of the real data.

Each run is an actor of its own that imports TensorFlow (about 10 s on 2 busy cores), so
the file holds few runs and every run checks several things.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raycluster import CLIENT_ENV, RayHead, free_port, is_loopback, listeners

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install -r requirements-cluster.txt)",
                allow_module_level=True)
os.environ.update(CLIENT_ENV)  # token and loopback: Ray reads them when imported, below

import ray  # noqa: E402

from fmnist_core.training.cluster import ClusterUnavailableError  # noqa: E402
from fmnist_core.training.executor_choice import executor_from_env  # noqa: E402
from fmnist_core.training.jobqueue import ORPHAN_GONE, JobQueue  # noqa: E402
from fmnist_core.store.presence import HOST  # noqa: E402
from fmnist_core.training.ray_actor import RecordingStore  # noqa: E402
from fmnist_core.training.ray_executor import RayExecutor, actor_name  # noqa: E402
from fmnist_core.training.ray_relay import NODE_LOST  # noqa: E402
from fmnist_core.store.runs import RunStore  # noqa: E402
from fmnist_core.nets.spec import ModelSpec  # noqa: E402
from storetools import peak_running  # noqa: E402
from waiting import wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "fmnist-studio-test"
LIMIT_TRAIN, LIMIT_TEST = 400, 200
TINY = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=1, batch_size=16)
LONG = TINY.replace(epochs=200)


@pytest.fixture(scope="module")
def ray_head():
    """A one-node cluster (1 CPU: one training at a time) for this file's tests; this
    process connects to it as a studio server does."""
    head = RayHead(num_cpus=1).start()
    try:
        yield head
    finally:
        ray.shutdown()
        head.stop()


@pytest.fixture(scope="module")
def executor(ray_head):
    return RayExecutor(ray_head.address, namespace=NAMESPACE)


def named_actors() -> list[tuple[str, str]]:
    """(namespace, name) of every named actor on the tests' cluster."""
    return [(a["namespace"], a["name"]) for a in ray.util.list_named_actors(all_namespaces=True)]


@pytest.fixture(autouse=True)
def no_actor_left_behind(request):
    """After every test that used the cluster: none of its actors is left (and, should a
    test fail half-way, none is left to hold the next test's CPU)."""
    yield
    if "executor" not in request.fixturenames:
        return
    left = []
    deadline = time.monotonic() + 20
    while (left := named_actors()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for namespace, name in left:
        ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
    assert not left, f"actors left behind: {left}"


def make_queue(store, executor, **kwargs):
    return JobQueue(store, max_concurrent=1, limit_train=LIMIT_TRAIN, limit_test=LIMIT_TEST,
                    executor=executor, tick_seconds=0.2, **kwargs)


@pytest.fixture
def queue(store, executor):
    made = make_queue(store, executor)
    yield made
    made.close()


def actor_pid(head: RayHead) -> int:
    """The newest actor process of the head (an older one may still be ending)."""
    found = []
    for pid in head.pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::RunTrainer"):
                started = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
                found.append((started, pid))
        except (OSError, ValueError, IndexError):
            continue
    assert found, "no actor process on the head"
    return max(found)[1]


def test_the_recording_store_numbers_the_calls_and_keeps_the_model_on_the_node(tmp_path):
    mine, other = {"epoch_seconds": 1.0, "host": HOST}, {"epoch_seconds": 9.0, "host": "lab-pc-2"}
    store = RecordingStore(tmp_path, samples=[mine, other])
    store.update_run("abc", status="running", device="CPU")
    store.add_epoch("abc", 1, {"loss": 0.5}, 2.0, complete=True)
    store.update_progress("abc", {"batch_points": [(0.1, 2.0, 0.2)] * 1000})  # not relayed
    store.finish_run("abc", "completed", stop_reason="done")
    assert [(seq, method) for seq, method, _, _ in store.since(0)] == [
        (0, "update_run"), (1, "add_epoch"), (2, "finish_run")]
    assert store.since(2) == [(2, "finish_run", ("abc", "completed"), {"stop_reason": "done"})]
    # the estimate on the node learns from the runs that finished on the node's host
    assert store.timing_samples() == [mine]
    # the node's measured pace is its estimate's, and the server's to keep under its host
    store.save_pace("CPU (2 cores)", "compute", 1.5)
    assert [(r["device"], r["kind"], r["value"]) for r in store.paces()] == [
        ("CPU (2 cores)", "compute", 1.5)]
    assert store.since(3) == [(3, "save_pace", ("CPU (2 cores)", "compute", 1.5),
                               {"host": HOST})]


def test_a_dead_node_fails_its_run_and_the_next_run_trains_with_moving_curves(
        ray_head, executor, queue, store):
    doomed = queue.submit(LONG, "alice")
    job = queue.submit(LONG, "bob")  # stopped once its curves were seen to move
    assert queue.where() == "the Ray cluster (1 node, 0 GPUs)"
    wait_for(lambda: doomed.snapshot()["steps_done"] > 0, timeout=240, what="the first batch")
    os.kill(actor_pid(ray_head), signal.SIGKILL)  # what the end of a node looks like here
    assert doomed.wait(30)
    snap = doomed.snapshot()
    assert snap["status"] == "failed" and snap["message"] == NODE_LOST
    assert store.get_run(doomed.run_id)["error"] == NODE_LOST

    # the queue moved on: bob's run trains, and his page sees its curves move
    seen, listening = set(), None
    deadline = time.monotonic() + 240
    while not job.done and time.monotonic() < deadline:
        snap = job.snapshot()
        if snap["steps_done"] and snap["status"] == "running":
            seen.add((len(snap["batch_points"]), len(snap["history"]), snap["steps_done"]))
            if listening is None:  # the actor and this driver as well as the head's servers
                listening = listeners(ray_head.pids() + [os.getpid()])
                assert (NAMESPACE, actor_name(job.run_id)) in named_actors()
            if len(seen) >= 3 and len(snap["history"]) >= 2 and not job.stop_requested:
                queue.stop(job.run_id, owner="bob")  # seen moving: the rest is not needed
        time.sleep(0.1)
    assert job.wait(60), "the run did not end"
    assert len(seen) >= 3, f"the curves changed only {len(seen)} time(s) while training"
    assert listening and all(is_loopback(address) for address, _ in listening), listening
    snap = job.snapshot()
    assert snap["status"] == "stopped", snap["message"]
    run = store.get_run(job.run_id)
    done = run["epochs_run"]
    assert done >= 2
    assert [row["epoch"] for row in snap["history"] if row.get("complete", True)] == list(
        range(1, done + 1))
    assert snap["model_path"] == str(store.model_file(job.run_id))
    assert run["status"] == "stopped" and run["executor"] == "ray"
    assert run["test_accuracy"] == snap["test_accuracy"] and run["device"].startswith("CPU")
    assert run["progress"]["history"] and run["model_path"] == snap["model_path"]
    assert len([e for e in store.epochs(job.run_id) if e["complete"]]) == done
    model = store.load_model(job.run_id)  # the node's .keras, stored on the server
    assert model.count_params() == run["params"]
    assert not list(store.models_dir.glob("*.partial.keras"))


def test_two_servers_share_the_cap_fifo_and_stop_on_the_cluster(executor, store):
    """tests/test_store_queue.py's contract, with runs on the cluster."""
    a, b = make_queue(store, executor), make_queue(store, executor)
    try:
        first = a.submit(LONG, "alice")
        second = b.submit(TINY, "bob")
        third = a.submit(TINY, "carol")
        assert first.status == "running" and a.position(first) == 0
        # B has a free slot, but the class's cap of one is taken by A's run
        assert b.position(second) == 1 and a.position(third) == 2
        assert second.snapshot()["message"] == "Queued: number 1 in line."
        wait_for(lambda: first.snapshot()["steps_done"] >= 30, timeout=240,
                 what="the first batches on the cluster")
        seen = b.get(first.run_id)  # B draws A's run from the store
        assert seen.job is None
        wait_for(lambda: seen.snapshot()["batch_points"], timeout=10, what="progress on B")
        b.stop(first.run_id, "alice")  # alice's next request lands on server B
        assert first.wait(60), "the run did not end after Stop"
        snap = first.snapshot()
        assert snap["status"] == "stopped" and snap["message"].startswith("Stopped in epoch")
        # the actor trained nothing after the flag reached it (the local executors' check)
        assert snap["steps_done"] == snap["stop_seen_at_step"]
        assert store.model_file(first.run_id).is_file()
        assert second.wait(240) and third.wait(240)
        runs = {run["id"]: run for run in store.list_runs()}
        assert runs[second.run_id]["status"] == runs[third.run_id]["status"] == "completed"
        assert runs[second.run_id]["started"] <= runs[third.run_id]["started"]
        assert peak_running(store) == 1
    finally:
        a.close()
        b.close()


SERVER = """
import sys, time
from fmnist_core.training.jobqueue import JobQueue
from fmnist_core.training.ray_executor import RayExecutor
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import ModelSpec

queue = JobQueue(RunStore(sys.argv[1]), limit_train=400, limit_test=200,
                 executor=RayExecutor(sys.argv[2], namespace=sys.argv[3]))
job = queue.submit(ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=8,
                             batch_size=16), "x")
while job.snapshot()["steps_done"] == 0:
    time.sleep(0.05)
print(job.run_id, flush=True)
time.sleep(600)
"""


def test_a_restarted_server_picks_up_its_runs_on_the_cluster(ray_head, executor, tmp_path):
    home = tmp_path / "home"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home), ray_head.address, NAMESPACE], cwd=ROOT,
        env={**os.environ, **ray_head.client_env()}, stdout=subprocess.PIPE, text=True)
    try:
        run_id = server.stdout.readline().strip()
        assert run_id, "the server did not start its run"
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        server.kill()
    store = RunStore(home)  # the server's restart: its run on the cluster is left running
    assert store.get_run(run_id)["status"] == "running"
    queue = make_queue(store, executor)
    try:
        job = queue.get(run_id)
        assert job.job is not None, "the new server did not adopt the run"
        assert job.wait(240)
        snap = job.snapshot()
        assert snap["status"] == "completed", snap["message"]
        assert [row["epoch"] for row in snap["history"]] == list(range(1, 9))
        run = store.get_run(run_id)
        assert run["status"] == "completed" and run["server"] == queue.server_id
        assert store.model_file(run_id).is_file() and len(store.epochs(run_id)) == 8
    finally:
        queue.close()


def test_a_run_whose_actor_is_gone_is_interrupted(executor, store):
    store.heartbeat("gone", "ray")
    run_id = store.enqueue(TINY, "alice")
    assert store.claim_next("gone", cap=1, executor="ray")["id"] == run_id
    with store.db.transaction() as tx:  # its server's last heartbeat was long ago
        tx.execute("UPDATE servers SET heartbeat=? WHERE id='gone'", (time.time() - 3600,))
    assert RunStore(store.home).get_run(run_id)["status"] == "running"  # left to a queue
    queue = make_queue(store, executor)
    try:
        run = store.get_run(run_id)
        assert run["status"] == "interrupted" and run["error"] == ORPHAN_GONE
    finally:
        queue.close()


def test_a_run_no_node_can_take_fails_with_a_sentence(ray_head, executor, store):
    # the cluster's one node has 1 CPU and the run asks for 2; a user's wait is 10 minutes,
    # this test's 1 second (`executor` checks that no actor is left behind)
    greedy = RayExecutor(ray_head.address, cpus_per_run=2, namespace=NAMESPACE,
                         placement_seconds=1.0)
    queue = make_queue(store, greedy)
    try:
        job = queue.submit(TINY, "alice")
        assert job.wait(120), "the run neither started nor failed"
    finally:
        queue.close()
    sentence = ("No node of the Ray cluster started this training within 1 second: none has "
                "the CPUs and GPUs a run asks for free; lower STUDIO_MAX_CONCURRENT_TRAININGS "
                "or STUDIO_RAY_GPUS_PER_RUN, or add a node.")
    snap = job.snapshot()
    assert snap["status"] == "failed" and snap["message"] == sentence
    run = store.get_run(job.run_id)
    assert run["status"] == "failed" and run["error"] == sentence and not run["model_path"]


def test_the_cli_trains_on_the_cluster_with_the_same_json(ray_head, executor, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "train", "--ray", ray_head.address,
         "--conv-blocks", "1", "--filters", "8", "--dense-units", "32", "--epochs", "2",
         "--batch-size", "32", "--limit-train", "400", "--limit-test", "200",
         "--home", str(tmp_path / "home"), "--json"],
        cwd=ROOT, env={**os.environ, **ray_head.client_env()},
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["status"] == "completed" and out["epochs_run"] == 2
    assert Path(out["model_path"]).is_file() and out["model_path"].startswith(str(tmp_path))
    assert out["test_accuracy"] is not None and out["device"].startswith("CPU")
    assert "epoch 2/2" in result.stderr


def test_an_unreachable_cluster_is_one_sentence(tmp_path):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ClusterUnavailableError) as caught:
        executor_from_env(address=address)
    sentence = str(caught.value)
    assert sentence.startswith(f"The Ray cluster at {address} cannot be reached")
    assert "\n" not in sentence and sentence.endswith(".")
    with pytest.raises(ClusterUnavailableError, match="must be host:port or auto"):
        executor_from_env(address="head.school.lan")
    cli = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "train", "--preset", "quick", "--home",
         str(tmp_path), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "STUDIO_RAY_ADDRESS": address})
    assert cli.returncode == 2 and cli.stdout == ""
    assert cli.stderr.strip().splitlines() == [f"error: {sentence}"]


def test_a_cluster_that_lets_anyone_in_is_refused_in_one_sentence(tmp_path):
    from fmnist_core.training.ray_executor import require_authentication

    open_head = RayHead(num_cpus=1, auth=False).start()  # no token asked: anyone runs code
    try:
        with pytest.raises(ClusterUnavailableError) as refused:
            require_authentication(open_head.address)
        sentence = str(refused.value)
        assert sentence.startswith(f"The Ray cluster at {open_head.address} lets anyone in")
        assert "RAY_AUTH_MODE=token" in sentence and "\n" not in sentence
        cli = subprocess.run(
            [sys.executable, "-m", "fmnist_core", "train", "--ray", open_head.address,
             "--preset", "quick", "--home", str(tmp_path), "--json"], cwd=ROOT,
            capture_output=True, text=True, timeout=180, env=os.environ)
        assert cli.returncode == 2 and cli.stdout == ""
        assert cli.stderr.strip().splitlines()[-1] == f"error: {sentence}"
        assert RunStore(tmp_path).list_runs() == []  # nothing trained here instead
    finally:
        open_head.stop()


def test_a_studio_without_the_clusters_token_is_refused_in_one_sentence(ray_head, tmp_path):
    cli = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "train", "--ray", ray_head.address, "--home",
         str(tmp_path), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=180,
        # Ray tries a refused connection once a second, 20 times by default (the sentence
        # then comes after about 20 s): three tries give the same sentence sooner
        env={**os.environ, "RAY_AUTH_TOKEN": "not-the-token",
             "RAY_gcs_server_port_wait_time_s": "3"})
    assert cli.returncode == 2 and cli.stdout == ""
    last = cli.stderr.strip().splitlines()[-1]  # Ray's own retries are logged before it
    assert last.startswith(f"error: The Ray cluster at {ray_head.address} did not let the "
                           "studio in;") and "RAY_AUTH_TOKEN" in last
    assert RunStore(tmp_path).list_runs() == []  # nothing trained here instead


def test_the_sidebar_says_where_trainings_run_and_an_unreachable_cluster_is_one_sentence(
        monkeypatch, ray_head, executor):
    from pagetools import page_test, page_text
    from ui import process_wide

    def fresh_queue() -> None:
        """Closes the pages' queue; the next page makes it again from the environment."""
        process_wide.held().pop("cluster_refusal", None)
        queue = process_wide.held().pop("job_queue", None)
        if queue is not None:
            queue.close()

    monkeypatch.setenv("STUDIO_RAY_ADDRESS", ray_head.address)
    fresh_queue()
    try:
        at = page_test("pages/data.py")
        assert not at.exception and not at.error
        assert "Trainings run on the Ray cluster (1 node, 0 GPUs)." in page_text(at)
        assert "Device of this server:" in page_text(at)  # not the nodes' devices
        address = f"127.0.0.1:{free_port()}"
        monkeypatch.setenv("STUDIO_RAY_ADDRESS", address)
        fresh_queue()
        at = page_test("pages/data.py")
        assert not at.exception and not at.error  # only Start is blocked
        assert "Trainings cannot start now" in page_text(at)
        at.switch_page("pages/train.py").run()
        assert not at.exception
        assert [e.value for e in at.error] == [
            f"The Ray cluster at {address} cannot be reached (Connection refused); start its "
            "head (docs/operations.md, \"A class on several machines\") or unset "
            "STUDIO_RAY_ADDRESS to train on this machine."]
    finally:
        monkeypatch.delenv("STUDIO_RAY_ADDRESS")
        fresh_queue()
