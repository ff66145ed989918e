"""Inspect: feature maps, filters and the confusion matrix at any epoch, and what the
network looks at."""

import streamlit as st

from fmnist_core.explain import inspection
from fmnist_core.store.records import RunNotFoundError
from ui import (explain_views, inspect_views, knockout_views, probe_views, resources, router,
                run_choice)

router.require_app()

VIEWS = ("Feature maps", "Filters", "Confusion matrix", "Per-class accuracy", "What it looks at",
         "Invariance", "Switch filters off")
EPOCH_VIEWS = VIEWS[:4]  # the views the epoch slider replays
SAMPLE_VIEWS = ("Feature maps", "What it looks at", "Invariance")

st.title("Inspect", anchor=False)
st.caption("Look inside a trained network: what each layer responds to, what its filters "
           "learned and how they changed epoch by epoch, which pictures it gets wrong and "
           "where it looks.")
runs = run_choice.require_runs(
    run_choice.finished_runs(),
    "No finished run yet: train one (the quick preset takes about a minute), then "
    "come back to look inside it.")

asked = st.query_params.get("run")
if asked and asked != st.session_state.get("inspect_linked"):  # a new link, e.g. from Train
    linked, why = run_choice.linked_run(asked, runs)  # its whole id or the 6 pages show
    if linked is not None:
        st.session_state.inspect_run = linked
    else:
        st.info(f"The run “{asked[:24]}” in the link {why}, so another run is shown.")
if st.session_state.get("inspect_run") not in runs:
    st.session_state.inspect_run = run_choice.default_run()[0]
for key in ("inspect_source", "inspect_class", "inspect_pick"):  # kept while hidden
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]
students = resources.run_store().owner_names()
labels = {run_id: run_choice.run_label(run, students) for run_id, run in runs.items()}
run_id = st.selectbox("Run", list(runs), format_func=labels.get, key="inspect_run",
                      help="Any finished run: yours or a classmate's.")
st.query_params["run"] = st.session_state.inspect_linked = run_id  # a link to share
st.caption(inspect_views.trained_on(runs[run_id]))
spec = runs[run_id]["spec"]
data = resources.dataset(spec.dataset)
names, (x_test, y_test) = data.class_names, resources.test_slice(data)
try:
    model = resources.model(run_id)
except (RunNotFoundError, OSError, ValueError):
    st.error(f"The saved model of run {run_id[:6]} could not be opened; pick another run.")
    st.stop()
convs = inspection.conv_layers(model)
st.session_state.setdefault("inspect_view", VIEWS[0])
view = st.segmented_control("View", VIEWS, required=True, key="inspect_view") or VIEWS[0]
replay = resources.replay(run_id) if view in EPOCH_VIEWS else None
epoch = inspect_views.epoch_slider(replay, runs[run_id])

if view in SAMPLE_VIEWS:
    image, label, what = inspect_views.pick_sample(names, x_test, y_test)
    maps, probs = (resources.extractor(run_id)(image) if epoch is None else
                   replay.features(epoch, image))
    inspect_views.say_answer(probs, names, label, what, epoch)

if view == "Feature maps":
    inspect_views.feature_maps(maps, probs, image, names, spec, bool(convs))
    if replay is not None and len(replay.epochs) > 1:
        inspect_views.answers_by_epoch(replay, image, names, label)
elif view == "Filters" and not convs:
    st.caption(inspect_views.NO_CONV.format("filters"))
elif view == "Filters":
    kernel = inspection.filters(model) if epoch is None else replay.kernel(epoch, convs[0])
    inspect_views.filters(kernel, convs[0], epoch)
    if replay is not None and len(replay.epochs) > 1:
        inspect_views.filter_life(replay, convs[0], kernel.shape[-1])
    if len(convs) > 1 and st.toggle("Show a deeper layer's filters", key="inspect_deeper"):
        inspect_views.deeper_filters(model, convs, kernel.shape[0])
elif view in ("Confusion matrix", "Per-class accuracy"):
    probs = inspect_views.test_probabilities(run_id, data.name, len(y_test), epoch)
    matrix = inspection.confusion_matrix(y_test, probs.argmax(axis=1), len(names))
    if epoch == 0:
        inspect_views.before_training(matrix)
    if view == "Per-class accuracy":
        inspect_views.per_class(matrix, names, len(y_test))
    else:
        inspect_views.confusion(matrix, probs, names, x_test, y_test)
elif view == "Switch filters off":
    knockout_views.panel(run_id, key="inspect")
elif view == "Invariance":
    probe_views.invariance(run_id, image, label, probs, names, runs, labels)
else:
    explain_views.looks_at(run_id, image, probs, names, key="inspect")
