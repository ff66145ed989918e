"""Helpers for the browser tests."""

import re
import time
from pathlib import Path

SCREENSHOTS = Path(__file__).parent / "screenshots"
# How long a browser test waits for a training to reach a point (its first epoch, a Stop,
# its end): several trainings and Chromium pages share the 2-core test machine, and a
# first batch can wait minutes behind them. A test that passes waits only as long as needed.
TRAINING_MS = 300_000
# The shared server's STUDIO_ABSENT_GRACE_SECONDS (the studio's default is 15): a closed
# tab's queued job is cancelled after this long.
ABSENT_GRACE_SECONDS = 6
CHARTS_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .every(p => p._fullLayout && p.querySelector('.main-svg'))"""
TABLES_DRAWN = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
  .every(t => t.querySelector('[data-testid="data-grid-canvas"]'))"""


def training_shown(page, epochs: int, timeout_ms: int = TRAINING_MS) -> None:
    """Waits until the page shows its run training ("Epoch k/epochs", any k): on small data an
    epoch takes a second or two, so a page looked at after another may be past epoch 1."""
    page.get_by_text(re.compile(rf"Epoch \d+/{epochs}\b")).first.wait_for(timeout=timeout_ms)


def watch_while_training(page, expression: str, until_text: str,
                         every_ms: int = 300) -> list:
    """The distinct values of the JavaScript `expression` on the page, in the order seen,
    polled until `until_text` appears (the training has ended) or TRAINING_MS has passed."""
    seen, deadline = [], time.time() + TRAINING_MS / 1000
    while time.time() < deadline:
        value = page.evaluate(expression)
        if value and (not seen or seen[-1] != value):
            seen.append(value)
        if page.get_by_text(until_text).count():
            break
        page.wait_for_timeout(every_ms)
    return seen


def charts_drawn(page, timeout_ms: int = 60_000) -> None:
    """Waits until every plotly chart on the page has been drawn (before a screenshot)."""
    page.wait_for_function(CHARTS_DRAWN, timeout=timeout_ms)


def tables_drawn(page, timeout_ms: int = 60_000) -> None:
    """Waits until every st.dataframe on the page has its grid (before a screenshot: until
    then it is an empty grey box)."""
    page.wait_for_function(TABLES_DRAWN, timeout=timeout_ms)


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_class(home: Path) -> None:
    """Lifts a class's default limits on the training images and epochs in the run store at
    `home` (before its server starts): these servers have a teacher's passcode, and their
    tests train longer runs than a lesson's default, or check the cost limit of a run."""
    from fmnist_core.store import settings
    from fmnist_core.store.runs import RunStore

    store = RunStore(home, recover=False)
    try:
        settings.save(store.db, settings.ClassSettings(), ("train_images", "max_epochs"))
    finally:
        store.close()
