"""A run belongs to its browser: a reload keeps Stop, a classmate and a shared link get no
rights, a restarted server keeps every owner; the teacher's view; nothing cut off on a
projector (1024×768).

Waits are on conditions, with room for two trainings and several Chromium pages on the
2-core machine (TRAINING_MS); none is a fixed sleep.
"""

import re
import sqlite3
from contextlib import closing
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.common import CHROMIUM, studio_server
from browsertools import TRAINING_MS, shot, tables_drawn, training_shown
from test_browser import no_exception, press_stop, settle, start_training, stop_button

PASSCODE = "blue-heron-42"
RUN_PREFIX = re.compile(r"Your (?:latest )?run:? ([0-9a-f]{6})")
TRUNCATED = """() => [...document.querySelectorAll('[data-testid="stMain"] *, [data-testid="stSidebar"] *')]
  .filter(el => getComputedStyle(el).textOverflow === 'ellipsis'
                && el.scrollWidth > el.clientWidth + 1 && el.innerText.trim())
  .map(el => el.innerText.trim().slice(0, 60))"""


def new_page(browser, width=1400, height=2000):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def run_of(page) -> str:
    locator = page.get_by_text(RUN_PREFIX).first
    locator.wait_for(timeout=TRAINING_MS)
    return RUN_PREFIX.search(locator.inner_text()).group(1)


def stored(home, prefix: str) -> dict:
    with closing(sqlite3.connect(home / "runs.sqlite", timeout=10)) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM runs WHERE id LIKE ?", (prefix + "%",)).fetchone())


def give_name(page, name: str) -> None:
    box = page.get_by_role("textbox", name="Your name")
    box.fill(name)
    box.press("Enter")
    settle(page)


def open_runs_with(page, url: str, prefix: str) -> None:
    """Opens Runs and picks the run `prefix` in the comparison (the download / delete rows)."""
    page.goto(url + "/runs")
    settle(page, "Runs")
    chooser = page.locator('[data-testid="stMultiSelect"]').first
    if chooser.get_by_text(prefix).count() == 0:
        chooser.locator("input").fill(prefix)
        chooser.locator("input").press("Enter")
        page.keyboard.press("Escape")
    settle(page, "Download, inspect, delete")
    page.get_by_text(f"{prefix} ·").first.wait_for()


def test_a_reload_brings_stop_back_and_a_classmate_or_a_link_gets_nothing(studio, browser,
                                                                         studio_home):
    (ctx_a, a), (ctx_b, b) = new_page(browser), new_page(browser)
    try:
        a.goto(studio + "/train")
        settle(a, "Start training")
        give_name(a, "Ada")
        start_training(a, studio, 200)  # still training at Stop, even on a fast machine
        training_shown(a, 200, TRAINING_MS)
        mine = run_of(a)

        a.reload()  # a new Streamlit session of the same browser
        settle(a, "Train")
        a.get_by_text(re.compile(r"Epoch \d+/200")).first.wait_for(timeout=TRAINING_MS)
        stop_button(a).first.wait_for(timeout=60_000)
        assert a.get_by_role("textbox", name="Your name").input_value() == "Ada"
        shot(a, "ownership-after-reload")

        # a classmate: the run, with its student's name, and no Stop or Delete anywhere
        b.goto(studio + "/train")
        settle(b, "Start training")
        assert b.get_by_text("No training of yours is running").count() == 1
        assert stop_button(b).count() == 0
        open_runs_with(b, studio, mine)
        assert b.get_by_text(f"{mine} ·").first.inner_text().endswith("Ada")
        assert b.get_by_role("button", name="Delete").count() == 0
        tables_drawn(b)
        shot(b, "ownership-classmate-runs")

        press_stop(a)  # the reloaded page's Stop works
        a.get_by_text("Stopped by you").first.wait_for(timeout=TRAINING_MS)
        assert stored(studio_home, mine)["status"] == "stopped"

        # the owner's link to Inspect, opened by the classmate, shows the run, grants nothing
        a.get_by_role("link", name="Open the confusion matrix and feature maps").click()
        settle(a, "Inspect")
        link = a.url
        assert "run=" in link and "owner" not in link and "token" not in link
        b.goto(link)
        settle(b, "Inspect")
        run_box = b.locator('[data-testid="stMain"] [data-testid="stSelectbox"] input').first
        assert run_box.input_value().startswith(f"{mine} ·")
        assert run_box.input_value().endswith("· Ada")
        no_exception(b)
        open_runs_with(b, studio, mine)
        assert b.get_by_role("button", name="Delete").count() == 0
        assert b.get_by_text("A classmate's run").count() >= 1
        # ...and the owner can delete it, from a reloaded page
        open_runs_with(a, studio, mine)
        assert a.get_by_role("button", name="Delete").first.is_enabled()
    finally:
        ctx_a.close()
        ctx_b.close()


