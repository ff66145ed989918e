"""Epoch checkpoints: which epochs a run keeps, and a full disk costing one epoch's replay."""

import logging
from types import SimpleNamespace

from fmnist_core.nets.model import build_model
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.training.checkpoints import (MAX_CHECKPOINTS, checkpoint_name, keeps_checkpoint,
                                              save_checkpoint)

TINY = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=1, batch_size=64)


def test_a_long_run_keeps_at_most_twelve_checkpoints_with_the_start_first_and_last():
    for epochs in (1, 5, 12, 13, 50, 200):
        kept = [e for e in range(0, epochs + 1) if keeps_checkpoint(e, epochs)]
        assert kept[:2] == [0, 1] and kept[-1] == epochs
        assert len(kept) <= 1 + MAX_CHECKPOINTS + 2  # the start, and the trained epochs
        if epochs <= MAX_CHECKPOINTS:
            assert kept == list(range(0, epochs + 1))


class FullDisk:
    def write_run_file(self, run_id, name, write):
        raise OSError(28, "No space left on device")


def test_a_full_disk_costs_the_epochs_replay_and_says_so(caplog):
    updates = {}
    job = SimpleNamespace(run_id="r1", store=FullDisk(), update=updates.update)
    with caplog.at_level(logging.WARNING, logger="fmnist_core.training.checkpoints"):
        save_checkpoint(job, build_model(TINY), 3)
    assert updates == {"store_error": "The weights of epoch 3 could not be kept (No space left "
                                      "on device)."}
    assert "weights of epoch 3 could not be written" in caplog.text
    # only this module's records: another library may log meanwhile (a garbage-collected
    # notebook kernel's client, from an earlier test in this worker)
    ours = [r for r in caplog.records if r.name == "fmnist_core.training.checkpoints"]
    assert ours and ours[0].exc_info is not None
    assert checkpoint_name(3) == "epoch-003.weights.h5"
