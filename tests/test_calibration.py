"""Measuring this machine's training pace: the timed workloads, the solve, the keeper."""

import pytest

from fmnist_core.nets import precision
from fmnist_core.nets.device import device_info
from fmnist_core.store.paces import HOST_WIDE
from fmnist_core.training import calibration


def test_a_calibration_measures_a_positive_pace_and_keeps_it_for_this_host_and_device(store):
    result = calibration.calibrate(store, budget=0.0)
    info = device_info()
    assert result.device == precision.device_line(info, precision.training_policy(info))
    assert result.compute > 0 and result.overhead > 0
    # with no budget beyond the tracing, the fewest rounds: each workload timed a few epochs
    minimum = calibration.ROUNDS * calibration.EPOCHS_PER_ROUND
    assert result.epochs == (minimum, minimum)
    assert result.load is None or 0.0 <= result.load <= 1.0
    rows = {(row["device"], row["kind"]): row["value"] for row in store.paces()}
    assert rows[(result.device, "compute")] == pytest.approx(result.compute)
    assert rows[(result.device, "overhead")] == pytest.approx(result.overhead)
    if result.load is not None:
        assert rows[(HOST_WIDE, "load")] == pytest.approx(result.load)


@pytest.mark.parametrize("policy", ["float32", precision.MIXED])
def test_the_two_workloads_give_the_two_paces(policy):
    ref = calibration.reference_seconds(policy)
    # the compute workload is mostly per-image work, the overhead one mostly per-batch costs
    assert ref["compute"][0] > 2 * ref["compute"][1]
    assert ref["overhead"][1] > 2 * ref["overhead"][0]

    def timed(compute, overhead):
        return {kind: [compute * a + overhead * b] * 4 for kind, (a, b) in ref.items()}

    for compute, overhead in ((1.0, 1.0), (2.5, 0.6), (0.3, 4.0)):
        assert calibration.solve(timed(compute, overhead), policy) == (
            pytest.approx(compute), pytest.approx(overhead))
    # noise that makes the solution negative: each workload's own ratio stands for its kind
    odd = timed(1.0, 1.0)
    odd["overhead"] = [0.1 * sum(ref["overhead"])] * 4
    compute, overhead = calibration.solve(odd, policy)
    assert compute == pytest.approx(1.0) and overhead == pytest.approx(0.1)
