"""The line's arithmetic: when each waiting run starts, from the runs training now and the
estimates of the runs ahead, and the words a waiting student reads."""

import pytest

from fmnist_core.nets.estimate import Estimate
from fmnist_core.nets.spec import preset
from fmnist_core.store import line_times
from fmnist_core.store.line_times import Cost, Place

NOW = 10_000.0


def training(run_id, started=NOW - 10, eta=None, stop=False, **progress):
    """A running run's row: claimed `NOW - started` ago and training since (unless its
    snapshot's `elapsed` says otherwise), its snapshot's `eta` and fields."""
    return {"id": run_id, "status": "running", "started": started, "stop_requested": stop,
            "progress": {"eta": eta, "epochs": 2, "elapsed": NOW - started, **progress}}


def waiting(run_id, seconds=None, status="queued"):
    """A waiting run's row whose estimated cost is `seconds` (None: no estimate)."""
    return {"id": run_id, "status": status, "spec": preset("quick"), "cost": seconds}


def cost_of(row):
    seconds = row.get("cost")
    return None if seconds is None else Cost(training=seconds - 5.0, other=5.0)


def starts(places):
    return {p.run_id: p.starts_in for p in places if p.place}


def test_with_one_slot_each_waiting_run_starts_when_the_runs_ahead_have_ended():
    places = line_times.line([training("a", eta=25.0)], [waiting("b", 60), waiting("c", 40)],
                             lambda row: cost_of(row) or Cost(20.0, 5.0), 1, NOW)
    # the running run: its measured time left, then the rest of its slot (its test, saving)
    assert [(p.run_id, p.place, p.ends_in) for p in places][0] == ("a", 0, 30.0)
    assert starts(places) == {"b": 30.0, "c": 90.0}
    assert [p.ends_in for p in places[1:]] == [90.0, 130.0]
    assert [p.after for p in places] == [0, 1, 2]  # trainings that end before each starts


def test_with_two_slots_the_earliest_free_slot_takes_the_next_run():
    running = [training("a", eta=95.0), training("b", started=NOW - 5, eta=15.0)]
    queued = [waiting("c", 60), waiting("d", 30), waiting("e", 10)]
    places = line_times.line(running, queued, lambda row: cost_of(row) or Cost(0.0, 5.0), 2,
                             NOW)
    # b ends at 20 (c takes its slot until 80), a at 100: d takes c's slot at 80 (it frees
    # first), e the slot that frees next: a's at 100, not d's at 110
    assert starts(places) == {"c": 20.0, "d": 80.0, "e": 100.0}
    # a run never starts before the one ahead of it, even with a slot free earlier
    assert line_times.schedule([50.0], [100.0, 5.0, 5.0], 2) == [
        (0.0, 100.0, 0), (50.0, 55.0, 1), (55.0, 60.0, 2)]


def test_a_lowered_cap_waits_for_enough_runs_to_end():
    # three train although the cap is now 1: the first waiting run starts after all three
    assert line_times.schedule([10.0, 20.0, 30.0], [5.0], 1) == [(30.0, 35.0, 3)]
    with pytest.raises(ValueError, match="`slots`"):
        line_times.schedule([], [5.0], 0)


def test_before_its_pace_is_steady_a_run_counts_on_its_estimate_less_its_time():
    # no eta yet: its estimate once it has built its model (2 epochs of 20 s and 4 s of
    # preparation, 14 s trained), else its spec's estimate less the time since its claim
    built = training("a", eta=None, estimate=20.0, estimate_prepare=4.0, elapsed=14.0)
    assert line_times.time_left(built["progress"], built["started"], NOW, Cost(50.0, 5.0)) \
        == pytest.approx(30.0 + 5.0)
    claimed = training("a", started=NOW - 12, eta=None)
    assert line_times.time_left(claimed["progress"], claimed["started"], NOW,
                                Cost(50.0, 5.0)) == pytest.approx(43.0)
    # past its estimate: it ends any moment, never a negative time
    late = training("a", started=NOW - 500, eta=None)
    assert line_times.time_left(late["progress"], late["started"], NOW, Cost(50.0, 5.0)) == 0.0


