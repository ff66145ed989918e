"""Inspect's views of a run at one epoch: the sample, feature maps, filters (and a filter's
life across the epochs), the confusion matrix with its gallery, and per-class accuracy."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.explain import inspection
from fmnist_core.explain.replay import EpochReplay
from fmnist_core.words import article, percent, plural
from ui import charts, resources
from ui.figures import classes, images, learning

TEST, DRAWING = "Test set", "My last drawing"
GALLERY = 10
NO_CONV = ("This run is the dense baseline: it has no convolution layers, so it has no {} to "
           "show. The confusion matrix, per-class accuracy and saliency views still work.")


def trained_on(run: dict) -> str:
    """"Run 3f9a2c trained on 12,000 training images, its validation images among them.";
    a spec without a number trained on every image the server allowed."""
    n = run["spec"].train_images
    images = ("all the training images the server allowed" if n is None
              else plural(n, "training image"))
    return f"Run {run['id'][:6]} trained on {images}, its validation images among them."


def when(epoch: int | None) -> str:
    """Words for the weights shown: " before training", " after epoch 3", or "" for the
    saved model."""
    if epoch is None:
        return ""
    return " before training" if epoch == 0 else f" after epoch {epoch}"


def epoch_slider(replay: EpochReplay | None, run: dict) -> int | None:
    """The epoch to look at (None: the saved model; 0: the weights before training); no
    slider for a run without stored epochs (trained before the studio kept them) or with
    only one to show."""
    if replay is None:
        return None
    options = list(replay.epochs)
    stopped = run["status"] == "stopped" and run["epochs_run"] not in options[-1:]
    if stopped:
        options.append("when stopped")
    if len(options) < 2:
        return None
    key = f"inspect_epoch_{run['id']}"
    st.session_state.setdefault(key, options[-1])
    if st.session_state[key] not in options:
        st.session_state[key] = options[-1]
    choice = st.select_slider(
        "Epoch", options, key=key,
        format_func=lambda e: e if isinstance(e, str) else when(e).strip(),
        help="Replay the learning: the feature maps, filters and confusion matrix as they "
             "were " + ("before training (random weights) and " if 0 in options else "")
             + "after each epoch.")
    return None if isinstance(choice, str) or (choice == options[-1] and not stopped) else choice


def open_sample(label: int, position: int) -> None:
    st.session_state.update(inspect_source=TEST, inspect_class=label, inspect_pick=position,
                            inspect_view="Feature maps")


def pick_sample(names: tuple[str, ...], x_test: np.ndarray, y_test: np.ndarray
                ) -> tuple[np.ndarray, int | None, str]:
    """The test image (by class and example) or the student's last drawing:
    ((28, 28) uint8, its true label or None, words for it)."""
    drawing = st.session_state.get("last_drawing")
    sources = [TEST] + ([DRAWING] if np.shape(drawing) == (28, 28) else [])
    if st.session_state.get("inspect_source") not in sources:
        st.session_state.inspect_source = TEST
    pick_source, pick_class, pick_index = st.columns(3)
    if pick_source.segmented_control("Sample", sources, required=True,
                                     key="inspect_source") == DRAWING:
        return np.asarray(drawing, dtype=np.uint8), None, "your last drawing"
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
    # the example's place among its class, and the image's among all the test images
    return (x_test[members[position]], int(label),
            f"{names[label]} example {position} (test image #{members[position]})")


def say_answer(probs: np.ndarray, names: tuple[str, ...], label: int | None, what: str,
               epoch: int | None) -> None:
    top = int(probs.argmax())
    truth = (f"; it really is {article(names[label])} **{names[label]}**"
             if label is not None else "")
    st.markdown(f"For {what} the network{when(epoch)} says **{names[top]}** "
                f"({percent(probs[top])}){truth}.")


def feature_maps(maps, probs, image, names, spec, has_convs: bool) -> None:
    left, right = st.columns([1, 2])
    charts.show(images.image(image, "Input · 28×28×1", height=300), where=left,
                alt="The chosen picture, 28 by 28 pixels, light on dark.")
    bars = classes.probabilities(probs, names, top_k=5)
    charts.show(bars, where=right, alt=charts.describe(bars, "Its five likeliest classes"))
    if not has_convs:
        st.caption(NO_CONV.format("feature maps"))
    before = (28, 28, 1)
    for fm in maps:
        title = f"{fm.name} · {'×'.join(map(str, fm.shape))}"
        st.caption(inspection.layer_note(fm, before, spec))
        charts.show(images.mosaic(fm.maps, title), key=f"inspect_{title}")
        before = fm.shape


def answers_by_epoch(replay: EpochReplay, image: np.ndarray, names, label: int | None) -> None:
    """The network's answer for this sample at every stored epoch, as a small chart."""
    probs = replay.class_probabilities(image)
    charts.show(learning.epoch_answers(replay.epochs, probs, names, label),
                key="inspect_epoch_answers")
    start = "before training (random weights) and " if 0 in replay.epochs else ""
    st.caption(f"How sure the network was about this picture {start}after each epoch: watch "
               "the right class win, or two look-alike classes trade places.")


