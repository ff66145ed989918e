"""The runs a page offers and how it names them: the finished runs, the run it opens on, a
run's label with its student ("you" for this browser), and the caption when there is none."""

from __future__ import annotations

import time

import streamlit as st

from fmnist_core.store.records import SHORT_ID_PATTERN, RunNotFoundError, validate_run_id
from ui import identity, resources


def finished_runs() -> list[dict]:
    """Stored runs with a saved model, newest first."""
    return [r for r in resources.run_store().list_runs()
            if r["model_path"] and r["status"] in ("completed", "stopped")]


def run_or_none(run_id: str | None) -> dict | None:
    """The stored run `run_id`, or None for no id, a malformed one or a run not stored."""
    if not run_id:
        return None
    try:
        return resources.run_store().get_run(run_id)
    except (ValueError, RunNotFoundError):
        return None


def linked_run(asked: str, runs: dict[str, dict]) -> tuple[str | None, str | None]:
    """The run of `runs` a link's `?run=` names: its whole id, or the start of it a page
    shows when no other run's id starts so. (None, why not) otherwise, `why` ending the
    sentence "The run “…” in the link …"."""
    if asked in runs:
        return asked, None
    if SHORT_ID_PATTERN.match(asked):
        found = resources.run_store().ids_starting(asked)
        if len(found) > 1:
            return None, (f"could be any of {len(found)} runs ({', '.join(found)}); "
                          "the link needs more of its id")
        stored = found[0] if found else None
    else:
        try:
            stored = asked if run_or_none(validate_run_id(asked)) else None
        except ValueError:
            return None, "is not a run id"
    if stored in runs:
        return stored, None
    return None, ("has no saved model" if stored
                  else "does not exist (it may have been deleted)")


def student(owner_id: str, names: dict[str, str]) -> str:
    """How a run's owner is shown: their name, "you" for this browser, else "classmate"."""
    name = names.get(owner_id)
    if owner_id == identity.known_owner():
        return f"{name} (you)" if name else "you"
    return name or "classmate"


def run_label(run: dict, names: dict[str, str] | None = None, short: bool = False) -> str:
    """"3f9a2c · Conv 32 3×3 → … · 91.2% · 10:42 · Ada"; `short` leaves out the network
    and the time (a chip in a narrow multiselect)."""
    acc = f"{run['test_accuracy']:.1%}" if run["test_accuracy"] is not None else run["status"]
    who = student(run["owner"], names or {})
    if short:
        return f"{run['id'][:6]} · {acc} · {who}"
    when = time.strftime("%H:%M", time.localtime(run["created"]))
    return f"{run['id'][:6]} · {run['spec'].summary()} · {acc} · {when} · {who}"


def default_run() -> tuple[str | None, str]:
    """The run a page opens on and why (`fmnist_core.store.classroom.default_run`): this
    browser's best completed run, else the class's best."""
    from fmnist_core.store.classroom import default_run as choose

    return choose(finished_runs(), identity.known_owner())


def require_runs(runs: list[dict], sentence: str) -> dict[str, dict]:
    """The runs by id; with none, the empty-state caption, a link to Train, and the page
    stops."""
    if not runs:
        st.caption(sentence)
        st.page_link("pages/train.py", label="Go to the Train page",
                     icon=":material/show_chart:")
        st.stop()
    return {run["id"]: run for run in runs}
