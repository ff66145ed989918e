"""Helpers for the browser tests."""

from pathlib import Path

SCREENSHOTS = Path(__file__).parent / "screenshots"
# How long a browser test waits for a training to reach a point (its first epoch, a Stop,
# its end): several trainings and Chromium pages share the 2-core test machine, and a
# first batch can wait minutes behind them. A test that passes waits only as long as needed.
TRAINING_MS = 300_000
CHARTS_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .every(p => p._fullLayout && p.querySelector('.main-svg'))"""


def charts_drawn(page, timeout_ms: int = 60_000) -> None:
    """Waits until every plotly chart on the page has been drawn (before a screenshot)."""
    page.wait_for_function(CHARTS_DRAWN, timeout=timeout_ms)


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
