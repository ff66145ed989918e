"""The lessons' catalog and answers: every lesson is well formed, and the answer comes from
the stored runs (a tag or the setup's spec), averaged per setup, with the guess judged."""

import pytest

from fmnist_core.lessons import answers, catalog
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store import lessons as stored
from fmnist_core.store.settings import CLASS_TRAIN_IMAGES


def test_the_path_has_the_seven_lessons_in_order():
    assert [x.number for x in catalog.LESSONS] == list(range(1, 8))
    assert len({x.id for x in catalog.LESSONS}) == 7
    for lesson in catalog.LESSONS:
        assert lesson.why and lesson.question.endswith("?")
        for setup in lesson.setups:
            # within a class's default training images: only the epochs may need the
            # teacher's leave (lessons 4 and 5)
            assert setup.spec.train_images <= CLASS_TRAIN_IMAGES
        if lesson.kind == catalog.CHOICE:
            assert len(set(lesson.choices)) == len(lesson.setups) >= 2


def test_an_unknown_lesson_names_the_argument():
    with pytest.raises(ValueError, match="Argument `lesson_id`"):
        catalog.lesson("nope")


def finish(store, spec, owner, accuracy, seconds, lesson=None, setup=None):
    run_id = store.create_run(spec, owner, status="completed", test_accuracy=accuracy,
                              train_seconds=seconds)
    if lesson:
        stored.tag_run(store, run_id, lesson, setup)
    return run_id


def test_the_answer_comes_from_the_stored_runs(store):
    lesson = catalog.lesson("pooling")
    max_spec, avg_spec = (s.spec for s in lesson.setups)
    finish(store, max_spec, "ann", 0.80, 10)
    finish(store, avg_spec, "ann", 0.84, 12)
    finish(store, avg_spec, "bob", 0.82, 11, "pooling", "avg")
    finish(store, max_spec, "bob", 0.70, 9, "dense-vs-cnn", "cnn")  # tagged: lesson 1's
    store.create_run(max_spec, "carl", status="stopped", test_accuracy=0.99)  # not counted
    runs, tags = store.list_runs(), stored.tags(store)
    rows = answers.results(lesson, answers.setup_runs(lesson, runs, tags))
    assert [(r.label, r.runs) for r in rows] == [("Max pooling", 1), ("Average pooling", 2)]
    assert rows[1].test_accuracy == pytest.approx(0.83)
    assert rows[1].train_seconds == pytest.approx(11.5)
    assert answers.answer(lesson, rows) == "Average pooling"
    assert answers.judge(lesson, "Average pooling", "Average pooling") is True
    assert answers.judge(lesson, "Max pooling", "Average pooling") is False
    assert answers.judge(lesson, None, "Average pooling") is None
    mine = answers.setup_runs(lesson, runs, tags, owner="bob")
    assert [len(mine[k]) for k in ("max", "avg")] == [0, 1]
    assert answers.answer(lesson, answers.results(lesson, mine)) is None  # max not run yet
    sentence = answers.class_sentence(lesson, rows)
    assert "Average pooling: 83.0% test accuracy" in sentence and "2 runs" in sentence
    assert "(1 run)" in sentence


def test_a_ratio_and_its_tolerance(store):
    lesson = catalog.lesson("filters")
    small, big = (s.spec for s in lesson.setups)
    # the first epoch (tracing) is left out: the median of the later ones is compared
    for spec, seconds in ((small, (3.0, 1.0, 1.2, 0.8)), (big, (4.0, 3.2, 3.0, 3.5))):
        run_id = finish(store, spec, "ann", 0.85, sum(seconds))
        for epoch, took in enumerate(seconds, start=1):
            store.add_epoch(run_id, epoch, {"accuracy": 0.9, "val_accuracy": 0.85},
                            seconds=took)
    rows = answers.results(lesson, answers.setup_runs(lesson, store.list_runs(), {}),
                           store.epochs)
    outcome = answers.answer(lesson, rows)
    assert outcome == pytest.approx(3.2)
    # a run with one timed epoch has no epoch after the first: no outcome from it
    assert answers.later_epoch_seconds([{"seconds": 3.0, "complete": True}]) is None
    assert answers.judge(lesson, 4.0, outcome) is True  # within 30 %
    assert answers.judge(lesson, 2.0, outcome) is False
    assert answers.shown(lesson, outcome) == "3.2×"


