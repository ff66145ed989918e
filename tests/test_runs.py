"""The run rows and their epochs: kept, listed, deleted by their owner, one transaction each.

The other parts of the store have their own files: the line (test_store_queue.py), servers
and orphans (test_presence.py), files on disk (test_run_files.py), a row's form
(test_records.py).
"""

import sqlite3
import sys
import time

import pytest

from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.nets.spec import ModelSpec, preset
from waiting import wait_for

# every test that uses `store` runs on SQLite and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def test_store_survives_a_reopen(store, make_store):
    run_id = store.create_run(preset("quick"), "alice")
    store.add_epoch(run_id, 1, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6,
                                "val_accuracy": 0.78}, seconds=1.5)
    store.update_run(run_id, status="completed", test_accuracy=0.77)
    again = make_store()
    run = again.get_run(run_id)
    assert run["spec"] == preset("quick") and run["test_accuracy"] == 0.77
    assert run["best_val_accuracy"] == 0.78 and run["epochs_run"] == 1
    assert again.epochs(run_id)[0]["seconds"] == 1.5
    assert again.integrity_ok()


@pytest.mark.databases("sqlite")
def test_the_sqlite_file_is_in_wal_mode_and_intact(store):
    store.create_run(preset("quick"), "alice")
    assert store.path == store.home / "runs.sqlite" and store.integrity_ok()
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_only_the_owner_deletes(store):
    run_id = store.create_run(ModelSpec(), "alice")
    store.update_run(run_id, status="completed")
    store.model_file(run_id).write_bytes(b"model")
    with pytest.raises(PermissionError):
        store.delete_run(run_id, "bob")
    assert store.get_run(run_id)
    store.delete_run(run_id, "alice")
    assert not store.model_file(run_id).exists()
    with pytest.raises(RunNotFoundError):
        store.get_run(run_id)


@pytest.mark.databases("sqlite")
def test_a_diverged_run_keeps_no_file_and_a_stopped_one_keeps_its_own(store):
    kept, diverged = (store.create_run(ModelSpec(), "alice") for _ in range(2))
    for run_id in (kept, diverged):
        store.write_run_file(run_id, "epoch-001.weights.h5", lambda p: p.write_bytes(b"w"))
    store.finish_run(kept, "stopped")
    store.finish_run(diverged, "diverged", error="The loss became nan.")
    assert store.run_files(diverged) == [] and store.get_run(diverged)["status"] == "diverged"
    assert [p.name for p in store.run_files(kept)] == [f"{kept}.epoch-001.weights.h5"]


def test_active_runs_cannot_be_deleted(store):
    run_id = store.create_run(ModelSpec(), "alice", status="running")
    with pytest.raises(PermissionError, match="still training"):
        store.delete_run(run_id, "alice")


def test_list_runs_newest_first_and_by_owner(store):
    a = store.create_run(ModelSpec(), "alice")
    b = store.create_run(ModelSpec(), "bob")
    assert [r["id"] for r in store.list_runs()] == [b, a]
    assert [r["id"] for r in store.list_runs(owner="alice")] == [a]


def test_a_transaction_that_fails_half_way_writes_nothing(store):
    run_id = store.create_run(ModelSpec(), "alice", status="completed")
    with pytest.raises(RuntimeError, match="half way"):
        with store.db.transaction() as tx:
            tx.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
            tx.execute("UPDATE runs SET status='failed' WHERE id=?", (run_id,))
            raise RuntimeError("half way")
    assert store.get_run(run_id)["status"] == "completed"


def count_connection_attempts(monkeypatch) -> list:
    """Every plain connection psycopg is asked for from now on (the store's probes of a
    database that went away; its pool connects otherwise)."""
    import psycopg

    attempts, connect = [], psycopg.connect

    def counted(*args, **kwargs):
        attempts.append(args)
        return connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", counted)
    return attempts


class HeldClock:
    """The `time` module with `monotonic` held still until advanced."""

    def __init__(self):
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name):
        return getattr(time, name)


def hold_the_clock(monkeypatch, store) -> HeldClock:
    """Holds the clock of the store's database module still (returned, to advance)."""
    clock = HeldClock()
    monkeypatch.setattr(sys.modules[type(store.db).__module__], "time", clock)
    return clock


@pytest.mark.databases("postgresql")
def test_the_database_away_is_one_sentence_at_once_and_the_store_comes_back(
        store, postgres, monkeypatch):
    run_id = store.create_run(ModelSpec(), "alice")
    postgres.stop()
    try:
        with pytest.raises(StoreUnavailableError, match="cannot be reached") as err:
            store.get_run(run_id)
        assert "\n" not in str(err.value) and store.describe() in str(err.value)
        # a page polling meanwhile never waits for a timeout: its calls fail without trying
        # to connect, and one call per retry interval tries (the store's clock held still)
        probes = count_connection_attempts(monkeypatch)
        clock = hold_the_clock(monkeypatch, store)
        for _ in range(20):
            assert not store.available()
        assert probes == []
        clock.advance(type(store.db).RETRY_SECONDS)
        for _ in range(20):
            assert not store.available()
        assert len(probes) == 1
        monkeypatch.undo()  # the real clock and connections again
    finally:
        postgres.start()
    # the same store object (a server's) answers again by itself
    wait_for(store.available, timeout=10, what="the store to come back")
    assert store.get_run(run_id)["owner"] == "alice"
