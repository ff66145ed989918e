"""The lessons in the run store, on SQLite and PostgreSQL: guesses per owner survive a
restart, runs are tagged with their lesson, and the class's lesson is one row."""

import math

import pytest

from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store import lessons

pytestmark = pytest.mark.databases("sqlite", "postgresql")

SPEC = ModelSpec(conv_blocks=0, filters=(), dense_units=8, epochs=1)


def test_guesses_round_trip_and_survive_a_restart(make_store):
    store = make_store()
    lessons.save_guess(store, "ann", "dense-vs-cnn", "CNN")
    lessons.save_guess(store, "ann", "filters", 3.5)
    lessons.save_guess(store, "bob", "filters", 2)
    lessons.save_guess(store, "ann", "filters", 4.0)  # a second guess replaces the first
    store.close()
    again = make_store()
    assert lessons.guesses(again, "ann") == {"ann": {"dense-vs-cnn": "CNN", "filters": 4.0}}
    assert lessons.guesses(again) == {"ann": {"dense-vs-cnn": "CNN", "filters": 4.0},
                                      "bob": {"filters": 2}}
    assert lessons.guesses(again, "carl") == {}


@pytest.mark.parametrize("bad", [None, True, math.nan, math.inf, ["a"]])
def test_a_guess_that_is_no_answer_is_refused(store, bad):
    with pytest.raises(ValueError, match="Argument `guess`"):
        lessons.save_guess(store, "ann", "filters", bad)


def test_runs_are_tagged_and_the_tag_goes_with_the_run(store):
    run_id = store.create_run(SPEC, "ann", status="completed")
    lessons.tag_run(store, run_id, "pooling", "avg")
    assert lessons.tags(store) == {run_id: ("pooling", "avg")}
    store.delete_run(run_id, owner="ann")
    assert lessons.tags(store) == {}


def test_the_class_lesson_is_one_row(make_store):
    store = make_store()
    assert lessons.class_lesson(store) == (None, False)
    lessons.set_class_lesson(store, "pooling")
    assert lessons.class_lesson(store) == ("pooling", False)
    lessons.set_class_lesson(store, "pooling", revealed=True)
    store.close()
    assert lessons.class_lesson(make_store()) == ("pooling", True)