def test_a_restarted_server_keeps_every_owner(browser, tmp_path):
    if not CHROMIUM:
        pytest.skip("no chromium")
    home = tmp_path / "home"
    env = dict(STUDIO_TRAIN_LIMIT="3000", STUDIO_TEST_LIMIT="500",
               STUDIO_MAX_CONCURRENT_TRAININGS="1", STUDIO_TRAINING_WORKER="process")
    (ctx_a, a), (ctx_b, b) = new_page(browser), new_page(browser)
    try:
        with studio_server(home, **env) as (url, server):
            port = urlparse(url).port  # the restarted server comes back on the same address
            start_training(a, url, 30)
            training_shown(a, 30, TRAINING_MS)
            training = run_of(a)
            start_training(b, url, 200)  # long enough to be stopped after the restart
            b.get_by_text("Queued:").first.wait_for(timeout=TRAINING_MS)
            queued = run_of(b)
            server.kill()  # the server dies; its worker ends with it
            server.wait(30)
        with studio_server(home, port=port, **env) as (url, server):
            # the queued run survives and starts; its owner, reloaded, can watch and stop it
            b.reload()
            settle(b, "Train")
            b.get_by_text(re.compile(r"Epoch \d+/200")).first.wait_for(timeout=TRAINING_MS)
            shot(b, "ownership-after-restart")
            assert run_of(b) == queued
            stop_button(b).first.wait_for(timeout=60_000)
            shot(b, "ownership-after-restart")
            # the run that was training is interrupted, and still its owner's to delete
            assert stored(home, training)["status"] == "interrupted"
            open_runs_with(a, url, training)
            delete = a.get_by_role("button", name="Delete")
            assert delete.count() == 1 and delete.first.is_enabled()
            press_stop(b)
            b.get_by_text("Stopped by you").first.wait_for(timeout=TRAINING_MS)
            no_exception(a)
            no_exception(b)
    finally:
        ctx_a.close()
        ctx_b.close()


def test_the_teacher_stops_and_deletes_a_students_run_and_sees_the_leaderboard(
        studio, browser, studio_home):
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    store = RunStore(studio_home, recover=False)  # a classmate's two finished runs
    store.set_owner_name("grace0000000000", "Grace")
    for accuracy in (0.881, 0.931):
        run_id = store.create_run(preset("quick"), "grace0000000000", status="completed")
        store.update_run(run_id, test_accuracy=accuracy)
    graces_best = run_id[:6]
    (ctx_s, student), (ctx_t, teacher) = new_page(browser), new_page(browser)
    try:
        student.goto(studio + "/train")
        settle(student, "Start training")
        give_name(student, "Runaway Rita")
        start_training(student, studio, 200)
        training_shown(student, 200, TRAINING_MS)
        runaway = run_of(student)

        teacher.goto(studio + "/teacher")
        settle(teacher, "Teacher")
        teacher.get_by_role("textbox", name="Passcode").fill("not-it")
        teacher.get_by_role("button", name="Unlock").click()
        teacher.get_by_text("That passcode is not right").first.wait_for()
        assert teacher.get_by_text("Rita").count() == 0
        shot(teacher, "teacher-wrong-passcode")
        teacher.get_by_role("textbox", name="Passcode").fill(PASSCODE)
        for _ in range(30):  # the wrong try asked for a 2 s wait: try until it is accepted
            teacher.get_by_role("button", name="Unlock").click()
            try:
                teacher.get_by_text(re.compile(r"\d+ runs? by \d+ students?")).first.wait_for(
                    timeout=2_000)
                break
            except PlaywrightTimeout:
                continue
        # a cell of the class table (its accessible copy is in the page, hidden under the
        # canvas): the first "Runaway Rita" in the page is that cell once the grid is drawn
        teacher.locator('[data-testid="stDataFrame"]').get_by_text("Runaway Rita").first \
            .wait_for(state="attached")
        tables_drawn(teacher)
        shot(teacher, "teacher-class")

        chooser = teacher.locator('[data-testid="stSelectbox"]').filter(
            has_text="A run to stop or delete")
        chooser.click()
        teacher.get_by_role("option", name=re.compile(f"Runaway Rita · {runaway}")).click()
        settle(teacher)
        teacher.get_by_role("button", name="Stop Runaway Rita's run").click()
        teacher.get_by_text("Stop sent for Runaway Rita's run").first.wait_for()
        student.get_by_text("Stopped by your teacher").first.wait_for(timeout=TRAINING_MS)
        assert stored(studio_home, runaway)["status"] == "stopped"

        settle(teacher)
        chooser = teacher.locator('[data-testid="stSelectbox"]').filter(
            has_text="A run to stop or delete")
        if runaway not in chooser.inner_text():
            chooser.click()
            teacher.get_by_role("option", name=re.compile(f"Runaway Rita · {runaway}")).click()
            settle(teacher)
        teacher.get_by_role("button", name="Delete Runaway Rita's run").click()
        teacher.get_by_role("button", name="Yes, delete it").click()
        teacher.get_by_text(f"Runaway Rita's run {runaway} is deleted.").first.wait_for()

        teacher.get_by_text("Leaderboard", exact=True).first.click()
        settle(teacher, "Each student's best tested run")
        board = teacher.locator('[data-testid="stTable"]').inner_text()
        assert "Grace" in board and "93.10%" in board and graces_best in board
        shot(teacher, "teacher-leaderboard")
        no_exception(teacher)
        no_exception(student)
    finally:
        ctx_s.close()
        ctx_t.close()


@pytest.mark.parametrize("path,text", [("/train", "Start training"), ("/runs", "Runs")])
def test_nothing_is_cut_off_on_a_projector(studio, browser, path, text):
    context, page = new_page(browser, 1024, 768)
    try:
        page.goto(studio + path)
        settle(page, text)
        if path == "/runs":
            chooser = page.locator('[data-testid="stMultiSelect"]').first
            if chooser.count():
                settle(page)
        cut = page.evaluate(TRUNCATED)
        shot(page, f"projector{path.replace('/', '-')}")
        assert cut == [], f"cut off at 1024×768: {cut}"
        no_exception(page)
    finally:
        context.close()
