"""The teacher's views: every student's runs, the line, the leaderboard, and the actions
on one run (stop, cancel, delete after a confirmation)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fmnist_core.nets import precision
from fmnist_core.store import classroom
from fmnist_core.store.records import ACTIVE_STATUSES, RunNotFoundError, node_brief
from fmnist_core.words import markdown_text, plural
from ui import identity, resources, sidebar

CLUTTER = ("cancelled", "failed")
TABLE_ROW_PX = 35  # the height of a row in st.dataframe
IMAGES_NOTE = ("Images: the training images a run had, validation included (all: every one "
               "the server allowed).")


def label(run: dict, names: dict) -> str:
    """A run in the picker: what does not change (its status and accuracy do, and the
    picker is not redrawn while a menu is open: the row below it says them, live)."""
    return (f"{classroom.student_label(run['owner'], names)} · {run['id'][:6]} · "
            f"{run['spec'].brief()}")


def state(run: dict) -> str:
    """"running, epoch 2 of 5", "completed, 91.2% on the test images", "stopped"."""
    if run["status"] in ("completed", "stopped") and run["test_accuracy"] is not None:
        return f"{run['status']}, {run['test_accuracy']:.1%} on the test images"
    if run["status"] == "running":
        return f"running, {run['epochs_run']} of {plural(run['spec'].epochs, 'epoch')} done"
    return run["status"]


def act(run: dict, names: dict) -> None:
    """Stop, cancel or delete one run, deleting only after a confirmation."""
    who = markdown_text(classroom.student_label(run["owner"], names))
    st.caption(f"{who}'s run {run['id'][:6]} is {state(run)}.")
    if run["status"] in ACTIVE_STATUSES:
        verb = "Cancel" if run["status"] == "queued" else "Stop"
        if st.button(f"{verb} {who}'s run", key=f"teacher_stop_{run['id']}"):
            resources.job_queue().stop(run["id"], owner=None)
            st.session_state.teacher_notice = f"{verb} sent for {who}'s run {run['id'][:6]}."
            st.rerun()
        return
    if st.session_state.get("teacher_confirm") != run["id"]:
        if st.button(f"Delete {who}'s run", key=f"teacher_delete_{run['id']}"):
            st.session_state.teacher_confirm = run["id"]
            st.rerun()
        return
    st.warning(f"Delete {who}'s run {run['id'][:6]} and its model for everyone? This cannot "
               "be undone.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", type="primary", key="teacher_delete_yes"):
        try:
            resources.run_store().delete_run(run["id"], owner=None)
            st.session_state.teacher_notice = f"{who}'s run {run['id'][:6]} is deleted."
        except (PermissionError, RunNotFoundError) as err:
            st.session_state.teacher_notice = str(err)
        st.session_state.teacher_confirm = None
        st.rerun()
    if no.button("Keep it", key="teacher_delete_no"):
        st.session_state.teacher_confirm = None
        st.rerun()


def action_row(run: dict, names: dict) -> None:
    """Stop or delete one run; while it is still active the row refreshes itself, so Delete
    appears once a Stop has ended it (the menu above it does not refresh, so it stays open)."""
    active = run["status"] in ACTIVE_STATUSES

    @st.fragment(run_every=2.0 if active else None)
    def row() -> None:
        try:
            fresh = resources.run_store().get_run(run["id"])
        except RunNotFoundError:
            st.caption("That run is gone.")
            return
        if active and fresh["status"] not in ACTIVE_STATUSES:
            st.rerun()  # it has ended: redraw the page, without the refreshing
        act(fresh, names)

    row()


@st.fragment(run_every=5.0)
def class_table() -> None:
    """Every run of the class with its student; refreshed by itself (the choices below are
    not, so a menu a teacher has open stays open)."""
    store = resources.run_store()
    runs, names = store.list_runs(), store.owner_names()
    if not runs:
        st.caption("No run yet: the students' runs appear here as they start them.")
        return
    groups = classroom.by_student(runs, names)
    if shared := classroom.shared_names(names):
        said = ", ".join(f"{markdown_text(name)} ({count})" for name, count in shared)
        st.warning(f"Several browsers use the same name: {said}. Ask those students to add "
                   "an initial, so their runs can be told apart.")
    st.caption(f"{plural(len(runs), 'run')} by {plural(len(groups), 'student')}, grouped by "
               f"student; the table refreshes by itself. {IMAGES_NOTE} Node: the machine "
               "(or the Ray cluster's node) that trained it.")
    rows = [{"student": student, "run": r["id"][:6], "status": r["status"],
             "model": r["spec"].summary(), "epochs": f"{r['epochs_run']}/{r['spec'].epochs}",
             "images": classroom.images_text(r["spec"]),
             "test acc": (f"{r['test_accuracy']:.1%}" if r["test_accuracy"] is not None
                          else "–"),
             "node": node_brief(r.get("node")) or "–"}
            for student, group in groups for r in group]
    # one table for the class (30 students are 30 rows, not 30 tables), up to 20 rows tall
    st.dataframe(rows, hide_index=True, width="stretch", placeholder="–",
                 height=TABLE_ROW_PX * (min(len(rows), 20) + 1) + 3, key="teacher_class")


def class_actions() -> None:
    store = resources.run_store()
    runs, names = store.list_runs(), store.owner_names()
    if not runs:
        return
    by_id = {r["id"]: r for r in runs}
    picked = st.selectbox("A run to stop or delete", list(by_id), key="teacher_pick",
                          format_func=lambda i: label(by_id[i], names))
    action_row(by_id[picked], names)
    clutter = [r for r in runs if r["status"] in CLUTTER]
    if clutter and st.button(f"Clear {plural(len(clutter), 'cancelled or failed run')}",
                             key="teacher_clear"):
        cleared = store.clear_runs(CLUTTER)
        st.session_state.teacher_notice = f"Cleared {plural(cleared, 'cancelled or failed run')}."
        st.rerun()


def sign_out_everyone() -> None:
    """The teacher's answer to a leaked token: every browser gets a new identity."""
    with st.popover("Sign every browser out", icon=":material/key_off:"):
        st.caption("Gives the server a new key, so every owner cookie and the teacher's "
                   "sign-in stop counting, on every server of the class within 10 seconds: "
                   "for a token that may have leaked. Every run stays, with its student's "
                   "name, on Runs and the leaderboard, but nobody can stop or delete their "
                   "earlier runs any more except you; each browser starts again as a new "
                   "student, and you enter the passcode again.")
        if st.button("Sign every browser out now", type="primary", key="teacher_rotate"):
            identity.sign_every_browser_out()
            st.rerun()


