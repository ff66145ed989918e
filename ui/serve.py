"""Starting the studio: Streamlit's server, and the training queue with it.

`streamlit run app.py` makes the queue when the first page is opened, so a server restarted
while runs trained on a Ray cluster, or while students waited in line, would leave them
until someone opened a page. This starts Streamlit the same way (the same options and
`.streamlit/config.toml`) and makes the queue as soon as the server's runtime exists.

    python -m ui.serve --server.port 8501 --server.address 0.0.0.0
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"
# How often the starting thread looks whether Streamlit's runtime exists yet (it does
# within a second of the start; the queue's first tick follows at once).
RUNTIME_POLL_SECONDS = 0.1


def _start_queue_once_serving() -> None:
    from streamlit import runtime

    while not runtime.exists():
        time.sleep(RUNTIME_POLL_SECONDS)
    from fmnist_core import logs
    from ui import resources

    logs.configure()  # as app.py does: the queue's warnings reach the server's output
    resources.start_training_queue()


def main(argv: list[str] | None = None) -> None:
    """Runs `streamlit run app.py` with `argv` (Streamlit's own options) and starts the
    training queue as the server starts."""
    from streamlit.web import cli

    threading.Thread(target=_start_queue_once_serving, name="start-queue",
                     daemon=True).start()
    args = sys.argv[1:] if argv is None else argv
    cli.main(args=["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
