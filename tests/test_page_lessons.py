"""The Lessons page under AppTest: every lesson asks its question before Run, keeps the
guess per browser, and shows the answer from the stored runs against the guess and the
class; the teacher steers the class's lesson; Inspect switches filters off."""

import pytest

from fmnist_core.lessons import answers, catalog
from fmnist_core.nets.model import build_model
from fmnist_core.store import lessons as stored
from fmnist_core.store.runs import RunStore
from pagetools import page_test, page_text

PAGE = "pages/lessons.py"
PASSCODE = "blue-heron-42"


@pytest.fixture
def made_runs(app_home):
    """Finished runs stored for one test (deleted after it)."""
    store, made = RunStore(app_home), []
    yield store, made
    for run_id in made:
        store.delete_run(run_id, owner=None)
    stored.set_class_lesson(store, None)


def finish_setups(store, made, lesson, owner):
    """A finished run of each setup of `lesson` for `owner`, each a little better and
    slower than the last, with two timed epochs and (lesson 2) a saved network."""
    for i, setup in enumerate(lesson.setups):
        run_id = store.create_run(setup.spec, owner, status="completed",
                                  test_accuracy=0.80 + 0.02 * i, train_seconds=10.0 * (i + 1),
                                  epochs_run=3 + i)
        for epoch in (1, 2):  # the first epoch also traces: lesson 7 times the second
            store.add_epoch(run_id, epoch, {"accuracy": 0.95 - 0.1 * i, "val_accuracy": 0.8,
                                            "loss": 0.2, "val_loss": 0.5}, seconds=1.0 + i)
        if lesson.measure == "knockout":
            store.save_model(run_id, build_model(setup.spec))
        made.append(run_id)


def teachers_lessons(monkeypatch):
    """The Teacher page's Lessons view, signed in (a server with a passcode)."""
    monkeypatch.setenv("STUDIO_TEACHER_PASSCODE", PASSCODE)
    teacher = page_test("pages/teacher.py")
    teacher.text_input(key="teacher_attempt").input(PASSCODE)
    teacher.button(key="FormSubmitter:teacher_unlock-Unlock").click().run()
    teacher.segmented_control(key="teacher_view").set_value("Lessons").run()
    assert not teacher.exception, teacher.exception
    return teacher


def open_lesson(lesson_id):
    at = page_test(PAGE)
    assert not at.exception, at.exception
    at.selectbox(key="lesson").set_value(lesson_id).run()
    assert not at.exception, at.exception
    return at


def give_guess(at, lesson):
    key = f"guess_{lesson.id}"
    if lesson.kind == catalog.CHOICE:
        at.radio(key=key).set_value(lesson.choices[-1]).run()
        return lesson.choices[-1]
    at.number_input(key=key).set_value(2.0).run()
    return 2.0


@pytest.mark.parametrize("lesson", catalog.LESSONS, ids=lambda x: x.id)
def test_each_lesson_asks_first_then_answers_against_the_guess(lesson, made_runs):
    store, made = made_runs
    at = open_lesson(lesson.id)
    assert lesson.why in page_text(at) and lesson.question in page_text(at)
    run = at.button(key=f"run_{lesson.id}")
    assert run.disabled and "Guess first" in page_text(at)
    guess = give_guess(at, lesson)
    assert not at.button(key=f"run_{lesson.id}").disabled
    owner = at.session_state["owner"]
    assert stored.guesses(store, owner)[owner][lesson.id] == guess
    assert "once your runs of this lesson have finished" in page_text(at)

    finish_setups(store, made, lesson, owner)
    at.run()
    assert not at.exception, at.exception
    text = page_text(at)
    if lesson.measure != "knockout":  # the answer as the stored runs give it
        mine = answers.setup_runs(lesson, store.list_runs(), stored.tags(store), owner)
        found = answers.answer(lesson, answers.results(
            lesson, {k: v[:1] for k, v in mine.items()}, store.epochs))
        assert f"Your runs say: **{answers.shown(lesson, found)}**" in text
        right = answers.judge(lesson, guess, found)
        assert (": right." if right else ": not this time.") in text
    else:
        assert "Your runs say:" in text and "Hand-made edge kernel" in str(
            [c.proto.spec for c in at.get("plotly_chart")])
    if lesson.measure == "epoch_seconds":  # the view that shows why: each epoch's time
        assert "seconds of the epoch" in str([c.proto.spec for c in at.get("plotly_chart")])
    assert "The class's runs:" in text
    assert "You have run every setup of this lesson." in text


def test_a_guess_survives_a_reload_of_the_same_browser(monkeypatch, made_runs):
    from ui import identity

    lesson = catalog.lesson("pooling")
    at = open_lesson(lesson.id)
    guess = give_guess(at, lesson)
    token = at.session_state["owner_token"]
    monkeypatch.setattr(identity, "_cookie_token", lambda name: token)
    again = open_lesson(lesson.id)
    assert again.radio(key=f"guess_{lesson.id}").value == guess
    assert not again.button(key=f"run_{lesson.id}").disabled


