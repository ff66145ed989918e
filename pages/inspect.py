"""Inspect: feature maps, learned filters, the confusion matrix and what the network looks at."""

import numpy as np
import streamlit as st

from fmnist_core import inspection
from fmnist_core.runs import RunNotFoundError, validate_run_id
from ui import figures, resources, router

router.require_app()

VIEWS = ("Feature maps", "Filters", "Confusion matrix", "Per-class accuracy", "What it looks at")
TEST, DRAWING = "Test set", "My last drawing"
GALLERY = 10
NO_CONV = ("This run is the dense baseline: it has no convolution layers, so it has no {} to "
           "show. The confusion matrix, per-class accuracy and saliency views still work.")


def open_sample(label: int, position: int) -> None:
    st.session_state.update(inspect_source=TEST, inspect_class=label, inspect_pick=position,
                            inspect_view="Feature maps")


def pick_cell(names: tuple[str, ...]) -> None:
    """A clicked confusion-matrix cell sets the two class selectboxes under the chart."""
    cell = (st.session_state["inspect_confusion"].selection.points or [{}])[0]
    if str(cell.get("y")) in names and str(cell.get("x")) in names:
        st.session_state.update(inspect_true=names.index(str(cell["y"])),
                                inspect_pred=names.index(str(cell["x"])))


st.title("Inspect")
st.caption("Look inside a trained network: what each layer responds to, what its filters "
           "learned, which pictures it gets wrong and where it looks.")
runs = resources.require_runs(
    resources.finished_runs(),
    "No finished run yet: train one (the quick preset takes about a minute), then "
    "come back to look inside it.")

asked = st.query_params.get("run")
if asked and asked != st.session_state.get("inspect_linked"):  # a new link, e.g. from Train
    if asked in runs:
        st.session_state.inspect_run = asked
    else:
        try:
            why = ("has no saved model" if resources.run_or_none(validate_run_id(asked))
                   else "does not exist (it may have been deleted)")
        except ValueError:
            why = "is not a run id"
        st.info(f"The run “{asked[:24]}” in the link {why}, so another run is shown.")
if st.session_state.get("inspect_run") not in runs:
    st.session_state.inspect_run = resources.default_run_id()
for key in ("inspect_source", "inspect_class", "inspect_pick"):  # kept while hidden
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]
names = resources.run_store().owner_names()
labels = {run_id: resources.run_label(run, names) for run_id, run in runs.items()}
run_id = st.selectbox("Run", list(runs), format_func=labels.get, key="inspect_run",
                      help="Any finished run: yours or a classmate's.")
st.query_params["run"] = st.session_state.inspect_linked = run_id  # a link to share
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
view = st.segmented_control("View", VIEWS, required=True, key="inspect_view")

if view in ("Feature maps", "What it looks at"):
    drawing = st.session_state.get("last_drawing")
    sources = [TEST] + ([DRAWING] if np.shape(drawing) == (28, 28) else [])
    if st.session_state.get("inspect_source") not in sources:
        st.session_state.inspect_source = TEST
    pick_source, pick_class, pick_index = st.columns(3)
    label = None
    if pick_source.segmented_control("Sample", sources, required=True,
                                     key="inspect_source") == DRAWING:
        image, what = np.asarray(drawing, dtype=np.uint8), "your last drawing"
    else:
        label = pick_class.selectbox("Class", range(len(names)), format_func=names.__getitem__,
                                     key="inspect_class")
        members = np.flatnonzero(y_test == label)
        if not members.size:
            st.caption(f"The evaluated test images hold no {names[label]}; pick another class.")
            st.stop()
        st.session_state.inspect_pick = min(st.session_state.get("inspect_pick", 0),
                                            members.size - 1)
        position = pick_index.number_input(f"Example (0–{members.size - 1})", 0,
                                           members.size - 1, key="inspect_pick")
        image, what = x_test[members[position]], f"test image #{members[position]}"
    maps, probs = resources.extractor(run_id)(image)
    top = int(probs.argmax())
    truth = f"; it really is a **{names[label]}**" if label is not None else ""
    st.markdown(f"For {what} the network says **{names[top]}** ({probs[top]:.0%}){truth}.")

if view == "Feature maps":
    left, right = st.columns([1, 2])
    left.plotly_chart(figures.image(image, "Input · 28×28×1", height=300), width="stretch")
    right.plotly_chart(figures.probabilities(probs, names, top_k=5), width="stretch")
    if not convs:
        st.caption(NO_CONV.format("feature maps"))
    before = (28, 28, 1)
    for fm in maps:
        title = f"{fm.name} · {'×'.join(map(str, fm.shape))}"
        st.caption(inspection.layer_note(fm, before, spec))
        st.plotly_chart(figures.mosaic(fm.maps, title), width="stretch", key=f"inspect_{title}")
        before = fm.shape
elif view == "Filters" and not convs:
    st.caption(NO_CONV.format("filters"))
