"""The run store's pace rows (per host and device) and the finished runs' timings."""

import pytest

from fmnist_core.nets.spec import preset
from fmnist_core.store.paces import HOST_WIDE
from fmnist_core.store.presence import HOST

CPU = "CPU (2 cores, bfloat16 compute)"
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def test_a_pace_is_kept_per_host_and_device_and_replaced_by_the_next(store):
    store.save_pace(CPU, "compute", 1.5)
    store.save_pace(CPU, "overhead", 0.8)
    store.save_pace("GPU (A100)", "compute", 0.05)
    store.save_pace(CPU, "compute", 1.7)  # measured again: the latest stands
    store.save_pace(CPU, "compute", 3.0, host="lab-pc-2")  # another machine of the school
    mine = {(row["device"], row["kind"]): row["value"] for row in store.paces()}
    assert mine == {(CPU, "compute"): 1.7, (CPU, "overhead"): 0.8,
                    ("GPU (A100)", "compute"): 0.05}
    assert [(r["device"], r["value"]) for r in store.paces(host="lab-pc-2")] == [(CPU, 3.0)]
    store.save_pace(HOST_WIDE, "load", 0.4)
    assert store.paces()[0]["kind"] == "load"  # latest first
    for kind, value in (("speed", 1.0), ("compute", -1.0), ("compute", float("nan")),
                        ("compute", float("inf")), ("load", "0.4")):
        with pytest.raises(ValueError, match="Argument `(kind|value)`"):
            store.save_pace(CPU, kind, value)


def _finished(store, epochs, *, seconds, prepare=None, paced=True, host=HOST, status="completed"):
    run_id = store.create_run(preset("quick"), "alice", device=CPU, host=host,
                              estimate_seconds=2.0, estimate_factor=1.25)
    for epoch, took in enumerate(seconds[:epochs], start=1):
        store.add_epoch(run_id, epoch, {"loss": 1.0}, took)
    history = [{"epoch": 1, "seconds": seconds[0], "prepare_seconds": prepare}]
    store.update_progress(run_id, {"estimate_paced": paced, "history": history})
    store.finish_run(run_id, status)
    return run_id


def test_the_timings_are_the_later_epochs_or_a_lone_epoch_less_its_preparation(store):
    three = _finished(store, 3, seconds=[9.0, 4.0, 6.0])
    lone = _finished(store, 1, seconds=[7.0], prepare=2.5, paced=False)
    untold = _finished(store, 1, seconds=[7.0], prepare=None)  # its tracing not measured
    _finished(store, 2, seconds=[9.0, 4.0], status="failed")  # not a finished run
    _finished(store, 2, seconds=[9.0, 4.0], host="lab-pc-2")  # another machine's
    samples = {s["id"]: s for s in store.timing_samples()}
    assert set(samples) == {three, lone, untold}
    assert samples[three]["epoch_seconds"] == pytest.approx(5.0)  # the first epoch traces
    assert samples[three]["epochs"] == 2 and samples[three]["paced"] is True
    assert samples[lone]["epoch_seconds"] == pytest.approx(4.5) and samples[lone]["epochs"] == 1
    assert samples[lone]["paced"] is False
    assert samples[untold]["epoch_seconds"] is None
    assert samples[three]["estimate_seconds"] == 2.0 and samples[three]["estimate_factor"] == 1.25
    assert samples[three]["spec"] == preset("quick") and samples[three]["device"] == CPU
    # newest first, and every host's when asked
    assert [s["id"] for s in store.timing_samples(limit=2)] == [untold, lone]
    assert len(store.timing_samples(host=None)) == 4


def test_the_trainings_running_on_this_host_are_counted(store):
    mine = store.create_run(preset("quick"), "alice")  # running from its start, on this host
    store.create_run(preset("quick"), "bob")
    store.create_run(preset("quick"), "carol", host="lab-pc-2")
    assert store.trainings_running() == 2
    assert store.trainings_running(besides=mine) == 1
    store.finish_run(mine, "completed")
    assert store.trainings_running() == 1