def test_run_queues_the_setups_tagged_with_the_lesson(made_runs):
    from ui import resources

    store, made = made_runs
    lesson = catalog.lesson("target")
    at = open_lesson(lesson.id)
    give_guess(at, lesson)
    at.button(key=f"run_{lesson.id}").click().run()
    assert not at.exception, at.exception
    owner = at.session_state["owner"]
    queued = [r for r in store.list_runs(owner=owner)]
    assert len(queued) == 1 and stored.tags(store)[queued[0]["id"]] == ("target", "target")
    queue = resources.job_queue()
    queue.stop(queued[0]["id"], owner=None)
    assert queue.get(queued[0]["id"]).wait(60)
    made.append(queued[0]["id"])
    assert "1 run queued." in page_text(at) or "training or waiting" in page_text(at)


def test_students_see_the_class_lesson_the_teacher_chose(monkeypatch, made_runs):
    store, _ = made_runs
    teacher = teachers_lessons(monkeypatch)
    teacher.selectbox[0].set_value("pooling")
    teacher.button(key="FormSubmitter:class_lesson-Save").click().run()
    assert not teacher.exception, teacher.exception
    assert stored.class_lesson(store) == ("pooling", False)
    assert "The class is on lesson 3." in page_text(teacher)
    student = page_test(PAGE)
    assert "Your class is on lesson 3: Pooling: max against average." in page_text(student)
    assert student.selectbox(key="lesson").value == "pooling"


def test_inspect_switches_a_filter_off(trained_run):
    at = page_test("pages/inspect.py")
    at.selectbox(key="inspect_run").set_value(trained_run).run()
    at.segmented_control(key="inspect_view").set_value("Switch filters off").run()
    assert not at.exception, at.exception
    assert "Choose filters to switch off" in page_text(at)
    at.multiselect(key="inspect_ko_off_conv1").set_value([1, 2]).run()
    assert not at.exception, at.exception
    assert "with 2 filters of conv1 switched off" in page_text(at)
    assert "without them" in page_text(at)


def test_a_stopped_run_is_said_so_and_does_not_count(made_runs):
    store, made = made_runs
    lesson = catalog.lesson("pooling")
    at = open_lesson(lesson.id)
    give_guess(at, lesson)
    owner = at.session_state["owner"]
    run_id = store.create_run(lesson.setups[0].spec, owner, status="stopped",
                              test_accuracy=0.5)
    stored.tag_run(store, run_id, lesson.id, lesson.setups[0].key)
    made.append(run_id)
    at.run()
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Your run of Max pooling was stopped before its end: it does not count." in text
    assert at.button(key=f"run_{lesson.id}").label == "Run 2 setups"
    assert "Your runs say" not in text and "The class's runs" not in text


def test_the_teachers_reveal_shows_the_class_answer_against_the_guess(made_runs):
    store, made = made_runs
    lesson = catalog.lesson("kernel-size")
    finish_setups(store, made, lesson, "a-classmate")  # 7×7 comes out best
    stored.set_class_lesson(store, lesson.id, revealed=False)
    at = open_lesson(lesson.id)
    at.radio(key=f"guess_{lesson.id}").set_value("3×3 kernels").run()
    text = page_text(at)
    assert "The class's results show once your runs have finished" in text
    assert "The class's runs" not in text

    stored.set_class_lesson(store, lesson.id, revealed=True)
    at.run()
    assert not at.exception, at.exception
    text = page_text(at)
    assert "Your answer appears here once your runs of this lesson have finished." in text
    assert ("7×7 kernels: 84.0% test accuracy, 30 s of training (1 run)" in text)
    assert ("Your teacher revealed the class's answer. The class's runs say: **7×7 kernels**. "
            "You guessed 3×3 kernels: not this time.") in [w.value for w in at.warning]


def test_a_setup_the_class_refuses_is_said_to_student_and_teacher(monkeypatch, made_runs):
    from fmnist_core.store import settings

    store, _ = made_runs
    lesson = catalog.lesson("dropout")  # OVERFIT_EPOCHS a setup
    settings.save(store.db, settings.ClassSettings(max_epochs=3), ["max_epochs"])
    try:
        at = open_lesson(lesson.id)
        give_guess(at, lesson)
        at.button(key=f"run_{lesson.id}").click().run()
        assert not at.exception, at.exception
        sentence = ("Your teacher set at most 3 epochs for this class, so this lesson's setup "
                    "“Without dropout” cannot run here: ask your teacher to allow it.")
        assert [e.value for e in at.error] == [sentence]
        owner = at.session_state["owner"]
        assert store.list_runs(owner=owner) == []

        stored.set_class_lesson(store, lesson.id)
        teacher = teachers_lessons(monkeypatch)
        warned = [w.value for w in teacher.warning]
        assert len(warned) == 2 and sentence in warned[0]
        assert "setup “With dropout 0.5” cannot run here" in warned[1]

        # one button lets the class run it: the epochs raised to the lesson's, nothing else
        teacher.button(key="lesson_allow").click().run()
        assert not teacher.exception, teacher.exception
        assert teacher.warning.len == 0  # no setup refused
        assert "lesson_allow" not in [b.key for b in teacher.button]
        assert settings.load(store.db, classroom=True).max_epochs == catalog.OVERFIT_EPOCHS
        assert teacher.success[0].value.startswith(
            f"Lesson 5 can run: at most {catalog.OVERFIT_EPOCHS} epochs per run (was 3)")
    finally:
        settings.clear(store.db)
