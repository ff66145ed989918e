"""Runs: every stored run in one table; compare curves and filters, download, delete your own."""

import streamlit as st

from fmnist_core.explain import inspection
from fmnist_core.store.records import RunNotFoundError
from ui import charts, identity, resources, router, run_choice, runs_views
from ui.figures import comparison

router.require_app()

MAX_FILTER_COLUMNS = 4
HIDDEN_STATUSES = ("cancelled",)

st.title("Runs", anchor=False)
# every server of a class shares one run store: the list is the class's, wherever each trained
st.caption("Every network trained in this class, yours and your classmates'. Compare their "
           "curves and filters, download a model or its code, or delete your own runs.")
store, me = resources.run_store(), identity.owner()
if deleted := st.session_state.pop("runs_deleted", None):
    st.success(f"Run {deleted[:6]} is deleted.")
runs = run_choice.require_runs(
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
runs_views.show_table(runs, names)

default_id, why = run_choice.default_run()
if "runs_selected" not in st.session_state:
    st.session_state.runs_selected = [i for i in [default_id] if i in runs]
if any(i not in runs for i in st.session_state.runs_selected):  # deleted or hidden since
    st.session_state.runs_selected = [i for i in st.session_state.runs_selected if i in runs]
# short chips (id · accuracy · student): the networks are named in the rows below
labels = {run_id: run_choice.run_label(run, names, short=True) for run_id, run in runs.items()}
chosen = st.multiselect("Compare runs", list(runs), key="runs_selected", format_func=labels.get,
                        placeholder="Pick one or more runs")
if chosen == [default_id]:
    st.caption(f"Showing {why}; add others to compare them.")

if chosen:
    st.session_state.setdefault("runs_metric", "val_accuracy")
    # "required" still lets one rerun through with no choice when the browser sends a quick
    # series of changes (seen in Chromium while picking several runs)
    metric = st.segmented_control("Curve", list(runs_views.METRICS),
                                  format_func=runs_views.METRICS.get, required=True,
                                  key="runs_metric") or "val_accuracy"
    runs_views.curves(runs, chosen, metric)
    st.caption("Validation images are held out from training. When training accuracy keeps "
               "climbing while validation stalls or drops, the network is memorising its "
               "training pictures instead of learning (overfitting).")
else:
    st.caption("Pick one or more runs above to overlay their curves and compare their "
               "filters.")

if chosen and st.toggle("Compare each class", key="runs_classes",
                       help="Which classes did a change help? Each class's validation "
                            "accuracy at each run's last epoch."):
    per_run = {}
    for run_id in chosen:
        measured = [r for r in store.epochs(run_id) if r.get("class_accuracy")]
        if measured:
            per_run[f"{run_id[:6]} · {runs[run_id]['spec'].brief()}"] = \
                measured[-1]["class_accuracy"]
    if per_run:
        classes = resources.dataset(runs[chosen[0]]["spec"].dataset).class_names
        charts.show(comparison.class_comparison(per_run, classes), key="runs_class_comparison")
    else:
        st.caption("These runs did not measure each class (they were trained before the "
                   "studio kept per-class accuracy, or without validation images).")

if chosen and st.toggle("Compare their first-layer filters", key="runs_filters"):
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
        charts.show(comparison.filter_comparison(kernels), key="runs_filters_chart")
    st.caption("Each square is one learned kernel, all runs on one colour scale: red weights "
               "add the pixel under them, blue ones subtract it, and the same colour is the "
               "same weight in every run. Compare how filter count, kernel size and training "
               "time change them."
               + (f" No filters for {', '.join(missing)}." if missing else "")
               + (f" Only the first {MAX_FILTER_COLUMNS} picks are shown."
                  if len(chosen) > MAX_FILTER_COLUMNS else ""))

st.subheader("Download, inspect, delete")
mine = [run_id for run_id, run in runs.items() if run["owner"] == me]
for run_id in [*chosen, *(i for i in mine if i not in chosen)]:
    runs_views.actions(runs[run_id], me, names)
if not mine and not chosen:
    st.caption("Pick runs above to download or inspect them; yours appear here by themselves.")
