import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from fmnist_core.runs import RunNotFoundError, RunStore, validate_run_id
from fmnist_core.spec import ModelSpec, preset


def test_store_survives_a_reopen(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(preset("quick"), "alice")
    store.add_epoch(run_id, 1, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6,
                                "val_accuracy": 0.78}, seconds=1.5)
    store.update_run(run_id, status="completed", test_accuracy=0.77)
    again = RunStore(tmp_path)
    run = again.get_run(run_id)
    assert run["spec"] == preset("quick") and run["test_accuracy"] == 0.77
    assert run["best_val_accuracy"] == 0.78 and run["epochs_run"] == 1
    assert again.epochs(run_id)[0]["seconds"] == 1.5
    assert again.integrity_ok()
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_only_the_owner_deletes(tmp_path):
    store = RunStore(tmp_path)
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


def test_active_runs_cannot_be_deleted(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(ModelSpec(), "alice", status="running")
    with pytest.raises(PermissionError, match="still training"):
        store.delete_run(run_id, "alice")


def test_stale_running_rows_become_interrupted(tmp_path):
    store = RunStore(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = store.create_run(ModelSpec(), "alice", status="running")
    store.update_run(stale, pid=dead.pid)
    (store.models_dir / f"{stale}.{dead.pid}.partial.keras").write_bytes(b"half")
    live = store.create_run(ModelSpec(), "bob", status="running")  # this process: alive
    reopened = RunStore(tmp_path)
    assert reopened.get_run(stale)["status"] == "interrupted"
    assert reopened.get_run(live)["status"] == "running"
    assert not list(reopened.models_dir.glob("*.partial.keras"))


def test_save_is_atomic_and_load_is_safe(tmp_path):
    from fmnist_core.model import build_model

    store = RunStore(tmp_path)
    run_id = store.create_run(preset("dense"), "alice")
    model = build_model(preset("dense"))
    path = store.save_model(run_id, model)
    assert path.name == f"{run_id}.keras" and not list(tmp_path.glob("models/*.partial*"))
    loaded = store.load_model(run_id)
    x = np.zeros((1, 28, 28), np.uint8)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)


def test_failed_save_leaves_nothing_partial(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(ModelSpec(), "alice")

    class Exploding:
        def save(self, path):
            with open(path, "wb") as f:
                f.write(b"half")
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        store.save_model(run_id, Exploding())
    assert not list(store.models_dir.iterdir())


def test_run_ids_are_validated():
    assert validate_run_id("0123456789ab") == "0123456789ab"
    for bad in ["../etc/passwd", "ABCDEF012345", "", None, "0123456789abc"]:
        with pytest.raises(ValueError, match="`run_id`"):
            validate_run_id(bad)


def test_list_runs_newest_first_and_by_owner(tmp_path):
    store = RunStore(tmp_path)
    a = store.create_run(ModelSpec(), "alice")
    b = store.create_run(ModelSpec(), "bob")
    assert [r["id"] for r in store.list_runs()] == [b, a]
    assert [r["id"] for r in store.list_runs(owner="alice")] == [a]
    assert os.path.exists(tmp_path / "runs.sqlite")