def test_a_run_whose_time_cannot_be_told_makes_the_starts_behind_it_unknown():
    running = [training("a", eta=None)]  # no pace measured, no estimate of any kind
    places = line_times.line(running, [waiting("b", 60), waiting("c", 60)],
                             lambda row: cost_of(row), 1, NOW)
    assert places[0].ends_in is None
    assert starts(places) == {"b": None, "c": None}
    assert [line_times.start_words(p) for p in places[1:]] == [
        "starts as soon as a training ends", "starts once 2 trainings have ended"]
    # with a second slot, the known run's end tells the next starts: b takes its slot at
    # 40 and c takes b's at 100 (the unknown run may end sooner: "about" is an upper bound)
    two = line_times.line([training("a", eta=None), training("x", eta=40.0)],
                          [waiting("b", 60), waiting("c", 60)], lambda row: cost_of(row), 2,
                          NOW)
    assert starts(two) == {"b": 40.0, "c": 100.0}
    # a waiting run without an estimate starts when told, but the run behind it cannot be
    places = line_times.line([training("a", eta=10.0)], [waiting("b"), waiting("c", 60)],
                             lambda row: cost_of(row), 1, NOW)
    assert starts(places) == {"b": 10.0, "c": None}
    assert places[1].ends_in is None


def test_a_run_ahead_that_was_cancelled_or_stopped_leaves_the_line():
    queued = [waiting("b", 60), waiting("c", 60, status="cancelled"), waiting("d", 60)]
    places = line_times.line([training("a", eta=20.0)], queued, cost_of, 1, NOW)
    assert [(p.run_id, p.place) for p in places] == [("a", 0), ("b", 1), ("d", 2)]
    assert starts(places) == {"b": 20.0, "d": 80.0}
    # a training stopped by the teacher ends after its current batch and its test
    stopped = line_times.line([training("a", eta=300.0, stop=True)], [waiting("b", 60)],
                              lambda row: Cost(100.0, 5.0), 1, NOW)
    assert starts(stopped) == {"b": 5.0}
    ended = line_times.line([{**training("a", eta=20.0), "status": "completed"}],
                            [waiting("b", 60)], cost_of, 1, NOW)
    assert starts(ended) == {"b": 0.0}


def test_a_passed_prediction_says_any_moment_never_zero_or_negative():
    # the run ahead is past its estimate: the next start has passed
    places = line_times.line([training("a", started=NOW - 999, eta=None)],
                             [waiting("b", 60)], lambda row: Cost(50.0, 0.0), 1, NOW)
    assert places[1].starts_in == 0.0
    assert line_times.start_words(places[1]) == "starts any moment now"
    assert line_times.left_words(places[0]) == "ending now"


@pytest.mark.parametrize("seconds, words", [
    (0.4, "starts any moment now"), (1.0, "starts in under a minute"),
    (59.0, "starts in under a minute"), (60.0, "starts in about 1 min"),
    (97.0, "starts in about 1 min 40 s"), (123.0, "starts in about 2 min"),
    (299.0, "starts in about 5 min"), (754.0, "starts in about 13 min"),
    (3590.0, "starts in about 1 h"), (3900.0, "starts in about 1 h 05 min"),
    (7400.0, "starts in about 2 h 05 min")])
def test_a_start_is_said_rounded_to_about_a_tenth(seconds, words):
    assert line_times.start_words(Place("b", 1, seconds, None, 1)) == words


def test_a_training_run_says_how_long_it_has_left():
    said = [line_times.left_words(Place("a", 0, 0.0, left)) for left in (None, 30.0, 200.0)]
    assert said == ["time left not known yet", "under a minute left", "about 3 min 20 s left"]


def test_the_rest_of_a_slot_still_to_come_is_what_the_run_did_not_spend_before_training():
    # 8 s of the slot are not training: this run spent 3 of them loading and building
    row = training("a", started=NOW - 20, eta=30.0, elapsed=17.0)
    assert line_times.time_left(row["progress"], row["started"], NOW,
                                Cost(100.0, 8.0)) == pytest.approx(30.0 + 5.0)
    stopping = line_times.time_left(row["progress"], row["started"], NOW, Cost(100.0, 8.0),
                                    stopping=True)
    assert stopping == pytest.approx(5.0)


def test_a_cost_is_the_training_and_the_rest_the_past_runs_took():
    guess = Estimate(train_seconds=9.0, val_seconds=1.0, epoch_seconds=10.0,
                     prepare_seconds=3.0, total_seconds=3 * 10.0 + 3.0 + 2.0, factor=1.0,
                     basis="")
    found = line_times.cost(guess, epochs=3)  # no past run: the estimate's test
    assert (found.training, found.other, found.total) == (33.0, 2.0, 35.0)
    assert line_times.cost(guess, epochs=3, other=7.5).total == 40.5
    finished = [{"started": 0.0, "finished": 20.0, "train_seconds": 14.0},
                {"started": 50.0, "finished": 90.0, "train_seconds": 36.0},
                {"started": 100.0, "finished": 140.0, "train_seconds": 20.0},
                {"started": None, "finished": 9.0, "train_seconds": 5.0},  # the CLI's
                {"started": 5.0, "finished": 6.0, "train_seconds": None}]  # stopped at once
    assert line_times.other_seconds(finished) == 6.0  # the median of 6, 4 and 20
    assert line_times.other_seconds(finished[3:]) is None
