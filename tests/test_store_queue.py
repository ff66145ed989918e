"""The queue kept in the run store: the same contract for one server or several.

Two `JobQueue`s on one store are two studio servers: FIFO order, the class's cap, the
per-student limit and Stop hold across them, and no run is started twice.
"""

import contextlib
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fmnist_core.store import schema
from fmnist_core.data.datasets import Dataset
from fmnist_core.training.jobqueue import JobQueue
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.queue import OwnerLimitError
from fmnist_core.nets.spec import ModelSpec
from storetools import peak_running
from waiting import wait_for

# every test that uses `store` runs on SQLite and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.databases("sqlite", "postgresql")

SPEC = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=1, batch_size=32)
V1_STORE = Path(__file__).parent / "data" / "store_v1.sqlite"


def tiny_data(n=256):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n, dtype=np.uint8)
    return Dataset("fashion_mnist", x, y, x[:64], y[:64], tuple("abcdefghij"), "test")


def stored_once_back(store, run_id: str, status: str) -> dict:
    """The run as the store has it once the database answers again and the run's end, with
    `status`, is written there."""
    def written():
        try:
            run = store.get_run(run_id)
        except StoreUnavailableError:
            return None  # still coming back
        return run if run["status"] == status else None

    return wait_for(written, timeout=30, what=f"the run {status} in the store once it is back")


@pytest.fixture
def queues(store):
    """Two servers' queues on one store (threads train; their ticks run every 0.2 s)."""
    data = tiny_data()
    made = [JobQueue(store, max_concurrent=1, dataset_loader=lambda name: data,
                     worker_processes=False, tick_seconds=0.2) for _ in range(2)]
    yield made
    for queue in made:
        queue.close()


@pytest.fixture
def first_release_store(database, database_url, tmp_path):
    """A store as the first release left it (tests/data/store_v1.sqlite, made by that
    release): the file itself on SQLite; on PostgreSQL, the version-1 tables with the file's
    rows in the test's new database."""
    home = tmp_path / "studio"
    home.mkdir()
    if database == "sqlite":
        shutil.copy(V1_STORE, home / "runs.sqlite")
        return
    import psycopg

    with contextlib.closing(sqlite3.connect(V1_STORE)) as old, \
            psycopg.connect(database_url) as new:
        for statement in schema.VERSION_1:
            new.execute(statement)
        for table in ("runs", "epochs"):
            rows = old.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in rows.description]
            new.cursor().executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                f"({', '.join(['%s'] * len(columns))})", rows.fetchall())


def test_a_store_of_the_first_release_is_upgraded_in_place(first_release_store, make_store):
    store = make_store()
    runs = {run["id"]: run for run in store.list_runs()}
    assert {run_id: run["status"] for run_id, run in runs.items()} == {
        "2dd910fa1c56": "completed", "cc0de4bfeb7b": "stopped", "443cc1b1dca6": "cancelled",
        "5871ca0be9b3": "diverged",
        "e0e0e0e0e0e0": "interrupted",  # it was training when that server died
    }
    done = store.get_run("2dd910fa1c56")
    assert done["test_accuracy"] == 0.861 and done["params"] == 693962
    assert done["node"] is None  # trained before runs kept their node
    assert done["best_val_accuracy"] == 0.87 and done["epochs_run"] == 2
    epochs = store.epochs("2dd910fa1c56")
    assert [(e["epoch"], e["complete"], e["val_accuracy"]) for e in epochs] == [
        (1, True, 0.84), (2, True, 0.87)]
    assert store.integrity_ok()
    # the upgraded store works like a new one, and opens again without change
    queued = store.enqueue(SPEC, "alice")
    assert store.queue_position(queued) == 1
    again = make_store()
    assert len(again.list_runs()) == 6 and again.get_run(queued)["status"] == "queued"
    with again.db.transaction() as tx:
        assert tx.value("SELECT value FROM meta WHERE key='schema_version'") == str(
            schema.LATEST)


def test_a_store_of_a_newer_release_is_refused_with_a_sentence(store, make_store):
    with store.db.transaction() as tx:
        tx.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(RuntimeError, match="newer release of the studio"):
        make_store()


def test_the_line_is_fifo_and_capped_and_the_owner_limit_holds(store):
    first, second, third = (store.enqueue(SPEC, who) for who in ("al", "bo", "cy"))
    with pytest.raises(OwnerLimitError, match="already have a training"):
        store.enqueue(SPEC, "al")
    assert [store.queue_position(r) for r in (first, second, third)] == [1, 2, 3]
    assert store.claim_next("server-a", cap=1, executor="thread")["id"] == first
    assert store.claim_next("server-b", cap=1, executor="thread") is None  # the cap
    assert [store.queue_position(r) for r in (first, second, third)] == [0, 1, 2]
    store.finish_run(first, "completed")
    assert store.claim_next("server-b", cap=1, executor="thread")["id"] == second
    assert store.get_run(second)["server"] == "server-b"
    assert store.cancel_queued(third) and not store.cancel_queued(second)
    assert store.queue_position(third) is None


