"""A real studio server on a free loopback port and Debian's Chromium driven by Playwright."""

import os

import pytest

from bench.common import CHROMIUM, CHROMIUM_ARGS, studio_server


@pytest.fixture(scope="session")
def studio_home(tmp_path_factory):
    """STUDIO_HOME of the browser tests' server: runs.sqlite, models/ and server.log."""
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="session")
def studio(studio_home):
    """Base URL of a running studio with a small data slice and its own run store."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser)")
    # trainings run in worker processes, as in a classroom (the unit tests use threads)
    with studio_server(studio_home, STUDIO_TRAIN_LIMIT="3000", STUDIO_TEST_LIMIT="500",
                       STUDIO_MAX_CONCURRENT_TRAININGS="2",
                       STUDIO_TRAINING_WORKER="process",
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
