"""bench/waits.py: the start a queued page told, read back and judged against the wait."""

import pytest

from bench import waits
from fmnist_core.store import line_times
from fmnist_core.store.line_times import Place


@pytest.mark.parametrize("seconds", [70.0, 97.0, 754.0, 3900.0])
def test_the_words_the_page_says_are_read_back_as_the_wait_they_round_to(seconds):
    words = line_times.start_words(Place("r", 3, seconds, None, 3))
    said = waits.told(f"Queued: {words} (place 3). 2 waiting ahead of yours, 1 training now")
    assert said.place == 3 and said.low == said.high
    assert abs(said.low - seconds) <= 0.1 * seconds  # the rounding said: a tenth at most


def test_a_range_is_right_inside_it_and_a_start_not_told_is_not_judged():
    under = waits.told("Queued: starts in under a minute (place 1). 0 waiting")
    assert waits.error(under, 45.0) == 0.0
    assert waits.error(under, 80.0) == pytest.approx((60 - 80) / 80)
    about = waits.told("Queued: starts in about 2 min (place 2). 1 waiting")
    assert waits.error(about, 100.0) == pytest.approx(0.2)
    unknown = waits.told("Queued: starts as soon as a training ends (place 1). 0 waiting")
    assert unknown.low is None and waits.error(unknown, 30.0) is None
    assert waits.told("Epoch 1/2 · batch 3/80") is None
    judged = waits.judge([{"told": under, "actual_s": 45.0}, {"told": about, "actual_s": 100.0},
                          {"told": unknown, "actual_s": 30.0}])
    assert (judged["told"], judged["not_told"], judged["said_under_a_minute"],
            judged["said_as_about"], judged["within_target"]) == (2, 1, 1, 1, 2)
    assert judged["error_median"] == pytest.approx(0.1)
