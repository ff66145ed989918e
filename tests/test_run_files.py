"""A run's files on disk: written atomically, loaded safely, half-written ones cleaned up."""

import os
import time

import numpy as np
import pytest

from fmnist_core.nets.spec import ModelSpec, preset

# every test that uses `store` runs on SQLite and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def test_save_is_atomic_and_load_is_safe(store):
    from fmnist_core.nets.model import build_model

    run_id = store.create_run(preset("dense"), "alice")
    model = build_model(preset("dense"))
    path = store.save_model(run_id, model)
    assert path.name == f"{run_id}.keras" and not list(store.models_dir.glob("*.partial*"))
    loaded = store.load_model(run_id)
    x = np.zeros((1, 28, 28), np.uint8)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)


def test_failed_save_leaves_nothing_partial(store):
    run_id = store.create_run(ModelSpec(), "alice")

    class Exploding:
        def save(self, path):
            with open(path, "wb") as f:
                f.write(b"half")
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        store.save_model(run_id, Exploding())
    assert not list(store.models_dir.iterdir())


def test_a_partial_model_file_of_another_machine_is_left_to_it(store):
    run_id = store.create_run(ModelSpec(), "alice")
    theirs = store.models_dir / f"{run_id}.{os.getpid() + 1}.other-host.partial.keras"
    theirs.write_bytes(b"being written on another server")
    store.recover()
    assert theirs.exists()
    old = time.time() - 2 * 3600
    os.utime(theirs, (old, old))
    store.recover()
    assert not theirs.exists()


def test_run_file_names_are_plain_and_bound_to_their_run(store):
    run_id = store.create_run(ModelSpec(), "alice")
    assert store.run_file(run_id, "ood.npz") == store.models_dir / f"{run_id}.ood.npz"
    for bad in ["../ood.npz", "OOD.npz", "ood", ".npz", "a/b.npz"]:
        with pytest.raises(ValueError, match="`name`"):
            store.run_file(run_id, bad)
    store.write_run_file(run_id, "epoch-002.weights.h5", lambda p: p.write_bytes(b"w2"))
    store.write_run_file(run_id, "epoch-010.weights.h5", lambda p: p.write_bytes(b"w10"))
    assert list(store.checkpoints(run_id)) == [2, 10]
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in store.run_files(run_id))
