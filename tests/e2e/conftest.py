"""A real studio server on a free loopback port and Debian's Chromium driven by Playwright."""

import os
from pathlib import Path

import pytest

from bench.common import CHROMIUM, CHROMIUM_ARGS, studio_server
from browsertools import ABSENT_GRACE_SECONDS, open_class


SERVER_LOGS: list[Path] = []  # every studio server's log, for a failed test's report


@pytest.fixture(scope="session")
def studio_home(tmp_path_factory):
    """STUDIO_HOME of the browser tests' server: runs.sqlite, models/ and server.log."""
    home = tmp_path_factory.mktemp("e2e-home")
    SERVER_LOGS.append(home / "server.log")
    return home


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test's report ends with the tracebacks its servers logged, since a
    page shows none (showErrorDetails is off)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "/e2e/" not in str(item.fspath):
        return
    for log in SERVER_LOGS:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        if "Traceback" in text:
            report.sections.append((f"tracebacks in {log}",
                                    text[text.find("Traceback", max(0, len(text) - 20000)):]))


@pytest.fixture(scope="session")
def finished_run(studio_home, fashion):
    """A classmate's finished run (quick, 1 epoch on 3,000 images) with its model and its
    unusual-input check, trained here into the browser tests' store, so a test that needs a
    trained model has one whatever ran before it; returns its stored row."""
    from fmnist_core.nets.spec import preset
    from fmnist_core.store.runs import RunStore
    from fmnist_core.training.job import TrainingJob

    store = RunStore(studio_home, recover=False)  # never recover the server's own runs
    job = TrainingJob(preset("quick").replace(epochs=1), "e2e-classmate", store,
                      dataset=fashion.subset(limit_train=3000, limit_test=500))
    job.start()
    assert job.wait(600) and job.status == "completed", job.snapshot()["message"]
    return store.get_run(job.run_id)


@pytest.fixture(scope="session")
def studio(studio_home):
    """Base URL of a running studio with a small data slice and its own run store."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser)")
    open_class(studio_home)  # its tests train up to 200 epochs
    # trainings run in worker processes, as in a classroom (the unit tests use threads)
    with studio_server(studio_home, STUDIO_TRAIN_LIMIT="3000", STUDIO_TEST_LIMIT="500",
                       STUDIO_MAX_CONCURRENT_TRAININGS="2",
                       STUDIO_TRAINING_WORKER="process",
                       STUDIO_ABSENT_GRACE_SECONDS=str(ABSENT_GRACE_SECONDS),
                       STUDIO_TEACHER_PASSCODE="blue-heron-42") as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()



def pytest_collection_modifyitems(items):
    """Browser tests wait on trainings that share 2 cores with Chromium: a longer limit
    than the unit tests' (pytest.ini), so a slow machine fails a condition, not the clock."""
    for item in items:
        if "/e2e/" in str(item.fspath) and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(900))


@pytest.fixture(autouse=True)
def quiet_queue(request):
    """After each test on the shared server, stops what it left training or queued (a test
    that failed half-way must not hold the training slots of the tests after it)."""
    yield
    if "studio" not in request.fixturenames:
        return
    import time

    from fmnist_core.store.runs import RunStore

    store = RunStore(request.getfixturevalue("studio_home"), recover=False)
    deadline = time.time() + 180
    while time.time() < deadline:
        active = store.list_runs(statuses=("queued", "running"))
        if not active:
            return
        for run in active:
            if not store.cancel_queued(run["id"], "Cancelled by the test suite."):
                store.request_stop(run["id"])
        time.sleep(1.0)
    raise AssertionError(f"runs still active after the test: {[r['id'] for r in active]}")
