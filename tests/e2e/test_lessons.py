"""A lesson played end to end by two students and their teacher: the teacher puts the class
on lesson 1, each student answers its question, presses Run and reads their own runs'
answer against their own guess; the teacher reveals, and both read the class's answer and
results with both students' runs counted.

The module has its own server and run store, with a class's defaults (one run waiting or
training per student, so a lesson's second setup is queued when the first ends) and a few
hundred images, so a lesson's four runs take a minute or two on 2 busy cores.
"""

import os
import re

import pytest
from playwright.sync_api import expect

from bench.common import CHROMIUM, studio_server
from browsertools import TRAINING_MS
from fmnist_core.lessons import answers, catalog
from fmnist_core.store import lessons as stored
from fmnist_core.store.runs import RunStore
from test_accessibility import check
from test_browser import no_exception, settle

PASSCODE = "amber-finch-23"
# Training images of every run on this server: each setup's 3 epochs take seconds, and a
# CNN learns well past chance on them (a run at chance would be stopped as diverged).
TRAIN_IMAGES = 500
LESSON = catalog.lesson("dense-vs-cnn")
DENSE, CNN = LESSON.choices
OWN_ANSWER = re.compile(r"Your runs say: (.+?)\. You guessed (.+?): (right|not this time)\.")
CLASS_ANSWER = re.compile(r"The class's runs say: (.+?)\. You guessed (.+?): "
                          r"(right|not this time)\.")


@pytest.fixture(scope="module")
def lesson_studio(tmp_path_factory):
    """(URL, STUDIO_HOME) of a class's server of this module's own."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser)")
    home = tmp_path_factory.mktemp("lessons-home")
    with studio_server(home, STUDIO_TRAIN_LIMIT=str(TRAIN_IMAGES), STUDIO_TEST_LIMIT="300",
                       STUDIO_MAX_CONCURRENT_TRAININGS="2",
                       STUDIO_TRAINING_WORKER="process",
                       STUDIO_TEACHER_PASSCODE=PASSCODE) as (url, _):
        yield url, home


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def teacher_saves(page, url: str, lesson_text: str | None, reveal: bool) -> None:
    """The teacher's Lessons view: puts the class on `lesson_text` (None: as it is), turns
    the reveal to `reveal`, saves."""
    page.goto(url + "/teacher")
    passcode = page.get_by_role("textbox", name="Passcode")
    sign_out = page.get_by_role("button", name="Sign out")
    passcode.or_(sign_out).first.wait_for()  # asked for the passcode, or signed in already
    if passcode.count():
        passcode.fill(PASSCODE)
        page.get_by_role("button", name="Unlock").click()
    sign_out.wait_for()
    settle(page)
    page.get_by_role("radiogroup", name="View").get_by_role("radio", name="Lessons").click()
    settle(page, "Put the class on")
    if lesson_text is not None:
        page.get_by_role("combobox", name="Put the class on").click()
        page.get_by_role("option", name=lesson_text).click()
    toggle = page.get_by_role("switch", name="Reveal the class's results to every student")
    if toggle.is_checked() != reveal:
        page.get_by_text("Reveal the class's results to every student").click()
    page.get_by_role("button", name="Save").click()
    settle(page, "The class is on lesson 1")


def guess_and_run(page, url: str, guess: str) -> None:
    """Opens the class's lesson, checks Run waits for the guess, answers, presses Run."""
    page.goto(url + "/lessons")
    settle(page, f"Your class is on lesson 1: {LESSON.title}.")
    page.get_by_text(LESSON.question).first.wait_for()
    run = page.get_by_role("button", name="Run 2 setups")
    assert run.is_disabled() and page.get_by_text(
        "Guess first: the Run button opens once you have answered.").count() == 1
    page.get_by_role("radiogroup", name="Your guess").get_by_text(guess, exact=True).click()
    expect(run).to_be_enabled(timeout=60_000)  # once the page redrew with the guess
    run.click()
    # one run each at a time: the dense setup waits or trains, the CNN follows it
    settle(page, "1 run queued. Your class allows 1 run waiting or training per student, so "
                 "the other setup will be queued as your runs finish")
    assert page.get_by_text("Then the other setup will be queued as your runs finish, while "
                            "this page stays open.").count() == 1
    no_exception(page)


def own_runs_answer(home, owner: str):
    store = RunStore(home, recover=False)
    try:
        runs, tags = store.list_runs(), stored.tags(store)
    finally:
        store.close()
    mine = answers.setup_runs(LESSON, runs, tags, owner=owner)
    assert all(len(found) == 1 for found in mine.values()), mine
    everyone = answers.setup_runs(LESSON, runs, tags)
    return (answers.answer(LESSON, answers.results(LESSON, mine)),
            answers.answer(LESSON, answers.results(LESSON, everyone)), everyone)


def test_two_students_play_a_lesson_and_the_teacher_reveals_the_class_answer(
        lesson_studio, browser):
    url, home = lesson_studio
    contexts = [new_page(browser) for _ in range(3)]
    (_, teacher), (_, ann), (_, bob) = contexts
    guesses = {DENSE: ann, CNN: bob}
    try:
        teacher_saves(teacher, url, f"Lesson 1: {LESSON.title}", reveal=False)
        for guess, page in guesses.items():
            guess_and_run(page, url, guess)
        check(ann, "lessons-queued")

        owners = {}
        store = RunStore(home, recover=False)
        try:
            for owner, made in stored.guesses(store).items():
                owners[made[LESSON.id]] = owner
        finally:
            store.close()
        assert set(owners) == {DENSE, CNN}

        for guess, page in guesses.items():
            page.get_by_text("Your runs say:").first.wait_for(timeout=TRAINING_MS)
            settle(page)
            said = OWN_ANSWER.search(page.get_by_text(OWN_ANSWER).first.inner_text())
            found, _, _ = own_runs_answer(home, owners[guess])
            assert said.groups() == (found, guess, "right" if found == guess
                                     else "not this time")
            assert page.get_by_text("You have run every setup of this lesson.").count() == 1
            assert page.get_by_text("The class's runs:").count() == 1
            assert page.get_by_text("Your teacher revealed").count() == 0
        check(bob, "lessons-answered")

        teacher_saves(teacher, url, None, reveal=True)
        check(teacher, "teacher-lessons")
        _, class_found, everyone = own_runs_answer(home, owners[DENSE])
        assert [len(everyone[s.key]) for s in LESSON.setups] == [2, 2]
        for guess, page in guesses.items():
            # the page looks at the class's lesson every few seconds and redraws
            page.get_by_text("Your teacher revealed the class's answer.").first.wait_for(
                timeout=60_000)
            settle(page)
            said = CLASS_ANSWER.search(page.get_by_text(CLASS_ANSWER).first.inner_text())
            assert said.groups() == (class_found, guess, "right" if class_found == guess
                                     else "not this time")
            counted = page.get_by_text(re.compile(
                rf"^The class's runs: {re.escape(DENSE)}: .+ on average \(2 runs\); "
                rf"{re.escape(CNN)}: .+ on average \(2 runs\)\.$"))
            assert counted.count() == 1
            no_exception(page)
        check(ann, "lessons-revealed")
    finally:
        for context, _ in contexts:
            context.close()
