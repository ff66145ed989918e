"""A worker's measured pace kept current: the median of its last calibrations, when the next
is due, and a failure that costs nothing but the measurement."""

import logging

from fmnist_core.store.paces import HOST_WIDE
from fmnist_core.training import calibration, pace_keeper
from fmnist_core.training.pace_keeper import PaceKeeper
from waiting import wait_for


def test_the_keeper_measures_once_a_store_is_known_and_keeps_the_median_of_the_last(
        store, monkeypatch):
    paces = iter([1.0, 3.0, 2.0, 0.9])  # the second in one of the VM's slow spells
    monkeypatch.setattr(calibration, "measure", lambda budget, stop: calibration.Calibration(
        device="CPU (2 cores)", compute=next(paces), overhead=1.0, load=0.1, busy=0.1,
        epochs=(4, 4), seconds=1.0))
    keeper = PaceKeeper(recalibrate_seconds=3600.0, load_seconds=3600.0, one_run=True)
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
    # for one run, the first one's load is kept; later ones leave it to the meter's
    # steadier window
    assert stored[(HOST_WIDE, "load")] == 0.1 and len(stored) == 3


def test_a_workers_calibration_leaves_the_load_to_the_meter(store, monkeypatch):
    # a worker starts as a class opens its pages: what its calibration saw is their burst
    monkeypatch.setattr(calibration, "measure", lambda budget, stop: calibration.Calibration(
        device="CPU (2 cores)", compute=1.0, overhead=1.0, load=0.45, busy=0.45,
        epochs=(4, 4), seconds=1.0))
    keeper = PaceKeeper(load_seconds=3600.0)
    keeper.use(store)
    keeper.calibrate()
    assert {row["kind"] for row in store.paces()} == {"compute", "overhead"}


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


def test_the_load_written_is_the_median_of_the_last_readings_not_a_burst(store, monkeypatch):
    from fmnist_core.nets import load as cpu_load

    # the class opens its pages (50 % of the CPU in the first three readings), then they
    # poll lightly, and burst as a run ends (90 % in the last reading)
    readings = [0.5, 0.5, 0.5] + [0.1, 0.12, 0.11, 0.1, 0.1] + [0.9]
    assert pace_keeper.MIN_LOAD_READINGS == 7
    calls, written = [], []

    class Meter:
        def __init__(self, window):
            self.window = window

        def load(self):
            # what the keeper has written after the readings so far
            written.append([r["value"] for r in store.paces() if r["kind"] == "load"])
            calls.append(len(calls))
            return readings[calls[-1]] if calls[-1] < len(readings) else None

    monkeypatch.setattr(cpu_load, "LoadMeter", Meter)
    keeper = PaceKeeper(load_seconds=0.01)
    keeper.use(store)
    wait_for(lambda: len(calls) > len(readings), what="the readings of the load")
    # nothing before seven readings: the opening burst would have been most of fewer
    assert written[:7] == [[]] * 7 and written[7]
    (last,) = written[-1]
    assert 0.1 <= last < 0.2  # neither burst stands for the host's load
