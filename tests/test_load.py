"""The load other work puts on the CPU, read from /proc/stat, and the share left to a training."""

import os

import pytest

from fmnist_core.nets import load


def _stat(tmp_path, user, nice, system, idle, steal=0):
    path = tmp_path / "stat"
    path.write_text(f"cpu  {user} {nice} {system} {idle} 0 0 0 {steal} 0 0\n"
                    f"cpu0 {user} {nice} {system} {idle} 0 0 0 {steal} 0 0\n")
    return str(path)


def test_the_work_ahead_of_a_niced_training_is_read_from_proc_stat(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")
    reading = load.read(_stat(tmp_path, user=300, nice=500, system=100, idle=1000, steal=100))
    # user, system and the hypervisor's steal go before a niced training; niced work does not
    assert reading.ahead == pytest.approx(500 / ticks)
    assert reading.total == pytest.approx(2000 / ticks)
    assert load.read(str(tmp_path / "missing")) is None
    (tmp_path / "odd").write_text("intr 1 2 3\n")
    assert load.read(str(tmp_path / "odd")) is None


def test_the_load_leaves_out_the_measuring_process_own_time():
    before = load.CpuReading(ahead=10.0, total=100.0, own=1.0, at=0.0)
    # 20 s of 40 (two cores for 20 s) went to work ahead, 8 of them this process's own
    after = load.CpuReading(ahead=30.0, total=140.0, own=9.0, at=20.0)
    assert load.load_between(before, after) == pytest.approx(12 / 40)
    assert load.load_between(before, before) is None  # no time between them
    assert load.load_between(None, after) is None


def test_a_training_gets_what_the_work_ahead_leaves_split_with_the_trainings_beside_it():
    assert load.share(0.0, 0) == 1.0
    assert load.share(0.5, 0) == pytest.approx(0.5)
    assert load.share(0.5, 1) == pytest.approx(0.25)
    assert load.share(1.0, 3) == load.MIN_SHARE  # never nothing: a niced process gets time
    with pytest.raises(ValueError, match="Argument `load`"):
        load.share(1.5, 0)
    with pytest.raises(ValueError, match="Argument `beside`"):
        load.share(0.2, -1)


def test_a_meter_reads_the_host_over_its_window():
    meter = load.LoadMeter(window=60.0)
    first = load.read()
    assert first is not None  # Linux: /proc/stat is there
    while load.read().total <= first.total:  # the kernel's clock ticks a few ms apart
        sum(range(10_000))
    value = meter.load()
    assert value is not None and 0.0 <= value <= 1.0
