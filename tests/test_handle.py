"""A run's handle and stored snapshot: what a page draws of a run that trains elsewhere."""

from types import SimpleNamespace

import pytest

from fmnist_core.nets.spec import ModelSpec
from fmnist_core.training.handle import RunHandle, stored_snapshot

SPEC = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=3, batch_size=32)


def elsewhere(store):
    """A queue of this server that trains none of the store's runs."""
    return SimpleNamespace(store=store, job=lambda run_id: None)


def test_a_queued_run_is_drawn_with_its_place_in_line(store):
    store.enqueue(SPEC, "alice")
    waiting = RunHandle(elsewhere(store), store.enqueue(SPEC, "bob"))
    snap = waiting.snapshot()
    assert snap["status"] == "queued" and snap["queue_position"] == 2
    assert snap["message"] == "Queued: number 2 in line." and snap["started_at"] is None
    assert waiting.owner == "bob" and not waiting.done and not waiting.stop_requested
    assert not waiting.wait(timeout=0.2)


def test_a_run_that_ended_elsewhere_is_drawn_from_its_row(store):
    run_id = store.create_run(SPEC, "alice")
    store.add_epoch(run_id, 1, {"loss": 1.0, "val_accuracy": 0.5}, seconds=2.0)
    store.request_stop(run_id, by="teacher")
    store.finish_run(run_id, "stopped", stop_reason="Stopped in epoch 2.", total_seconds=9.0,
                     test_accuracy=0.6)
    handle = RunHandle(elsewhere(store), run_id)
    assert handle.done and handle.wait(timeout=0) and handle.status == "stopped"
    snap = handle.snapshot()
    assert snap["message"] == "Stopped in epoch 2." and snap["stopped_by"] == "teacher"
    assert snap["elapsed"] == 9.0 and snap["test_accuracy"] == 0.6 and snap["eta"] == 0.0
    assert [row["epoch"] for row in snap["history"]] == [1]  # no progress kept: its epochs
    assert handle == RunHandle(elsewhere(store), run_id)


def test_the_trainers_last_progress_is_the_snapshot(store):
    run_id = store.create_run(SPEC, "alice")
    store.update_progress(run_id, {"epoch": 2, "steps_done": 40, "store_error": "away"})
    snap = stored_snapshot(store, store.get_run(run_id))
    assert snap["epoch"] == 2 and snap["steps_done"] == 40 and snap["status"] == "running"
    assert "store_error" not in snap  # a note of the trainer's, not of the run


def test_a_deleted_run_is_not_found(store):
    from fmnist_core.store.records import RunNotFoundError

    with pytest.raises(RunNotFoundError):
        RunHandle(elsewhere(store), "0123456789ab").snapshot()