def test_the_overfit_gap_reads_the_last_complete_epoch(store):
    lesson = catalog.lesson("dropout")
    plain, drop = (s.spec for s in lesson.setups)
    for spec, (acc, val) in ((plain, (0.99, 0.70)), (drop, (0.90, 0.75))):
        run_id = finish(store, spec, "ann", val, 5)
        store.add_epoch(run_id, 1, {"accuracy": acc, "val_accuracy": val, "loss": 0.1,
                                    "val_loss": 0.5})
    rows = answers.results(lesson, answers.setup_runs(lesson, store.list_runs(), {}),
                           store.epochs)
    assert rows[0].value == pytest.approx(0.29) and rows[1].value == pytest.approx(0.15)
    assert answers.answer(lesson, rows) == "Without dropout"


def test_no_finished_run_is_said_so():
    lesson = catalog.lesson("target")
    rows = answers.results(lesson, {})
    assert answers.answer(lesson, rows) is None
    assert answers.class_sentence(lesson, rows) == (
        "No run of this lesson has finished in the class yet.")
    assert answers.shown(lesson, 1) == "1 epoch" and answers.shown(lesson, 4) == "4 epochs"


def test_a_run_of_another_network_belongs_to_no_lesson():
    other = {"id": "a" * 12, "spec": ModelSpec(), "status": "completed"}
    assert all(answers.belongs(x, other, {}) is None for x in catalog.LESSONS)


def test_the_class_sentence_names_the_lessons_own_measure(store):
    target = catalog.lesson("target")
    for epochs in (3, 4):
        store.create_run(target.setups[0].spec, f"s{epochs}", status="completed",
                         test_accuracy=0.86, train_seconds=20, epochs_run=epochs)
    rows = answers.results(target, answers.setup_runs(target, store.list_runs(), {}))
    assert answers.class_sentence(target, rows) == (
        "The class's runs: CNN until 80 % validation accuracy: stopped after 3.5 epochs, "
        "86.0% test accuracy, 20 s of training on average (2 runs).")
    assert answers.shown(target, 3.5) == "3.5 epochs"

    dropout = catalog.lesson("dropout")
    run_id = finish(store, dropout.setups[0].spec, "ann", 0.7, 5)
    store.add_epoch(run_id, 1, {"accuracy": 0.99, "val_accuracy": 0.7, "loss": 0.1,
                                "val_loss": 0.5})
    rows = answers.results(dropout, answers.setup_runs(dropout, store.list_runs(), {}),
                           store.epochs)
    assert answers.class_sentence(dropout, rows) == (
        "The class's runs: Without dropout: 70.0% test accuracy, training 29 points above "
        "validation, 5.0 s of training (1 run).")


def test_a_run_that_ended_without_a_result_is_found_until_one_finishes(store):
    lesson = catalog.lesson("pooling")
    max_spec = lesson.setups[0].spec
    store.create_run(max_spec, "ann", status="diverged")
    stopped = store.create_run(max_spec, "ann", status="stopped", test_accuracy=0.5)
    ended = answers.ended_early(lesson, store.list_runs(), {}, "ann")
    assert list(ended) == ["max"] and ended["max"]["id"] == stopped
    assert answers.ENDED_WORDS["stopped"] == "was stopped before its end"
    assert answers.ended_early(lesson, store.list_runs(), {}, "bob") == {}
    finish(store, max_spec, "ann", 0.8, 10)
    assert answers.ended_early(lesson, store.list_runs(), {}, "ann") == {}
