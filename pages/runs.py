"""Runs: every stored run in one table; compare curves and filters, download, delete your own."""

from datetime import datetime

import streamlit as st

from fmnist_core import inspection
from fmnist_core.runs import ACTIVE_STATUSES, RunNotFoundError
from ui import figures, resources, router

router.require_app()

METRICS = {"val_accuracy": "Validation accuracy", "accuracy": "Training accuracy",
           "val_loss": "Validation loss", "loss": "Training loss"}
MAX_FILTER_COLUMNS = 4
PERCENT = st.column_config.NumberColumn(format="%.1f %%")


def percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


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

st.dataframe([{
    "id": run_id, "yours": "⭐ yours" if run["owner"] == me else "", "status": run["status"],
    "test acc": percent(run["test_accuracy"]),
    "best val acc": percent(run["best_val_accuracy"]),
    "model": run["spec"].summary(), "params": run["params"], "train s": run["train_seconds"],
    "device": run["device"], "created": datetime.fromtimestamp(run["created"]),
} for run_id, run in runs.items()], hide_index=True, key="runs_table", column_config={
    "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    "params": st.column_config.NumberColumn(format="localized"),
    "best val acc": PERCENT, "test acc": PERCENT,
    "train s": st.column_config.NumberColumn(format="%.0f"),
})
st.caption("Best val acc is the best accuracy on the held-out validation images during "
           "training; test acc is measured once at the end on 10,000 (or fewer) test images.")

if "runs_selected" not in st.session_state:
    st.session_state.runs_selected = [i for i in [resources.default_run_id()] if i]
st.session_state.runs_selected = [i for i in st.session_state.runs_selected if i in runs]
labels = {run_id: resources.run_label(run) for run_id, run in runs.items()}
chosen = st.multiselect("Compare runs", list(runs), key="runs_selected", format_func=labels.get,
                        placeholder="Pick one or more runs")
if not chosen:
    st.caption("Pick one or more runs above to overlay their curves and compare their filters.")
    st.stop()

st.session_state.setdefault("runs_metric", "val_accuracy")
metric = st.segmented_control("Curve", list(METRICS), format_func=METRICS.get, required=True,
                              key="runs_metric")
curves = {f"{i[:6]} · {runs[i]['spec'].summary()}": store.epochs(i) for i in chosen}
overlay = figures.overlay(curves, metric)
if "accuracy" in metric:
    overlay.update_yaxes(range=[0, 1.02])  # a single epoch would otherwise span 0–150 %
st.plotly_chart(overlay, width="stretch", key="runs_overlay")
st.caption("Validation images are held out from training. When training accuracy keeps "
           "climbing while validation stalls or drops, the network is memorising its "
           "training pictures instead of learning clothes (overfitting).")

if st.toggle("Compare their first-layer filters", key="runs_filters"):
    shown = chosen[:MAX_FILTER_COLUMNS]
    for column, run_id in zip(st.columns(max(2, len(shown))), shown):
        column.markdown(f"**{run_id[:6]}** · {runs[run_id]['spec'].summary()}")
        if not store.model_file(run_id).is_file():
            column.caption("No saved model: this run did not finish.")
            continue
        try:
            model = resources.model(run_id)
        except (RunNotFoundError, OSError, ValueError):
            column.caption("Its model file could not be opened.")
            continue
        convs = inspection.conv_layers(model)
        if not convs:
            column.caption("The dense baseline has no convolution, so no filters.")
            continue
        kernel = inspection.filters(model)
        column.plotly_chart(figures.mosaic(kernel[:, :, 0, :], f"{convs[0]} · "
                                           f"{kernel.shape[-1]} filters", symmetric=True,
                                           height=360), width="stretch",
                            key=f"runs_filters_{run_id}")
    st.caption("Each square is one learned kernel: red weights add the pixel under them, blue "
               "ones subtract it. Compare how filter count, kernel size and training time "
               "change them."
               + (f" Only the first {MAX_FILTER_COLUMNS} picks are shown."
                  if len(chosen) > MAX_FILTER_COLUMNS else ""))

st.subheader("Download, inspect, delete")
for run_id in chosen:
    run = runs[run_id]
    name, get, look, remove = st.columns([4, 2, 2, 2], vertical_alignment="center")
    name.markdown(f"**{run_id[:6]}** · {run['spec'].summary()} · {run['status']}")
    path = store.model_file(run_id)
    if path.is_file():
        get.download_button("Download .keras", path.read_bytes, file_name=f"fmnist-{run_id}.keras",
                            mime="application/octet-stream", on_click="ignore",
                            key=f"runs_download_{run_id}", icon=":material/download:")
        look.page_link("pages/inspect.py", label="Inspect", icon=":material/biotech:",
                       query_params={"run": run_id})
    else:
        get.caption("No saved model")
    if run["owner"] != me:
        remove.caption("A classmate's run")
        continue
    active = run["status"] in ACTIVE_STATUSES
    if remove.button("Delete", key=f"runs_delete_{run_id}", icon=":material/delete:", disabled=active,
                     help="Still training: stop it on the Train page first." if active else
                     "Removes the run and its model file for everyone; this cannot be undone."):
        try:
            store.delete_run(run_id, me)
        except PermissionError as err:
            st.error(str(err))
        except RunNotFoundError:
            st.info(f"Run {run_id[:6]} was already deleted.")
        else:
            st.session_state.runs_deleted = run_id
            st.rerun()
