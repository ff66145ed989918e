"""Switch a filter off, on the Lessons page and on Inspect: the knocked-out network's test
accuracy, the sample's answer and feature maps without the filters, and the filters ranked
by the accuracy lost without each."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.explain import inspection, knockout
from fmnist_core.explain.kernels import KERNELS
from fmnist_core.lessons.answers import SetupResult
from fmnist_core.lessons.catalog import KNOCKOUT_TEST_IMAGES, Lesson
from fmnist_core.words import percent, plural
from ui import charts, resources
from ui.figures import classes, images

EDGE = "Edge detection (8 / −1)"
RANKED_SHOWN = 10  # bars in the ranking: the few that matter, readable on a projector


@st.cache_data(max_entries=16, show_spinner="Switching each filter off in turn…")
def ranking(run_id: str, layer: str, limit: int) -> tuple[float, list[tuple[int, float, float]]]:
    """(the whole network's accuracy, (filter, accuracy without it, points lost) most
    important first) on the first `limit` test images."""
    model = resources.model(run_id)
    x, y = _test(run_id, limit)
    whole, ranked = knockout.ranking(model, layer, x, y)
    return whole, [(k.filter, k.accuracy, k.lost_points) for k in ranked]


@st.cache_resource(max_entries=8)
def knocked(run_id: str, layer: str, off: tuple[int, ...]):
    return knockout.knocked_out(resources.model(run_id), layer, off)


def _test(run_id: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    run = resources.run_store().get_run(run_id)
    x, y = resources.test_slice(resources.dataset(run["spec"].dataset))
    return x[:limit], y[:limit]


def _limit(run_id: str) -> int:
    run = resources.run_store().get_run(run_id)
    x, _ = resources.test_slice(resources.dataset(run["spec"].dataset))
    return min(KNOCKOUT_TEST_IMAGES, len(x))


def lost_result(lesson: Lesson, run: dict) -> SetupResult:
    """Lesson 2's outcome for one run: the points lost without the first layer's most
    important filter."""
    layer = inspection.conv_layers(resources.model(run["id"]))[0]
    _, ranked = ranking(run["id"], layer, _limit(run["id"]))
    setup = lesson.setups[0]
    return SetupResult(setup.key, setup.label, 1, ranked[0][2], run["test_accuracy"],
                       run["train_seconds"])


def edge_next_to_learned(run_id: str) -> None:
    """The hand-made edge kernel beside the run's learned first-layer filters."""
    left, right = st.columns([1, 2])
    charts.show(images.number_grid(np.asarray(KERNELS[EDGE]), "Hand-made edge kernel"),
                where=left, key="lesson_edge",
                alt="The 3 by 3 edge kernel: 8 in the centre, −1 in the eight neighbours.")
    kernel = inspection.filters(resources.model(run_id))
    charts.show(images.mosaic(kernel[:, :, 0, :], f"Learned · {kernel.shape[-1]} filters",
                              symmetric=True, unit="filter", numbered=True),
                where=right, key="lesson_learned")
    st.caption("Left, the kernel written by hand; right, the filters your network learned "
               "from the pictures (red adds the pixel under it, blue subtracts it). Some "
               "learned ones are edge or stripe detectors like it; none was written by hand.")


def panel(run_id: str, key: str) -> None:
    """Pick filters of a conv layer to switch off; their effect on the test accuracy and on
    a sample, and the most important filters."""
    model = resources.model(run_id)
    convs = inspection.conv_layers(model)
    if not convs:
        st.caption("This network has no convolution layer, so it has no filter to switch off.")
        return
    st.subheader("Switch filters off", anchor=False)
    pick, which = st.columns([1, 3])
    layer = pick.selectbox("Layer", convs, key=f"{key}_ko_layer")
    count = int(model.get_layer(layer).filters)
    off = which.multiselect("Filters to switch off (numbered as in the filters' picture)",
                            list(range(1, count + 1)), key=f"{key}_ko_off_{layer}")
    limit = _limit(run_id)
    whole, ranked = ranking(run_id, layer, limit)
    off0 = tuple(sorted(i - 1 for i in off))
    if off0:
        x, y = _test(run_id, limit)
        without = knockout.accuracy(knocked(run_id, layer, off0), x, y)
        st.markdown(f"On the first {plural(limit, 'test image')}: {percent(whole)} with every "
                    f"filter, **{percent(without)}** with {plural(len(off0), 'filter')} of "
                    f"{layer} switched off.")
        _sample(run_id, layer, off0, key)
    else:
        st.caption(f"Choose filters to switch off: their output becomes zero, and the test "
                   f"accuracy (on the first {plural(limit, 'test image')}) and a sample's "
                   "answer show what the network loses without them.")
    shown = ranked[:RANKED_SHOWN]
    fig = classes.bars([f"filter {f + 1}" for f, _, _ in shown],
                       [round(lost, 1) for _, _, lost in shown],
                       title=f"Most important filters of {layer}: points of test accuracy lost")
    charts.show(fig, key=f"{key}_ko_rank",
                alt=f"Switched off alone, filter {shown[0][0] + 1} costs the most: "
                    f"{shown[0][2]:.1f} points of test accuracy.")


def _sample(run_id: str, layer: str, off: tuple[int, ...], key: str) -> None:
    """The first test image's answer with and without the filters, and the layer's maps."""
    from fmnist_core.explain.inspection import FeatureExtractor

    run = resources.run_store().get_run(run_id)
    data = resources.dataset(run["spec"].dataset)
    image, label, names = data.x_test[0], int(data.y_test[0]), data.class_names
    _, before = resources.extractor(run_id)(image)
    maps, after = FeatureExtractor(knocked(run_id, layer, off))(image)
    st.markdown(f"The first test picture (a {names[label]}): with every filter the network "
                f"says **{names[int(before.argmax())]}** ({percent(before.max())}); without "
                f"them **{names[int(after.argmax())]}** ({percent(after.max())}).")
    for fm in maps:
        if fm.name == layer:
            charts.show(images.mosaic(fm.maps, f"{layer} without the filters"),
                        key=f"{key}_ko_maps")
