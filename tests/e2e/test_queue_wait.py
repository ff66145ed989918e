"""A waiting student is told when their run starts, and the teacher's Line says how far each
training is: one student's long run trains while a second browser waits behind it.

The module has its own server, with one training at once (the shared server trains two), so
the second run waits; its run store is its own.
"""

import os
import re
import time

import pytest

from bench.common import CHROMIUM, studio_server
from browsertools import TRAINING_MS, training_shown
from fmnist_core.store import settings
from fmnist_core.store.runs import RunStore
from test_accessibility import check
from test_browser import no_exception, press_stop, settle, start_training

PASSCODE = "amber-kite-19"
# The long run: 150 epochs of the default network on 3,000 images, minutes on 2 cores, so
# the waiting run's start is minutes away while the test looks at it (it is stopped after).
LONG_EPOCHS = 150
WAITING = re.compile(r"Queued: starts (in about [\w ]+|in under a minute|any moment now|as "
                     r"soon as a training ends) \(place 1\)\.")


@pytest.fixture(scope="module")
def one_slot_studio(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser)")
    home = tmp_path_factory.mktemp("queue-wait-home")
    # the teacher allows long runs (a class's default is at most 3 epochs)
    store = RunStore(home, recover=False)
    settings.save(store.db, settings.ClassSettings(max_epochs=LONG_EPOCHS), ["max_epochs"])
    store.close()
    with studio_server(home, STUDIO_TRAIN_LIMIT="3000",
                       STUDIO_TEST_LIMIT="500", STUDIO_MAX_CONCURRENT_TRAININGS="1",
                       STUDIO_TRAINING_WORKER="process",
                       STUDIO_TEACHER_PASSCODE=PASSCODE) as (url, _):
        yield url


def said(page) -> str:
    """The queued run's sentence as the page shows it now ("" while it shows none)."""
    found = page.get_by_text(WAITING)
    return found.first.inner_text() if found.count() else ""


def wait_until(read, done, timeout_s: float, what: str):
    """Calls `read()` every 0.3 s until `done(value)`; returns that value."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_waiting_student_is_told_when_their_run_starts_and_it_does(one_slot_studio,
                                                                      browser):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000})
                for _ in range(3)]
    first, second, teacher = (context.new_page() for context in contexts)
    for page in (first, second, teacher):
        page.set_default_timeout(60_000)
    try:
        start_training(first, one_slot_studio, LONG_EPOCHS)
        training_shown(first, LONG_EPOCHS, TRAINING_MS)
        start_training(second, one_slot_studio, 2)
        told = wait_until(lambda: said(second), bool, 60, "the waiting run's start")
        # while the long run trains, the start counts down: the sentence changes by itself
        changed = wait_until(lambda: said(second), lambda now: now and now != told, 120,
                             f"the start told to change from {told!r}")
        assert "starts in about" in told + changed, (told, changed)
        no_exception(second)
        check(second, "queue-wait-student")

        teacher.goto(one_slot_studio + "/teacher")
        settle(teacher, "Passcode")
        teacher.get_by_role("textbox", name="Passcode").fill(PASSCODE)
        teacher.get_by_role("button", name="Unlock").click()
        settle(teacher, "Sign out")
        teacher.get_by_text("Line", exact=True).first.click()
        settle(teacher, "at the times estimated for the runs ahead")
        # the table's cells are drawn on a canvas; their text is in the grid's hidden cells
        teacher.get_by_text(re.compile(rf"epoch \d+/{LONG_EPOCHS} · batch \d+/\d+")
                            ).first.wait_for(state="attached")
        teacher.get_by_text(re.compile(r"^starts (in about|in under|any moment|as soon)")
                            ).first.wait_for(state="attached")
        check(teacher, "queue-wait-teacher-line")

        # the long run stops: the waiting one starts by itself
        press_stop(first)
        training_shown(second, 2, TRAINING_MS)
        assert said(second) == ""
        no_exception(second)
        # its two epochs on 3,000 images take seconds: it ends by itself, tested
        second.get_by_text("Test accuracy").first.wait_for(timeout=TRAINING_MS)
        no_exception(second)
    finally:
        for context in contexts:
            context.close()