def filters(kernel: np.ndarray, layer: str, epoch: int | None) -> None:
    k, n = kernel.shape[0], kernel.shape[-1]
    title = f"{layer} · {n} filters of {k}×{k}" + (f" ·{when(epoch)}" if epoch is not None
                                                    else "")
    charts.show(images.mosaic(kernel[:, :, 0, :], title, symmetric=True, unit="filter",
                              numbered=True), key="inspect_filters")
    if epoch == 0:
        st.caption(f"Each square is one {k}×{k} kernel as the network started, before its "
                   "first batch: random weights. Red weights add the pixel under them, blue "
                   "ones subtract it. The number above a square is the filter's number.")
        return
    st.caption(f"Each square is one learned {k}×{k} kernel, like the hand-made edge kernel on "
               "the Data page: red weights add the pixel under them, blue ones subtract it. "
               "Many become edge and stripe detectors. The number above a square is the "
               "filter's number.")


def filter_life(replay: EpochReplay, layer: str, count: int) -> None:
    """One filter, numbered as in the mosaic, at every stored epoch side by side: from its
    random start (epoch 0, where the run kept it) to what it learned."""
    st.session_state.inspect_life_filter = min(st.session_state.get("inspect_life_filter", 1),
                                               count)
    index = st.number_input(f"A filter's life: filter (1–{count})", 1, count,
                            key="inspect_life_filter",
                            help="The number above each square in the filters.")
    life = replay.filter_life(layer, index - 1)
    charts.show(learning.filter_life(life, replay.epochs, f"{layer} · filter {index} · "
                                     "its life"), key="inspect_filter_life")
    if 0 in replay.epochs:
        st.caption(f"Filter {index} before training and after each stored epoch, on one "
                   "colour scale: it starts as random weights, and the network's learning "
                   "changes it from there.")
    else:
        st.caption(f"Filter {index} after each stored epoch, on one colour scale. This run was "
                   "trained before the studio kept its starting weights, so its life begins "
                   "after epoch 1.")


def before_training(matrix: np.ndarray) -> None:
    """What the random starting weights get right, against guessing."""
    right = float(np.trace(matrix)) / max(float(matrix.sum()), 1.0)
    st.caption(f"Before training the weights are random: the network gets {right:.0%} of "
               f"these test images right, where guessing gets {1 / len(matrix):.0%}.")


def deeper_filters(model, convs: list[str], k: int) -> None:
    pick_layer, pick_filter = st.columns(2)
    layer = pick_layer.selectbox("Layer", convs[1:], key="inspect_deep_layer")
    kernel = inspection.filters(model, layer)
    st.session_state.inspect_deep_filter = min(
        st.session_state.get("inspect_deep_filter", 1), kernel.shape[-1])
    out = pick_filter.number_input(f"Filter (1–{kernel.shape[-1]})", 1, kernel.shape[-1],
                                   key="inspect_deep_filter")
    charts.show(images.mosaic(kernel[:, :, :, out - 1], f"{layer} · filter {out} · one "
                              f"{k}×{k} kernel per input map ({kernel.shape[2]})",
                              symmetric=True, unit="input map"), key="inspect_deep")
    st.caption("A deeper filter holds one kernel per feature map of the layer before and "
               "adds up all their answers, so it can combine edges into parts: a collar, "
               "a heel, a strap.")


