"""Browser sessions and the job queue: two trainings at once, closed tabs, and what one
student may do to another's run.

The server's cap is two trainings at once (conftest.py), and its session reaper looks for
closed tabs every 2 seconds: a closed tab's queued job is cancelled once its browser has had
no page open for ABSENT_GRACE_SECONDS (browsertools.py), its running job finishes and is stored.
"""

import re
import sqlite3
import time
from contextlib import closing

from browsertools import ABSENT_GRACE_SECONDS, TRAINING_MS, shot, training_shown
from test_browser import (no_exception, press_stop, set_epochs, settle, start_training,
                          stop_button)

RUN_PREFIX = re.compile(r"Your (?:latest )?run:? ([0-9a-f]{6})")
REAPER_SECONDS = ABSENT_GRACE_SECONDS / 3


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def run_of(page) -> str:
    """The first 6 characters of this session's run id, as its sidebar shows them."""
    page.get_by_text(RUN_PREFIX).first.wait_for(timeout=60_000)
    return RUN_PREFIX.search(page.get_by_text(RUN_PREFIX).first.inner_text()).group(1)


def stored(home, prefix: str) -> dict:
    with closing(sqlite3.connect(home / "runs.sqlite", timeout=10)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM runs WHERE id LIKE ?", (prefix + "%",)).fetchall()
    assert len(rows) == 1, f"{len(rows)} stored runs start with {prefix}"
    return dict(rows[0])


def wait_status(home, prefix: str, wanted: set, timeout: float) -> tuple[dict, list]:
    """Polls the run store until the run's status is one of `wanted`; returns the row and
    every status seen on the way."""
    seen, deadline = [], time.time() + timeout
    while True:
        row = stored(home, prefix)
        if not seen or seen[-1] != row["status"]:
            seen.append(row["status"])
        if row["status"] in wanted or time.time() > deadline:
            return row, seen
        time.sleep(0.5)


def test_two_students_train_at_once_a_third_waits_and_a_closed_tab_gives_up_its_place(
        studio, studio_home, browser):
    students = [new_page(browser) for _ in range(2)]  # the cap is 2: they fill both slots
    try:
        for _, page in students:
            page.goto(studio + "/train")
            settle(page, "Start training")
            set_epochs(page, 200)  # both still train when the first is stopped
        for _, page in students:
            page.get_by_role("button", name="Start training").click()
        for index, (_, page) in enumerate(students):
            training_shown(page, 200, TRAINING_MS)
            assert stop_button(page).count() == 1
            shot(page, f"student-{index}")
        assert all(stored(studio_home, run_of(p))["status"] == "running" for _, p in students)

        # a third student waits in line, then closes the tab
        context, page = new_page(browser)
        start_training(page, studio, 1)
        page.get_by_text("Queued:").first.wait_for(timeout=30_000)
        queued = run_of(page)
        settle(page)
        no_exception(page)
        shot(page, "sessions-queued")
        assert stored(studio_home, queued)["status"] == "queued"
        context.close()

        # cancelled once its browser has had no page open for the grace a reload gets
        row, seen = wait_status(studio_home, queued, {"cancelled"},
                                ABSENT_GRACE_SECONDS + 6 * REAPER_SECONDS)
        assert row["status"] == "cancelled", seen
        assert "running" not in seen and row["model_path"] is None

        # each student's Stop ends their own run only
        (_, first), (_, second) = students
        press_stop(first)
        started = time.time()
        first.get_by_text("Stopped by you").first.wait_for(timeout=TRAINING_MS)
        print(f"stop took {time.time() - started:.1f} s with two trainings running")
        no_exception(first)
        shot(first, "train-stopped")
        assert second.get_by_text("Stopped by you").count() == 0
        assert stop_button(second).count() == 1
        press_stop(second)
        second.get_by_text("Stopped by you").first.wait_for(timeout=TRAINING_MS)
        no_exception(second)
    finally:
        for context, _ in students:
            context.close()


def test_a_tab_closed_while_running_finishes_and_stores_its_job(studio, studio_home, browser):
    context, page = new_page(browser)
    start_training(page, studio, 3)
    training_shown(page, 3, TRAINING_MS)
    running = run_of(page)
    assert stored(studio_home, running)["status"] == "running"
    context.close()
    closed_at = time.time()

    row, seen = wait_status(studio_home, running, {"completed", "stopped", "cancelled",
                                                   "failed"}, 150)
    assert row["status"] == "completed", (seen, row["error"])
    assert row["epochs_run"] == 3 and row["test_accuracy"] is not None
    model = studio_home / "models" / f"{row['id']}.keras"
    assert row["model_path"] == str(model) and model.stat().st_size > 0
    print(f"finished {time.time() - closed_at:.0f} s after its tab closed")


def test_a_classmate_can_neither_stop_nor_delete_your_run(studio, studio_home, browser):
    (ctx_a, a), (ctx_b, b) = new_page(browser), new_page(browser)
    try:
        start_training(a, studio, 1)
        training_shown(a, 1, TRAINING_MS)
        mine = run_of(a)

        # B opens Train while A's job runs: nothing of A's there, no Stop to press
        b.goto(studio + "/train")
        settle(b, "Start training")
        assert b.get_by_text("No training of yours is running").count() == 1
        assert stop_button(b).count() == 0
        assert b.get_by_text(mine).count() == 0

        a.get_by_text("Test accuracy").first.wait_for(timeout=TRAINING_MS)
        assert stored(studio_home, mine)["status"] == "completed"

        # A, the owner, may delete the finished run...
        a.get_by_role("link", name="Runs").first.click()
        settle(a, "Download, inspect, delete")
        a.get_by_text(f"{mine} ·").first.wait_for()
        delete = a.get_by_role("button", name="Delete")
        assert delete.count() == 1 and delete.first.is_enabled()
        shot(a, "sessions-runs-owner")

        # ...B sees it in the table and can pick it, but gets no Delete button
        b.goto(studio + "/runs")
        settle(b, "Runs")
        chooser = b.locator('[data-testid="stMultiSelect"]').first
        if chooser.get_by_text(mine).count() == 0:  # B's default pick is the best run
            chooser.locator("input").fill(mine)
            chooser.locator("input").press("Enter")
            b.keyboard.press("Escape")
        settle(b, "Download, inspect, delete")
        b.get_by_text(f"{mine} ·").first.wait_for()
        assert b.get_by_text("A classmate's run").count() >= 1
        assert b.get_by_role("button", name="Delete").count() == 0
        no_exception(b)
        shot(b, "sessions-runs-classmate")
        assert stored(studio_home, mine)["status"] == "completed"
    finally:
        ctx_a.close()
        ctx_b.close()
