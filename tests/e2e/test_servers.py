"""A school: two studio servers on one PostgreSQL and one shared STUDIO_HOME, in Chromium.

Cookies do not tell ports apart, so one browser context on both servers is one student
behind a load balancer whose next request lands on the other server; another context is a
classmate. The class's cap is one training at once, across both servers. The last test stops
the database mid-run, stops the run while it is away, and starts the database again.
"""

import os
import re
import time

import pytest
from playwright.sync_api import expect

from bench.common import CHROMIUM, studio_server
from browsertools import shot, training_shown
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.runs import RunStore
from test_browser import no_exception, press_stop, settle, start_training, stop_button
from test_sessions import new_page, run_of
from waiting import wait_for

UNREACHABLE = "cannot be reached"
# a queued run's sentence: when it starts, then its place in the class's line
QUEUED = r"Queued: starts .+ \(place {}\)\."
OUTAGE_EPOCHS = 200  # it ends when its owner presses Stop, the database away


@pytest.fixture(scope="module")
def school(postgres, tmp_path_factory):
    """(URL of server A, URL of server B, a RunStore on their database and STUDIO_HOME)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser)")
    home = tmp_path_factory.mktemp("school-home")  # the folder every server mounts
    url = postgres.create_database("school")
    env = dict(STUDIO_DATABASE_URL=url, STUDIO_TRAIN_LIMIT="3000", STUDIO_TEST_LIMIT="500",
               STUDIO_MAX_CONCURRENT_TRAININGS="1", STUDIO_TRAINING_WORKER="process")
    with studio_server(home, log_name="server-a.log", **env) as (a, _), \
            studio_server(home, log_name="server-b.log", **env) as (b, _):
        store = RunStore(home, url, recover=False)
        yield a, b, store
        store.close()


def stored(store, prefix: str) -> dict:
    """The run whose id starts with `prefix` (the 6 characters a page shows)."""
    for _ in range(50):
        try:
            found = [run for run in store.list_runs() if run["id"].startswith(prefix)]
            break
        except StoreUnavailableError:
            time.sleep(0.5)  # the database is coming back
    assert len(found) == 1, f"{len(found)} stored runs start with {prefix}"
    return found[0]


def wait_stored(store, prefix: str, statuses: set, timeout: float) -> dict:
    deadline = time.time() + timeout
    while (run := stored(store, prefix))["status"] not in statuses:
        assert time.time() < deadline, f"run {prefix} is {run['status']}, not {statuses}"
        time.sleep(0.5)
    return run


def test_one_class_on_two_servers(school, browser):
    a, b, store = school
    (student, on_a), (classmate, on_b) = new_page(browser), new_page(browser)
    third = None
    try:
        # a student starts a run on server A
        start_training(on_a, a, 200)  # still training at Stop, even on a fast machine
        training_shown(on_a, 200, 120_000)
        theirs = run_of(on_a)
        run = stored(store, theirs)
        assert run["status"] == "running" and run["executor"] == "process"

        # a classmate on server B sees it in Runs, with no Delete and no Stop
        on_b.goto(b + "/runs")
        settle(on_b, "Runs")
        on_b.get_by_text(theirs).first.wait_for(state="attached")  # a cell of the table
        chooser = on_b.locator('[data-testid="stMultiSelect"]').first
        chooser.locator("input").fill(theirs)
        chooser.locator("input").press("Enter")
        on_b.keyboard.press("Escape")
        settle(on_b, "Download, inspect, delete")
        on_b.get_by_text(f"{theirs} ·").first.wait_for()
        # the run's line and its actions appear once the selection's rerun has drawn them
        on_b.get_by_text("A classmate's run").first.wait_for()
        assert on_b.get_by_role("button", name="Delete").count() == 0
        no_exception(on_b)
        shot(on_b, "servers-b-classmate-runs")
        on_b.goto(b + "/train")
        settle(on_b, "Start training")
        assert stop_button(on_b).count() == 0 and on_b.get_by_text(theirs).count() == 0

        # the line spans both servers: the classmate on B is first, a third student on A next
        start_training(on_b, b, 1)
        on_b.get_by_text(re.compile(QUEUED.format(1))).first.wait_for(timeout=30_000)
        second = run_of(on_b)
        third, on_a3 = new_page(browser)
        start_training(on_a3, a, 1)
        on_a3.get_by_text(re.compile(QUEUED.format(2))).first.wait_for(timeout=30_000)
        last = run_of(on_a3)
        shot(on_a3, "servers-a-queued-second")

        # the student's next request lands on server B: same browser, same owner, Stop works
        on_b_too = student.new_page()
        on_b_too.set_default_timeout(60_000)
        on_b_too.goto(b + "/train")
        settle(on_b_too, "Start training")
        on_b_too.get_by_text(re.compile(r"Epoch \d+/200")).first.wait_for(timeout=30_000)
        assert stop_button(on_b_too).count() == 1
        assert on_b_too.get_by_text(f"Your run {theirs} is training").count() == 1
        no_exception(on_b_too)
        shot(on_b_too, "servers-b-student-own-run")
        press_stop(on_b_too)
        on_b_too.get_by_text("Stopped by you").first.wait_for(timeout=60_000)
        no_exception(on_b_too)
        shot(on_b_too, "servers-b-student-stopped")
        stopped = stored(store, theirs)
        assert stopped["status"] == "stopped" and stopped["server"] == run["server"]

        # first come, first served, whichever server each came to
        done = [wait_stored(store, p, {"completed"}, 240) for p in (second, last)]
        assert done[0]["started"] < done[1]["started"]
        assert done[0]["started"] >= stopped["finished"] - 1.0  # the cap of one held
        on_b.get_by_text("Test accuracy").first.wait_for(timeout=60_000)
        on_a3.get_by_text("Test accuracy").first.wait_for(timeout=60_000)
        for page in (on_a, on_b, on_a3, on_b_too):
            no_exception(page)
    finally:
        for context in (student, classmate, third):
            if context is not None:
                context.close()


def test_the_database_stopped_and_started_mid_run(school, browser, postgres):
    a, b, store = school
    (student, on_a), (classmate, on_b) = new_page(browser), new_page(browser)
    try:
        start_training(on_a, a, OUTAGE_EPOCHS)
        training_shown(on_a, OUTAGE_EPOCHS, 120_000)
        mine = run_of(on_a)
        on_b_too = student.new_page()  # the student's Train page on the other server
        on_b_too.set_default_timeout(60_000)
        on_b_too.goto(b + "/train")
        training_shown(on_b_too, OUTAGE_EPOCHS, 30_000)

        postgres.stop()
        try:
            # B draws the run from the database: one sentence where its live view was
            on_b_too.get_by_text(UNREACHABLE).first.wait_for(timeout=30_000)
            no_exception(on_b_too)
            shot(on_b_too, "servers-outage-b-train")
            # a page that needs the saved runs is that sentence, once
            on_b.goto(b + "/runs")
            on_b.get_by_text(UNREACHABLE).first.wait_for(timeout=30_000)
            settle(on_b)  # the page's run has ended: the sentence once, nothing after it
            no_exception(on_b)
            assert on_b.get_by_text(UNREACHABLE).count() == 1
            # Data needs none: it draws whole (the sidebar leaves out what needs the runs)
            on_b.goto(b + "/")
            settle(on_b)
            on_b.get_by_role("heading", name="Data").first.wait_for(timeout=30_000)
            no_exception(on_b)
            assert on_b.get_by_text(UNREACHABLE).count() == 0
            shot(on_b, "servers-outage-b-data")
            # A trains on, and its owner's Stop on A ends the run while the database is
            # away (A trains it, so A knows whose it is): the model file is in the shared
            # folder, and A's page (the sidebar asks the store) says the database is away
            no_exception(on_a)
            assert on_a.get_by_text(UNREACHABLE).count() == 0
            press_stop(on_a, ended=lambda: _saved(store, mine))
            wait_for(lambda: _saved(store, mine), timeout=120, what="the stopped run's model",
                     every=0.5)
            on_a.get_by_text(UNREACHABLE).first.wait_for(timeout=60_000)
            no_exception(on_a)
            shot(on_a, "servers-outage-a-train-ended")
            assert not store.available()
        finally:
            postgres.start()

        # every page comes back by itself, and the run's result was kept
        for page in (on_a, on_b_too):
            page.get_by_text("Test accuracy").first.wait_for(timeout=60_000)
            settle(page)
            no_exception(page)
            # the sentence goes at the page's next check of the database (every 3 s)
            expect(page.get_by_text(UNREACHABLE)).to_have_count(0, timeout=30_000)
        # A trained it and tells what happened; B reads the stored result, which is whole
        assert on_a.get_by_text("could not be reached as this run ended").count() == 1
        assert on_b_too.get_by_text("could not be reached").count() == 0
        on_b.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)
        no_exception(on_b)
        shot(on_a, "servers-outage-over-a-train")
        shot(on_b_too, "servers-outage-over-b-train")
        run = wait_stored(store, mine, {"stopped"}, 60)
        assert 1 <= run["epochs_run"] < OUTAGE_EPOCHS and run["test_accuracy"] is not None
        assert run["model_path"] and store.model_file(run["id"]).exists()
        # every epoch it trained is kept, the one Stop cut short too
        assert len(store.epochs(run["id"])) in (run["epochs_run"], run["epochs_run"] + 1)
    finally:
        student.close()
        classmate.close()


def _saved(store, prefix: str) -> bool:
    """Whether the run's model file is in the models folder (its worker writes it there
    whether the database answers or not)."""
    return any(".partial." not in path.name for path in store.models_dir.glob(f"{prefix}*.keras"))
