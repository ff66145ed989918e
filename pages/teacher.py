"""Teacher: every run with its student, stop or delete any run, the line, the leaderboard."""

import pandas as pd
import streamlit as st

from fmnist_core import classroom
from fmnist_core.runs import ACTIVE_STATUSES, RunNotFoundError
from ui import identity, resources, router

router.require_app()

VIEWS = ("Class", "Line", "Leaderboard")
CLUTTER = ("cancelled", "failed")

st.title("Teacher")
passcode = identity.teacher_passcode()
if passcode is None:
    st.caption("No teacher passcode is set on this server: set STUDIO_TEACHER_PASSCODE (or "
               "teacher_passcode in .streamlit/secrets.toml) and restart the studio.")
    st.stop()
me = resources.owner()
if not identity.is_teacher():
    st.caption("The teacher's view shows every student's runs and can stop or delete any of "
               "them. It needs the passcode the teacher set for this server.")
    with st.form("teacher_unlock"):
        attempt = st.text_input("Passcode", type="password", key="teacher_attempt")
        unlock = st.form_submit_button("Unlock")
    if unlock:
        right, sentence = identity.passcode_guard(passcode).check(me, attempt)
        if right:
            st.session_state.teacher = True
            st.rerun()
        st.error(sentence)
    st.stop()

store, queue = resources.run_store(), resources.job_queue()
if notice := st.session_state.pop("teacher_notice", None):
    st.success(notice)
view = st.segmented_control("View", VIEWS, default=VIEWS[0], required=True, key="teacher_view")


def label(run: dict, names: dict) -> str:
    acc = f"{run['test_accuracy']:.1%}" if run["test_accuracy"] is not None else run["status"]
    return (f"{classroom.student_label(run['owner'], names)} · {run['id'][:6]} · "
            f"{run['spec'].summary()} · {acc}")


def act(run: dict, names: dict) -> None:
    """Stop, cancel or delete one run, deleting only after a confirmation."""
    who = classroom.student_label(run["owner"], names)
    if run["status"] in ACTIVE_STATUSES:
        verb = "Cancel" if run["status"] == "queued" else "Stop"
        if st.button(f"{verb} {who}'s run", key=f"teacher_stop_{run['id']}"):
            queue.stop(run["id"], owner=None)
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
            store.delete_run(run["id"], owner=None)
            st.session_state.teacher_notice = f"{who}'s run {run['id'][:6]} is deleted."
        except (PermissionError, RunNotFoundError) as err:
            st.session_state.teacher_notice = str(err)
        st.session_state.teacher_confirm = None
        st.rerun()
    if no.button("Keep it", key="teacher_delete_no"):
        st.session_state.teacher_confirm = None
        st.rerun()


@st.fragment(run_every=5.0)
def class_view() -> None:
    runs, names = store.list_runs(), store.owner_names()
    if not runs:
        st.caption("No run yet: the students' runs appear here as they start them.")
        return
    groups = classroom.by_student(runs, names)
    st.caption(f"{len(runs)} run(s) by {len(groups)} student(s); it refreshes by itself.")
    for student, group in groups:
        st.markdown(f"**{student}** · {len(group)} run(s)")
        st.dataframe([{"run": r["id"][:6], "status": r["status"], "model": r["spec"].summary(),
                       "epochs": f"{r['epochs_run']}/{r['spec'].epochs}",
                       "test acc": (f"{r['test_accuracy']:.1%}" if r["test_accuracy"]
                                    is not None else "–")} for r in group],
                     hide_index=True, width="stretch")
    by_id = {r["id"]: r for r in runs}
    picked = st.selectbox("A run to stop or delete", list(by_id), key="teacher_pick",
                          format_func=lambda i: label(by_id[i], names))
    act(by_id[picked], names)
    clutter = [r for r in runs if r["status"] in CLUTTER]
    if clutter and st.button(f"Clear {len(clutter)} cancelled or failed run(s)",
                             key="teacher_clear"):
        st.session_state.teacher_notice = (f"Cleared {store.clear_runs(CLUTTER)} cancelled or "
                                           "failed run(s).")
        st.rerun()


@st.fragment(run_every=3.0)
def line_view() -> None:
    runs, names = store.list_runs(statuses=ACTIVE_STATUSES), store.owner_names()
    rows = classroom.line(runs, store.queued_runs(), names)
    if not rows:
        st.caption("Nothing trains and nobody waits.")
        return
    st.caption(f"At most {queue.max_concurrent} training(s) at once; the rest start in this "
               "order. It refreshes by itself.")
    st.dataframe([{**row, "run": row["run"][:6]} for row in rows], hide_index=True,
                 width="stretch")
    by_id = {r["id"]: r for r in runs}
    picked = st.selectbox("A run to stop or cancel", [row["run"] for row in rows],
                          key="teacher_line_pick", format_func=lambda i: label(by_id[i], names))
    act(by_id[picked], names)


if view == "Class":
    class_view()
elif view == "Line":
    line_view()
else:
    table = classroom.leaderboard(store.list_runs(), store.owner_names())
    if not table:
        st.caption("No tested run yet: the leaderboard fills as runs finish.")
    else:
        # a plain table: readable on a projector, and printable
        st.table(pd.DataFrame([{"": row["rank"], "student": row["student"],
                                "best test acc": f"{row['test_accuracy']:.2%}",
                                "network": row["model"], "epochs": row["epochs"],
                                "run": row["run"][:6], "runs tried": row["runs"]}
                               for row in table]).set_index(""))
        st.caption("Each student's best tested run, and the network that got it.")
