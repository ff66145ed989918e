"""The Runs page's pieces: the run table, the overlaid curves, and each run's actions
(download, take home as code, inspect, delete after a confirmation)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from fmnist_core.export import history
from fmnist_core.store.classroom import images_text
from fmnist_core.store.records import ACTIVE_STATUSES, RunNotFoundError, node_brief
from fmnist_core.words import duration, markdown_text, plural
from ui import charts, resources, run_choice, take_home
from ui.figures import comparison

METRICS = {"val_accuracy": "Validation accuracy", "accuracy": "Training accuracy",
           "val_loss": "Validation loss", "loss": "Training loss"}
# numbers as text with "–" for none; the frame keeps the numbers, so columns sort by value
TABLE_FORMAT = {"test acc": "{:.1f} %", "val acc": "{:.1f} %", "params": "{:,.0f}",
                "training time": duration}
# widths that fit a projector's 1024 pixels with the sidebar open: every figure in sight
# (newest first; each run's time is in its line under Download, inspect, delete)
COLUMN_WIDTHS = {"run": 58, "student": 90, "status": 80, "test acc": 60, "val acc": 56,
                 "training time": 92, "images": 56, "params": 62, "network": 180}


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


def table(runs: dict[str, dict], names: dict[str, str]):
    """The run table as a styled frame, indexed by run id: empty cells read "–", not
    "None"; the network in a few words (each run's whole line is under its actions)."""
    frame = pd.DataFrame([{
        "id": run_id, "run": run_id[:6], "student": run_choice.student(run["owner"], names),
        "status": run["status"], "test acc": _percent(run["test_accuracy"]),
        "val acc": _percent(run["best_val_accuracy"]),
        "training time": run["train_seconds"], "images": images_text(run["spec"]),
        "params": run["params"], "network": run["spec"].brief(),
    } for run_id, run in runs.items()]).set_index("id")
    return frame.style.format(na_rep="–").format(TABLE_FORMAT, na_rep="–")


def show_table(runs: dict[str, dict], names: dict[str, str]) -> None:
    # the styler's "–" reaches AppTest and exports; the browser's grid draws its own placeholder
    st.dataframe(table(runs, names), hide_index=True, key="runs_table", placeholder="–",
                 column_config={name: st.column_config.Column(width=width)
                                for name, width in COLUMN_WIDTHS.items()},
                 alt=f"Table of {plural(len(runs), 'run')}: for each, its student, status, test "
                     "and best validation accuracy, training time, training images, "
                     "parameters and its network.")
    st.caption("Val acc is the best accuracy on the held-out validation images during "
               "training; test acc is measured once at the end on the test images. Training "
               "time counts every epoch and its validation, as on the Train page. Images: the "
               "training images a run had, validation included (all: every one the server "
               "allowed).")


def curves(runs: dict[str, dict], chosen: list[str], metric: str) -> None:
    """The chosen runs' `metric` overlaid per complete epoch; the runs without one are
    named in a sentence instead of an empty chart."""
    store = resources.run_store()
    drawn, without = {}, []
    for run_id in chosen:
        rows = [r for r in store.epochs(run_id)
                if r.get("complete", True) and r.get(metric) is not None]
        if rows:
            drawn[f"{run_id[:6]} · {runs[run_id]['spec'].brief()}"] = rows
        else:
            without.append(run_id[:6])
    what = METRICS[metric].lower()
    if drawn:
        charts.show(comparison.overlay(drawn, metric), key="runs_overlay")
    if without:
        they = "it has" if len(without) == 1 else "they have"
        st.info(f"No {what} to draw for {', '.join(without)}: {they} no complete epoch"
                + (" with validation images" if metric.startswith("val_") else "")
                + ". A curve appears once an epoch has ended; a run stopped during its "
                  "first epoch never gets one.")


def actions(run: dict, me: str, names: dict[str, str]) -> None:
    """One run's line and its buttons: the model, its history, Inspect, and Delete for its
    owner (after a confirmation); under them the run as a notebook, a script and TFLite."""
    store = resources.run_store()
    run_id = run["id"]
    st.markdown(f"**{run_id[:6]}** · {run['spec'].summary()} · {run['status']} · "
                f"{images_text(run['spec'])} training images · "
                f"{markdown_text(run_choice.student(run['owner'], names))} · "
                f"{datetime.fromtimestamp(run['created']):%d %b %H:%M}"
                + (f" · trained on {run['device']}" if run["device"] else "")
                + (f" at {node}" if (node := node_brief(run.get("node"))) else ""))
    # short labels in four columns: nothing is cut off on a 1024-pixel projector
    get, csv_column, look, remove = st.columns(4, vertical_alignment="center")
    csv_column.download_button("History", lambda: history.csv_text(store, run_id),
                               file_name=f"fmnist-{run_id}-history.csv", mime="text/csv",
                               on_click="ignore", key=f"runs_csv_{run_id}",
                               icon=":material/table_view:",
                               help="Per-batch and per-epoch figures and each class's accuracy "
                                    "as a CSV file.")
    path = store.model_file(run_id)
    if path.is_file():
        get.download_button("Model", path.read_bytes, file_name=f"fmnist-{run_id}.keras",
                            mime="application/octet-stream", on_click="ignore",
                            key=f"runs_download_{run_id}", icon=":material/download:",
                            help="The trained network as a .keras file.")
        look.page_link("pages/inspect.py", label="Inspect", icon=":material/biotech:",
                       query_params={"run": run_id})
    else:
        get.caption("No saved model")
    take_home.buttons(run, st.columns(4, vertical_alignment="center")[:3], "runs")
    if run["owner"] != me:
        remove.caption("A classmate's run")
        return
    active = run["status"] in ACTIVE_STATUSES
    if st.session_state.get("runs_confirm") != run_id:
        if remove.button("Delete", key=f"runs_delete_{run_id}", icon=":material/delete:",
                         disabled=active,
                         help="Still training: stop it on the Train page first." if active else
                         "Removes the run and its model file for everyone."):
            st.session_state.runs_confirm = run_id
            st.rerun()
        return
    ask, yes, no = st.columns([6, 2, 2], vertical_alignment="center")
    ask.warning(f"Delete run {run_id[:6]} and its model for everyone? This cannot be undone.")
    if no.button("Keep it", key=f"runs_keep_{run_id}"):
        st.session_state.runs_confirm = None
        st.rerun()
    if yes.button("Confirm delete", key=f"runs_confirm_{run_id}", type="primary",
                  icon=":material/delete_forever:"):
        st.session_state.runs_confirm = None
        try:
            store.delete_run(run_id, me)
        except PermissionError as err:
            st.error(str(err))
        except RunNotFoundError:
            st.info(f"Run {run_id[:6]} was already deleted.")
        else:
            st.session_state.runs_deleted = run_id
            st.rerun()
