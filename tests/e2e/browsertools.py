"""Helpers for the browser tests."""

from pathlib import Path

SCREENSHOTS = Path(__file__).parent / "screenshots"


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
