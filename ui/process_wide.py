"""What one server process holds once, for every session: the objects that must outlive any
cache clearing (the run store, the training queue, the picture decoders' slots), and the
script run a page is drawn in."""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

from fmnist_core.store.runs import RunStore

T = TypeVar("T")

# Guards the first `make()` of each process-wide object: two sessions opening at once make
# one run store, not two.
_PROCESS_LOCK = threading.Lock()


def process_wide(name: str, make: Callable[[], T]) -> T:
    """The one `make()` of this server process, made on first use.

    For what must exist once and outlive any cache clearing: the run store and the queue with
    its executor (a second queue would start a second worker, 0.6 GB, for every clearing).
    The objects hang on the Streamlit runtime, which lives as long as the server; without
    one (AppTest, bare mode) on this function.
    """
    with _PROCESS_LOCK:
        objects = held()
        if name not in objects:
            objects[name] = make()
        return objects[name]


def held() -> dict:
    """The process-wide objects by name (see `process_wide`)."""
    from streamlit import runtime

    home = runtime.get_instance() if runtime.exists() else process_wide
    return home.__dict__.setdefault("studio_process_wide", {})


def shared_run_store() -> RunStore:
    """The server's run store, opened on first use; raises what opening it raises
    (`ui.resources.run_store` says that on the page)."""
    return process_wide("run_store", RunStore)


def script_ctx():
    """The script run this thread draws a page for, or None (a background thread, bare
    mode)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True)