@st.fragment(run_every=3.0)
def line_table() -> None:
    store = resources.run_store()
    runs, names = store.list_runs(statuses=ACTIVE_STATUSES), store.owner_names()
    places = {p.run_id: p for p in resources.line_clock().places(
        precision.expected_policy(sidebar.device_info()))}
    rows = classroom.line(runs, store.queued_runs(), names, places)
    if not rows:
        st.caption("Nothing trains and nobody waits.")
        return
    most = resources.job_queue().max_concurrent
    st.caption(f"At most {plural(most, 'training')} at once; the rest start in this order, "
               "each when a slot frees, at the times estimated for the runs ahead. It "
               "refreshes by itself.")
    # a plain table: its cells wrap, so every column stays in sight on a projector
    st.table(pd.DataFrame([{**row, "run": row["run"][:6]} for row in rows]).set_index("place"))


def line_actions() -> None:
    store = resources.run_store()
    runs, names = store.list_runs(statuses=ACTIVE_STATUSES), store.owner_names()
    rows = classroom.line(runs, store.queued_runs(), names)
    if not rows:
        return
    by_id = {r["id"]: r for r in runs}
    picked = st.selectbox("A run to stop or cancel", [row["run"] for row in rows],
                          key="teacher_line_pick", format_func=lambda i: label(by_id[i], names))
    action_row(by_id[picked], names)


def leaderboard() -> None:
    store = resources.run_store()
    table = classroom.leaderboard(store.list_runs(), store.owner_names())
    if not table:
        st.caption("No student yet: the leaderboard lists each student once they have a name "
                   "or a run.")
        return
    # a plain table: readable on a projector, and printable
    # every cell as text: a student without a tested run has "–" where others have numbers
    st.table(pd.DataFrame([{
        "": str(row["rank"] or "–"), "student": row["student"],
        "best test acc": (f"{row['test_accuracy']:.2%}" if row["test_accuracy"] is not None
                          else "no finished run yet"),
        "network": row["model"] or "–",
        "epochs": str(row["epochs"]) if row["epochs"] is not None else "–",
        "images": row["images"] or "–",
        "run": row["run"][:6] if row["run"] else "–", "runs tried": str(row["runs"])}
        for row in table]).set_index(""))
    tested = sum(row["rank"] is not None for row in table)
    st.caption(f"Each student's best tested run and the network that got it: "
               f"{plural(tested, 'student')} of {len(table)} "
               f"{'has' if tested == 1 else 'have'} one so far. {IMAGES_NOTE}")