def test_servers_racing_for_the_line_never_start_a_run_twice(store):
    ids = [store.enqueue(SPEC, f"owner{i}") for i in range(12)]
    claimed, barrier = [], threading.Barrier(4)

    def server(name):
        barrier.wait()
        while (run := store.claim_next(name, cap=100, executor="thread")) is not None:
            claimed.append(run["id"])

    threads = [threading.Thread(target=server, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # each exactly once


def test_two_servers_share_the_cap_fifo_and_stop(queues, store):
    a, b = queues
    long = SPEC.replace(epochs=200, batch_size=8)
    first = a.submit(long, "alice")
    second = b.submit(SPEC, "bob")
    third = a.submit(SPEC, "carol")
    assert first.status == "running" and a.position(first) == 0
    # B has a free slot, but the class's cap of one is taken by A's run
    assert b.position(second) == 1 and a.position(third) == 2
    assert second.snapshot()["message"] == "Queued: number 1 in line."
    with pytest.raises(OwnerLimitError):
        b.submit(SPEC, "alice")  # the same student on the other server
    with pytest.raises(PermissionError):
        b.stop(first.run_id, "bob")
    wait_for(lambda: first.snapshot()["steps_done"] > 0, what="the first batch")
    b.stop(first.run_id, "alice")  # alice's next request lands on server B
    # A's tick passes the request on; the call in flight is the last one trained
    assert first.wait(120)
    snap = first.snapshot()
    assert snap["status"] == "stopped" and snap["steps_done"] == snap["stop_seen_at_step"]
    # B's run started next (FIFO), then A's: each on one server only
    assert second.wait(60) and third.wait(60)
    runs = {run["id"]: run for run in store.list_runs()}
    assert runs[second.run_id]["status"] == runs[third.run_id]["status"] == "completed"
    assert runs[second.run_id]["started"] <= runs[third.run_id]["started"]
    assert peak_running(store) == 1  # never two at once across servers


def test_a_run_trained_on_another_server_is_seen_live(queues, store):
    a, b = queues
    job = a.submit(SPEC.replace(epochs=200, batch_size=8), "alice")  # stopped below
    seen = b.get(job.run_id)
    assert seen.job is None  # not trained on B
    wait_for(lambda: seen.snapshot()["batch_points"], what="progress on the other server")
    assert seen.snapshot()["status"] == "running" and not seen.done
    a.stop(job.run_id, "alice")
    assert seen.wait(120) and seen.status == "stopped"
    assert seen.snapshot()["message"].startswith("Stopped in epoch")
    assert seen.snapshot()["stopped_by"] == "owner"  # the other server knows who, too


def test_a_run_keeps_the_node_that_trained_it(queues, store):
    from fmnist_core.store.presence import HOST

    job = queues[0].submit(SPEC, "alice")
    assert job.wait(120) and job.status == "completed"
    run = store.get_run(job.run_id)
    assert run["node"] == HOST and run["host"] == HOST
    # a thread of the server trains with every core of its machine
    assert run["device"].startswith("CPU (") and f"({os.cpu_count()} cores" in run["device"]


def test_the_teacher_stopping_a_run_or_cancelling_a_queued_one_is_told_as_theirs(queues):
    from ui.train_view import outcome

    a, _ = queues
    running = a.submit(SPEC.replace(epochs=200, batch_size=8), "alice")
    waiting = a.submit(SPEC, "bob")  # behind alice's (cap 1)
    wait_for(lambda: running.snapshot()["batch_points"], what="alice's first batches")
    a.stop(waiting.run_id, owner=None)
    a.stop(running.run_id, owner=None)
    assert running.wait(120) and running.status == "stopped"
    assert outcome(running.snapshot()).startswith("Stopped by your teacher in epoch")
    assert a.get(waiting.run_id).snapshot()["message"] == (
        "Your teacher cancelled it before it started.")


def test_runs_of_a_server_that_went_away_are_interrupted(store):
    store.heartbeat("gone", "thread")
    run = store.enqueue(SPEC, "alice")
    assert store.claim_next("gone", cap=1, executor="thread")["id"] == run
    with store.db.transaction() as tx:  # its last heartbeat was long ago
        tx.execute("UPDATE servers SET heartbeat=? WHERE id='gone'", (time.time() - 3600,))
    assert store.recover() == [run]
    assert store.get_run(run)["status"] == "interrupted"


def test_queued_runs_of_absent_owners_are_cancelled_after_a_grace(store):
    kept, dropped = store.enqueue(SPEC, "here"), store.enqueue(SPEC, "gone")
    with store.db.transaction() as tx:  # both queued a minute ago
        tx.execute("UPDATE runs SET created=created-60")
    store.touch_owners(["here"])
    assert store.cancel_absent(grace_seconds=30) == [dropped]
    assert store.get_run(kept)["status"] == "queued"
    assert store.get_run(dropped)["status"] == "cancelled"


def test_the_owner_secret_is_made_once_and_kept(store, make_store):
    assert store.secret() == make_store().secret() and len(store.secret()) == 32


def test_servers_opening_a_new_store_together_create_it_once(make_store):
    opened, barrier = [], threading.Barrier(4)

    def server():
        barrier.wait()
        opened.append(make_store())

    threads = [threading.Thread(target=server) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(opened) == 4
    with opened[0].db.transaction() as tx:
        assert tx.value("SELECT value FROM meta WHERE key='schema_version'") == str(
            schema.LATEST)
    assert len({store.secret() for store in opened}) == 1


def test_connections_switching_a_new_sqlite_file_to_wal_together_all_succeed(tmp_path):
    # Four at once on a new file: SQLite answers some of them "locked" at once (about one
    # round in six on this machine) however long their busy timeout is.
    from fmnist_core.store.db import SqliteDatabase

    for round_ in range(40):
        path, errors = tmp_path / f"store-{round_}.sqlite", []
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE t (i INTEGER)")
        barrier = threading.Barrier(4)

        def server():
            barrier.wait()
            try:
                SqliteDatabase(path)
            except sqlite3.OperationalError as err:
                errors.append(str(err))

        threads = [threading.Thread(target=server) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [], f"round {round_}: {errors}"
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.databases("postgresql")
def test_a_training_that_ends_while_the_database_is_away_keeps_its_result(store, postgres):
    from fmnist_core.training.job import TrainingJob

    job = TrainingJob(SPEC.replace(epochs=200, batch_size=8), "alice", store,
                      dataset=tiny_data())
    job.start()
    wait_for(lambda: store.epochs(job.run_id), what="the first epoch in the store")
    postgres.stop()
    try:
        wait_for(lambda: "store_error" in job.snapshot(), timeout=30,
                 what="the job to notice the database is away")
        epochs_before = job.snapshot()["epoch"]
        wait_for(lambda: job.snapshot()["epoch"] >= epochs_before + 2, timeout=60,
                 what="training to go on while the database is away")
        job.stop()
        assert job.wait(60)
        snap = job.snapshot()
        assert snap["status"] == "stopped" and snap["test_accuracy"] is not None
        assert store.model_file(job.run_id).exists()  # written to STUDIO_HOME regardless
        assert not store.available()
    finally:
        postgres.start()

    run = stored_once_back(store, job.run_id, "stopped")
    assert run["test_accuracy"] == snap["test_accuracy"] and run["model_path"]
    assert run["progress"]["status"] == "stopped" and "store_error" not in run["progress"]
    complete = [row for row in snap["history"] if row.get("complete", True)]
    assert run["epochs_run"] == len(complete) > epochs_before
    assert len(store.epochs(job.run_id)) == len(snap["history"])
    assert "store_error" not in job.snapshot()


@pytest.mark.databases("postgresql")
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_stop_reaches_a_run_training_here_while_the_database_is_away(queues, store, postgres):
    here, elsewhere = queues
    handle = here.submit(SPEC.replace(epochs=200, batch_size=8), "alice")
    wait_for(lambda: store.epochs(handle.run_id), what="the first epoch in the store")
    postgres.stop()
    try:
        # the server that trains it knows its owner without the store
        with pytest.raises(PermissionError):
            here.stop(handle.run_id, "bob")
        # another server asks the store, which is away: one sentence, not a stop
        with pytest.raises(StoreUnavailableError):
            elsewhere.stop(handle.run_id, "alice")
        assert not handle.stop_requested
        here.stop(handle.run_id, "alice")
        assert handle.wait(60)
        snap = handle.snapshot()
        assert snap["status"] == "stopped" and snap["test_accuracy"] is not None
        assert "store_error" in snap  # it ended while the database was away
    finally:
        postgres.start()

    run = stored_once_back(store, handle.run_id, "stopped")
    assert run["test_accuracy"] == snap["test_accuracy"] and run["model_path"]
    # the line moves on: the next run starts once the database is back
    following = elsewhere.submit(SPEC, "carol")
    assert following.wait(60) and following.snapshot()["status"] == "completed"


def test_a_student_who_drops_their_cookie_is_still_one_address(store):
    store.enqueue(SPEC, "owner-a", client="10.0.0.31", max_per_client=1)
    with pytest.raises(OwnerLimitError, match="This computer already has a training"):
        store.enqueue(SPEC, "owner-b", client="10.0.0.31", max_per_client=1)  # a fresh cookie
    store.enqueue(SPEC, "owner-c", client="10.0.0.32", max_per_client=1)  # a classmate
    store.enqueue(SPEC, "owner-d", client=None, max_per_client=1)  # this machine itself
    store.enqueue(SPEC, "owner-e", client="10.0.0.31", max_per_client=None)  # no limit set
