"""A worker's measured pace kept current: the median of its last calibrations, when the next
is due, and a failure that costs nothing but the measurement."""

import logging

from fmnist_core.store.paces import HOST_WIDE
from fmnist_core.training import calibration
from fmnist_core.training.pace_keeper import PaceKeeper


def test_the_keeper_measures_once_a_store_is_known_and_keeps_the_median_of_the_last(
        store, monkeypatch):
    paces = iter([1.0, 3.0, 2.0, 0.9])  # the second in one of the VM's slow spells
    monkeypatch.setattr(calibration, "measure", lambda budget, stop: calibration.Calibration(
        device="CPU (2 cores)", compute=next(paces), overhead=1.0, load=0.1, busy=0.1,
        epochs=(4, 4), seconds=1.0))
    keeper = PaceKeeper(recalibrate_seconds=3600.0, load_seconds=3600.0)
    assert keeper.due_in() is None and not keeper.first_due  # no store: nothing to keep
    keeper.use(store)
    assert keeper.first_due and keeper.due_in() == 0.0
    kept = []
    for _ in range(4):
        kept.append(keeper.calibrate().compute)
        stored = {(row["device"], row["kind"]): row["value"] for row in store.paces()}
        assert stored[("CPU (2 cores)", "compute")] == kept[-1]
    assert not keeper.first_due and 3500 < keeper.due_in() <= 3600
    assert kept == [1.0, 2.0, 2.0, 2.0]  # medians of the last three, the spell outvoted
    # the first one's load is kept; later ones leave it to the meter's steadier window
    assert stored[(HOST_WIDE, "load")] == 0.1 and len(stored) == 3


def test_a_job_that_has_just_ended_puts_the_next_measurement_off(store):
    keeper = PaceKeeper(recalibrate_seconds=0.0, load_seconds=3600.0, settle_seconds=600.0)
    keeper.use(store)
    assert keeper.due_in() == 0.0
    keeper.job_done()  # a gap between two students' runs is not idle time
    assert 500 < keeper.due_in() <= 600


def test_a_failed_calibration_is_logged_and_the_training_goes_on(store, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the backend is broken")

    monkeypatch.setattr(calibration, "measure", broken)
    keeper = PaceKeeper(load_seconds=3600.0)
    keeper.use(store)
    with caplog.at_level(logging.WARNING, logger="fmnist_core"):
        assert keeper.calibrate() is None
    assert "could not be measured" in caplog.text and not keeper.first_due