def per_class(matrix: np.ndarray, names, count: int) -> None:
    acc = inspection.per_class_accuracy(matrix)
    charts.show(classes.bars(list(names), acc.tolist(), percent=True, title="Right "
                             f"answers per class · {count:,} test images"),
                key="inspect_per_class")
    worst = int(np.nanargmin(acc))
    st.caption("Each bar is the share of one class's test images the network got right. "
               f"Hardest here: {names[worst]} ({acc[worst]:.0%}); the confusion matrix "
               "shows what it is mistaken for.")


def confusion_text(matrix: np.ndarray, names: tuple[str, ...], count: int = 3) -> str:
    """The confusion matrix in words for a screen reader: what it is, and its most common
    mistakes with their counts."""
    errors = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(errors, 0)
    order = np.argsort(errors, axis=None)[::-1][:count]
    worst = [f"{names[t]} called {names[p]} {plural(int(errors[t, p]), 'time')}"
             for t, p in zip(*np.unravel_index(order, errors.shape)) if errors[t, p]]
    right = int(np.trace(matrix))
    return (f"Confusion matrix of {plural(int(np.sum(matrix)), 'test image')}, true class by "
            f"row, answer by column; {right:,} answered right. Most common mistakes: "
            + ("; ".join(worst) or "none") + ".")


def _pick_cell(names: tuple[str, ...]) -> None:
    """A clicked confusion-matrix cell sets the two class selectboxes under the chart."""
    cell = (st.session_state["inspect_confusion"].selection.points or [{}])[0]
    if str(cell.get("y")) in names and str(cell.get("x")) in names:
        st.session_state.update(inspect_true=names.index(str(cell["y"])),
                                inspect_pred=names.index(str(cell["x"])))


def confusion(matrix: np.ndarray, probs: np.ndarray, names, x_test, y_test) -> None:
    st.caption("Rows are the true class, columns the network's answer. The right answers "
               "(the diagonal) are left blank so the mistakes stand out: the redder, the "
               "more often. Click a cell, or pick the two classes below, to see them.")
    charts.show(classes.confusion_clickable(matrix, names), key="inspect_confusion",
                on_select=lambda: _pick_cell(names), selection_mode="points",
                alt=confusion_text(matrix, names))
    if "inspect_true" not in st.session_state:
        true, pred = inspection.most_common_mistake(matrix)
        st.session_state.update(inspect_true=true, inspect_pred=pred)
    pick_true, pick_pred = st.columns(2)
    true = pick_true.selectbox("True class", range(len(names)), format_func=names.__getitem__,
                               key="inspect_true")
    pred = pick_pred.selectbox("Predicted as", range(len(names)),
                               format_func=names.__getitem__, key="inspect_pred")
    idx, confidence = inspection.cell_examples(y_test, probs, true, pred)
    st.caption(f"{plural(idx.size, names[true] + ' image')} "
               + ("right" if true == pred else f"called {names[pred]}")
               + f", most confident first{' (the first 10)' if idx.size > GALLERY else ''}. "
               "Open one to see its feature maps.")
    columns = st.columns(5)
    for slot, (i, conf) in enumerate(zip(idx[:GALLERY], confidence)):
        with columns[slot % 5]:
            charts.show(images.image(x_test[i], f"#{i} · {conf:.0%}", height=170),
                        key=f"inspect_cell_{slot}",
                        alt=f"Test image {i}, {names[true]}, called {names[pred]} with "
                            f"{percent(conf)} confidence.")
            st.button("Feature maps", key=f"inspect_open_{i}", on_click=open_sample,
                      args=(int(y_test[i]), int((y_test[:i] == y_test[i]).sum())))


def test_probabilities(run_id: str, dataset: str, count: int, epoch: int | None
                       ) -> np.ndarray:
    """(n, classes) probabilities on the evaluated test images, of the saved model or of
    the weights after `epoch`."""
    if epoch is None:
        return resources.test_probabilities(run_id, dataset, count)
    return resources.epoch_test_probabilities(run_id, epoch, dataset, count)
