"""A real studio server on a free loopback port and Debian's Chromium driven by Playwright."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import CHROMIUM, CHROMIUM_ARGS, free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def studio_home(tmp_path_factory):
    """STUDIO_HOME of the browser tests' server: runs.sqlite, models/ and server.log."""
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="session")
def studio(studio_home):
    """Base URL of a running studio with a small data slice and its own run store."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser)")
    home = studio_home
    port = free_port()
    env = dict(os.environ, STUDIO_HOME=str(home), STUDIO_TRAIN_LIMIT="3000",
               STUDIO_TEST_LIMIT="500", STUDIO_MAX_CONCURRENT_TRAININGS="2",
               STUDIO_NO_DOWNLOAD="1", TF_CPP_MIN_LOG_LEVEL="3")
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
    pg.set_default_timeout(30_000)
    yield pg
    context.close()

