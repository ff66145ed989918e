"""Runs: every stored run in one table; compare curves and filters, download, delete your own."""

from datetime import datetime

import pandas as pd
import streamlit as st

from fmnist_core import export, inspection
from fmnist_core.runs import ACTIVE_STATUSES, RunNotFoundError
from ui import figures, resources, router

router.require_app()

METRICS = {"val_accuracy": "Validation accuracy", "accuracy": "Training accuracy",
           "val_loss": "Validation loss", "loss": "Training loss"}
MAX_FILTER_COLUMNS = 4
HIDDEN_STATUSES = ("cancelled",)
# numbers as text with "–" for none; the frame keeps the numbers, so columns sort by value
TABLE_FORMAT = {"test acc": "{:.1f} %", "best val acc": "{:.1f} %", "params": "{:,.0f}",
                "train s": "{:.0f}", "created": "{:%Y-%m-%d %H:%M}"}


def percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


def table(runs: dict[str, dict], me: str, names: dict[str, str]):
    """The run table as a styled frame: empty cells read "–", not "None"."""
    frame = pd.DataFrame([{
        "id": run_id, "student": resources.student(run["owner"], names),
        "status": run["status"], "test acc": percent(run["test_accuracy"]),
        "best val acc": percent(run["best_val_accuracy"]), "model": run["spec"].summary(),
        "params": run["params"], "train s": run["train_seconds"], "device": run["device"],
        "created": datetime.fromtimestamp(run["created"]),
    } for run_id, run in runs.items()])
    return frame.style.format(na_rep="–").format(TABLE_FORMAT, na_rep="–")


st.title("Runs")
st.caption("Every network trained on this server, yours and your classmates'. Compare their "
           "curves and filters, download a model, or delete your own runs.")
store, me = resources.run_store(), resources.owner()
if deleted := st.session_state.pop("runs_deleted", None):
    st.success(f"Run {deleted[:6]} is deleted.")
runs = resources.require_runs(
    store.list_runs(),
    "No run yet: train a network (the quick preset takes about a minute) and it "
    "appears here.")

hidden = sum(run["status"] in HIDDEN_STATUSES for run in runs.values())
if hidden and not st.toggle(f"Show cancelled runs ({hidden})", key="runs_show_cancelled",
                            help="Runs cancelled before they trained, by you or a classmate."):
    runs = {run_id: run for run_id, run in runs.items() if run["status"] not in HIDDEN_STATUSES}
if not runs:
    st.caption("Every run so far was cancelled: the switch above shows them.")
    st.stop()
names = store.owner_names()
# the styler's "–" reaches AppTest and exports; the browser's grid draws its own placeholder
# a fixed width for the network's line: best's runs a whole screen wide and pushed the
# figures beside it out of sight
st.dataframe(table(runs, me, names), hide_index=True, key="runs_table", placeholder="–",
             column_config={"model": st.column_config.TextColumn(
                 width="large", help="The network's layers; pick the run under Download, "
                                     "inspect, delete to read its whole line.")})
st.caption("Best val acc is the best accuracy on the held-out validation images during "
           "training; test acc is measured once at the end on 10,000 (or fewer) test images.")

if "runs_selected" not in st.session_state:
    st.session_state.runs_selected = [i for i in [resources.default_run_id()] if i]
if any(i not in runs for i in st.session_state.runs_selected):  # deleted or hidden since
    st.session_state.runs_selected = [i for i in st.session_state.runs_selected if i in runs]
# short chips (id · accuracy · student): the networks are named in the rows below
labels = {run_id: resources.run_label(run, names, short=True) for run_id, run in runs.items()}
chosen = st.multiselect("Compare runs", list(runs), key="runs_selected", format_func=labels.get,
                        placeholder="Pick one or more runs")
if not chosen:
    st.caption("Pick one or more runs above to overlay their curves and compare their filters.")
    st.stop()