elif view == "Filters":
    kernel = inspection.filters(model)
    k, n = kernel.shape[0], kernel.shape[-1]
    st.plotly_chart(figures.mosaic(kernel[:, :, 0, :], f"{convs[0]} · {n} filters of {k}×{k}",
                                   symmetric=True), width="stretch", key="inspect_filters")
    st.caption(f"Each square is one learned {k}×{k} kernel, like the hand-made edge kernel on "
               "the Data page: red weights add the pixel under them, blue ones subtract it. "
               "Many become edge and stripe detectors.")
    if len(convs) > 1 and st.toggle("Show a deeper layer's filters", key="inspect_deeper"):
        pick_layer, pick_filter = st.columns(2)
        layer = pick_layer.selectbox("Layer", convs[1:], key="inspect_deep_layer")
        kernel = inspection.filters(model, layer)
        st.session_state.inspect_deep_filter = min(
            st.session_state.get("inspect_deep_filter", 1), kernel.shape[-1])
        out = pick_filter.number_input(f"Filter (1–{kernel.shape[-1]})", 1, kernel.shape[-1],
                                       key="inspect_deep_filter")
        st.plotly_chart(figures.mosaic(kernel[:, :, :, out - 1], f"{layer} · filter {out} · one "
                                       f"{k}×{k} kernel per input map ({kernel.shape[2]})",
                                       symmetric=True), width="stretch", key="inspect_deep")
        st.caption("A deeper filter holds one kernel per feature map of the layer before and "
                   "adds up all their answers, so it can combine edges into parts: a collar, "
                   "a heel, a strap.")
elif view in ("Confusion matrix", "Per-class accuracy"):
    probs = resources.test_probabilities(run_id, data.name, len(y_test))
    matrix = inspection.confusion_matrix(y_test, probs.argmax(axis=1), len(names))
    if view == "Per-class accuracy":
        acc = inspection.per_class_accuracy(matrix)
        st.plotly_chart(figures.bars(list(names), acc.tolist(), percent=True, title="Right "
                                     f"answers per class · {len(y_test):,} test images"),
                        width="stretch", key="inspect_per_class")
        worst = int(np.nanargmin(acc))
        st.caption("Each bar is the share of one class's test images the network got right. "
                   f"Hardest here: {names[worst]} ({acc[worst]:.0%}); the confusion matrix "
                   "shows what it is mistaken for.")
    else:
        st.caption("Rows are the true class, columns the network's answer. The right answers "
                   "(the diagonal) are left blank so the mistakes stand out: the redder, the "
                   "more often. Click a cell, or pick the two classes below, to see them.")
        st.plotly_chart(figures.confusion_clickable(matrix, names), width="stretch",
                        key="inspect_confusion", on_select=lambda: pick_cell(names),
                        selection_mode="points")
        if "inspect_true" not in st.session_state:
            true, pred = inspection.most_common_mistake(matrix)
            st.session_state.update(inspect_true=true, inspect_pred=pred)
        pick_true, pick_pred = st.columns(2)
        true = pick_true.selectbox("True class", range(len(names)),
                                   format_func=names.__getitem__, key="inspect_true")
        pred = pick_pred.selectbox("Predicted as", range(len(names)),
                                   format_func=names.__getitem__, key="inspect_pred")
        idx, confidence = inspection.cell_examples(y_test, probs, true, pred)
        st.caption(f"{idx.size} {names[true]} image(s) "
                   + ("right" if true == pred else f"called {names[pred]}")
                   + f", most confident first{' (the first 10)' if idx.size > GALLERY else ''}. "
                   "Open one to see its feature maps.")
        columns = st.columns(5)
        for slot, (i, conf) in enumerate(zip(idx[:GALLERY], confidence)):
            with columns[slot % 5]:
                st.plotly_chart(figures.image(x_test[i], f"#{i} · {conf:.0%}", height=170),
                                width="stretch", config={"displayModeBar": False},
                                key=f"inspect_cell_{slot}")
                st.button("Feature maps", key=f"inspect_open_{i}", on_click=open_sample,
                          args=(int(y_test[i]), int((y_test[:i] == y_test[i]).sum())))
else:
    explain = st.selectbox("Explain the class", [None, *range(len(names))], key="inspect_explain",
                           format_func=lambda c: f"Its answer, {names[top]}" if c is None
                           else names[c])
    target = top if explain is None else explain
    heat = inspection.occlusion_saliency(model, image, target)
    left, right = st.columns([2, 1])
    left.plotly_chart(figures.saliency(image, heat, f"What matters for {names[target]} "
                                       f"({probs[target]:.0%})"), width="stretch",
                      key="inspect_saliency")
    right.caption("A black 4×4 square hides one part of the picture at a time, and we measure "
                  "how much the probability of the class drops. Red: hiding that part hurts, "
                  "so the network looks there. Blue: hiding it helps.")
