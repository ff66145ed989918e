"""AppTest helpers shared by the page tests."""

from pathlib import Path


def page_test(page: str, timeout: float = 60):
    """An AppTest of app.py switched to `page` (e.g. "pages/train.py"), run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"),
                           default_timeout=timeout)
    at.run()
    if page != "pages/data.py":
        at.switch_page(page)
        at.run()
    return at


def page_text(at) -> str:
    """Everything visible as text on an AppTest page (markdown, captions, alerts, metrics)."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title",
                 "header", "subheader", "text"):
        parts += [str(el.value) for el in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)
