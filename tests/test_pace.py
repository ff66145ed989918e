"""This machine's pace as the estimate reads it: measured rows, load, runs' correction."""

import time

import pytest

from fmnist_core.nets import pace
from fmnist_core.nets.precision import MIXED

CPU = "CPU (2 cores, bfloat16 compute)"


def test_the_finished_runs_correction_is_the_median_of_the_last_few():
    samples = [
        # measured twice the estimate, on this device
        {"device": "CPU", "epoch_seconds": 20.0, "estimate_seconds": 10.0},
        {"device": "CPU", "epoch_seconds": 44.0, "estimate_seconds": 20.0},
        # an estimate that was already corrected by 2: its raw ratio is 2 as well
        {"device": "CPU", "epoch_seconds": 16.0, "estimate_seconds": 16.0,
         "estimate_factor": 2.0},
        {"device": "GPU", "epoch_seconds": 1.0, "estimate_seconds": 10.0},  # another device
        {"device": "CPU", "epoch_seconds": None, "estimate_seconds": 10.0},  # never finished
    ]
    factor, used = pace.runs_factor(samples, "CPU", None, paced=False)
    assert used == 3 and factor == pytest.approx(2.0)
    assert pace.runs_factor(samples, "GPU", None, paced=False) == (pytest.approx(0.1), 1)
    assert pace.runs_factor([], "CPU", None, paced=False) == (1.0, 0)
    wild = [{"device": "CPU", "epoch_seconds": 1e6, "estimate_seconds": 1.0}]
    assert pace.runs_factor(wild, "CPU", None, paced=False)[0] == pace.UNPACED_BOUNDS[1]
    # over a measured pace the runs correct what it misses, within narrower bounds
    paced = [{**s, "paced": True} for s in wild]
    assert pace.runs_factor(paced, "CPU", None, paced=True)[0] == pace.RUNS_BOUNDS[1]
    # only the last RECENT_RUNS count
    many = [{"device": CPU, "paced": True, "epoch_seconds": 1.0, "estimate_seconds": 1.0}] * (
        pace.RECENT_RUNS) + [{"device": CPU, "paced": True, "epoch_seconds": 1.9,
                               "estimate_seconds": 1.0}] * 10
    assert pace.runs_factor(many, None, MIXED, paced=True) == (1.0, pace.RECENT_RUNS)
    # over a measured pace, one run moves it halfway (in proportion), five five sixths
    twice = {"device": CPU, "paced": True, "epoch_seconds": 2.0, "estimate_seconds": 1.0}
    assert pace.runs_factor([twice], None, MIXED, paced=True) == (
        pytest.approx(2 ** 0.5), 1)
    assert pace.runs_factor([twice] * 5, None, MIXED, paced=True) == (
        pytest.approx(2 ** (5 / 6)), 5)
    # a first lesson's runs, one short epoch each: less its training step's tracing, it
    # still holds the prediction function's, which the estimate leaves out; a long one counts
    lone = {"device": CPU, "paced": True, "epochs": 1, "estimate_seconds": 0.3}
    assert pace.runs_factor([{**lone, "epoch_seconds": 1.2}], None, MIXED, paced=True) == (
        1.0, 0)
    assert pace.runs_factor([{**lone, "epoch_seconds": 12.0, "estimate_seconds": 10.0}], None,
                            MIXED, paced=True) == (pytest.approx(1.2 ** 0.5), 1)


def test_the_pace_is_read_for_the_device_or_the_arithmetic(store):
    assert pace.for_machine(store, None, MIXED) == pace.Pace()  # nothing measured
    store.save_pace(CPU, "compute", 1.4)
    assert pace.for_machine(store, CPU, MIXED).measured is None  # half a measurement
    store.save_pace(CPU, "overhead", 0.7)
    store.save_pace("CPU (2 cores)", "compute", 3.0)
    store.save_pace("CPU (2 cores)", "overhead", 3.0)
    for device in (CPU, None):
        found = pace.for_machine(store, device, MIXED)
        assert (found.compute, found.overhead) == (1.4, 0.7), device
        assert found.measured == pytest.approx(time.time(), abs=60)
    assert pace.for_machine(store, None, "float32").compute == 3.0
    assert pace.for_machine(store, "CPU (16 cores)", MIXED).measured is None


def test_a_pace_says_what_it_rests_on():
    now = 1_000_000.0
    assert "reference CPU" in pace.Pace().basis(now)
    measured = pace.Pace(measured=now - 300, load=0.4, beside=1, runs=1.1, used=3)
    assert measured.basis(now) == ("this machine's pace, measured 5 min ago, with other "
                                   "work taking 40% of its CPU, beside 1 other training, "
                                   "corrected by its last 3 runs")
    # a GPU's arithmetic does not wait for the host's CPU; its Python does
    gpu = pace.Pace(compute=0.05, overhead=0.5, load=0.5, on_gpu=True)
    assert gpu.compute_factor() == pytest.approx(0.05)
    assert gpu.overhead_factor() == pytest.approx(0.5 / 0.5 ** 0.5)  # Python, less slowed