st.session_state.setdefault("runs_metric", "val_accuracy")
# "required" still lets one rerun through with no choice when the browser sends a quick
# series of changes (seen in Chromium while picking several runs)
metric = st.segmented_control("Curve", list(METRICS), format_func=METRICS.get, required=True,
                              key="runs_metric") or "val_accuracy"
curves = {f"{i[:6]} · {runs[i]['spec'].summary()}": store.epochs(i) for i in chosen}
if any(curves.values()):
    st.plotly_chart(figures.overlay(curves, metric), width="stretch", key="runs_overlay")
else:  # not an empty chart: what there will be, and when
    st.info("No epoch of these runs has finished yet: their curves appear here after the "
            "first epoch.")
st.caption("Validation images are held out from training. When training accuracy keeps "
           "climbing while validation stalls or drops, the network is memorising its "
           "training pictures instead of learning clothes (overfitting).")

if st.toggle("Compare each class", key="runs_classes",
             help="Which classes did a change help? Each class's validation accuracy at "
                  "each run's last epoch."):
    per_run = {}
    for run_id in chosen:
        measured = [r for r in store.epochs(run_id) if r.get("class_accuracy")]
        if measured:
            per_run[f"{run_id[:6]} · {runs[run_id]['spec'].summary()}"] = \
                measured[-1]["class_accuracy"]
    if per_run:
        classes = resources.dataset(runs[chosen[0]]["spec"].dataset).class_names
        st.plotly_chart(figures.class_comparison(per_run, classes), width="stretch",
                        key="runs_class_comparison")
    else:
        st.caption("These runs did not measure each class (they were trained before the "
                   "studio kept per-class accuracy, or without validation images).")

if st.toggle("Compare their first-layer filters", key="runs_filters"):
    kernels, missing = {}, []
    for run_id in chosen[:MAX_FILTER_COLUMNS]:
        try:
            model = resources.model(run_id) if store.model_file(run_id).is_file() else None
        except (RunNotFoundError, OSError, ValueError):
            model = None
        convs = inspection.conv_layers(model) if model is not None else []
        if not convs:
            missing.append(run_id[:6] + (" (the dense baseline has no convolution)"
                                         if model is not None else " (no saved model)"))
            continue
        kernel = inspection.filters(model)[:, :, 0, :]
        size = f"{kernel.shape[0]}×{kernel.shape[1]}"
        kernels[f"{run_id[:6]} · {kernel.shape[-1]} of {size}"] = kernel
    if kernels:
        st.plotly_chart(figures.filter_comparison(kernels), width="stretch",
                        key="runs_filters_chart")
    st.caption("Each square is one learned kernel, all runs on one colour scale: red weights "
               "add the pixel under them, blue ones subtract it, and the same colour is the "
               "same weight in every run. Compare how filter count, kernel size and training "
               "time change them."
               + (f" No filters for {', '.join(missing)}." if missing else "")
               + (f" Only the first {MAX_FILTER_COLUMNS} picks are shown."
                  if len(chosen) > MAX_FILTER_COLUMNS else ""))

st.subheader("Download, inspect, delete")
for run_id in chosen:
    run = runs[run_id]
    st.markdown(f"**{run_id[:6]}** · {run['spec'].summary()} · {run['status']} · "
                f"{resources.student(run['owner'], names)}")
    # short labels in four columns: nothing is cut off on a 1024-pixel projector
    get, history, look, remove = st.columns(4, vertical_alignment="center")
    history.download_button("History", lambda run_id=run_id: export.csv_text(store, run_id),
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
    if run["owner"] != me:
        remove.caption("A classmate's run")
        continue
    active = run["status"] in ACTIVE_STATUSES
    if st.session_state.get("runs_confirm") != run_id:
        if remove.button("Delete", key=f"runs_delete_{run_id}", icon=":material/delete:",
                         disabled=active,
                         help="Still training: stop it on the Train page first." if active else
                         "Removes the run and its model file for everyone."):
            st.session_state.runs_confirm = run_id
            st.rerun()
        continue
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
