"""Who is still there: servers' heartbeats, and the runs of gone servers or processes."""

import os
import subprocess
import sys
import time

import pytest

from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store.presence import SERVER_STALE_SECONDS, pid_alive
from waiting import wait_for

# every test that uses `store` runs on SQLite and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def test_stale_running_rows_become_interrupted(store, make_store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = store.create_run(ModelSpec(), "alice", status="running")
    store.update_run(stale, pid=dead.pid)
    (store.models_dir / f"{stale}.{dead.pid}.partial.keras").write_bytes(b"half")
    live = store.create_run(ModelSpec(), "bob", status="running")  # this process: alive
    reopened = make_store()
    assert reopened.get_run(stale)["status"] == "interrupted"
    assert reopened.get_run(live)["status"] == "running"
    assert not list(reopened.models_dir.glob("*.partial.keras"))


@pytest.mark.databases("postgresql")
def test_an_outage_does_not_make_live_servers_look_gone(store, postgres):
    store.heartbeat("other", "thread")
    run_id = store.enqueue(ModelSpec(), "alice")
    store.claim_next("other", cap=1, executor="thread")
    with store.db.transaction() as tx:  # its heartbeats failed while the database was away
        tx.execute("UPDATE servers SET heartbeat=? WHERE id='other'", (time.time() - 60,))
    postgres.stop()
    assert not store.available()  # as this server's tick finds every second
    postgres.start()
    wait_for(store.available, timeout=10, what="the store to come back")
    assert store.recover() == []  # it has not had the time to write one since
    store.db.reconnected_at -= 60
    assert store.recover() == [run_id]


def test_a_silent_server_is_gone_and_its_run_adopted_once(store):
    store.heartbeat("gone", "ray")
    store.heartbeat("here", "ray")
    run_id = store.enqueue(ModelSpec(), "alice")
    store.claim_next("gone", cap=1, executor="ray")
    assert store.orphaned_runs() == []  # its heartbeat is fresh
    with store.db.transaction() as tx:
        tx.execute("UPDATE servers SET heartbeat=? WHERE id='gone'",
                   (time.time() - SERVER_STALE_SECONDS - 1,))
    assert [row["id"] for row in store.orphaned_runs()] == [run_id]
    # a Ray run is left to a live server, which adopts it (only one server can)
    assert store.recover(keep_executors=("ray",)) == []
    assert store.adopt(run_id, "here") and store.get_run(run_id)["server"] == "here"
    assert store.orphaned_runs() == []


def test_pid_alive_knows_this_process_and_an_ended_one():
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert pid_alive(os.getpid()) and not pid_alive(ended.pid) and not pid_alive(None)
