import numpy as np
import pytest

from ui import figures


def test_curves_leave_a_gap_for_a_stopped_epoch_without_validation():
    history = [{"epoch": 1, "loss": 0.6, "accuracy": 0.78, "val_loss": 0.5,
                "val_accuracy": 0.81},
               {"epoch": 2, "loss": 0.4, "accuracy": 0.85}]  # stopped: no validation pass
    fig = figures.curves(history, [(0.5, 0.7, 0.7), (1.5, 0.45, 0.84)], 5)
    by_name = {trace.name: trace for trace in fig.data if trace.name}
    assert list(by_name["validation (epoch end)"].y) == [0.81, None]
    assert list(by_name["train (epoch end)"].y) == [0.78, 0.85]


def axis_labels(axis) -> list[str]:
    """The tick labels an axis shows; the figure must place its ticks itself."""
    assert axis.tickvals is not None and axis.ticktext is not None, "ticks left to plotly"
    assert len(axis.tickvals) == len(axis.ticktext)
    low, high = axis.range
    assert all(low <= v <= high for v in axis.tickvals), (axis.tickvals, axis.range)
    return list(axis.ticktext)


def test_accuracy_ticks_are_distinct_on_a_narrow_range():
    # a network near chance: accuracy between 10 % and 11 %
    history = [{"epoch": e, "loss": 2.3, "accuracy": a, "val_loss": 2.3, "val_accuracy": v}
               for e, a, v in ((1, 0.1012, 0.1049), (2, 0.1003, 0.1095), (3, 0.1021, 0.1))]
    fig = figures.curves(history, [(0.5, 2.3, 0.1031), (1.5, 2.3, 0.1008)], 3)
    labels = axis_labels(fig.layout.yaxis)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    low, high = fig.layout.yaxis.range
    assert low <= 0.1 and high >= 0.1095 and high - low < 0.05


def test_overlay_fits_the_accuracy_axis_and_gives_every_run_its_own_colour():
    runs = {f"run {i}": [{"epoch": e, "val_accuracy": 0.84 + 0.01 * (e + i)} for e in (1, 2, 3)]
            for i in range(4)}  # 85 % to 90 %
    fig = figures.overlay(runs, "val_accuracy")
    low, high = fig.layout.yaxis.range
    assert 0.8 <= low <= 0.85 and 0.9 <= high <= 0.95, (low, high)
    labels = axis_labels(fig.layout.yaxis)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    colours = [trace.line.color for trace in fig.data]
    assert len(set(colours)) == 4 and set(colours) <= set(figures.RUN_COLORS)
    assert len({trace.marker.symbol for trace in fig.data}) == 4


def test_overlay_of_a_loss_keeps_plotly_ticks():
    fig = figures.overlay({"a": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]}, "loss")
    assert fig.layout.yaxis.tickvals is None and fig.layout.yaxis.title.text == "loss"


def test_percent_axis_never_shows_more_than_100_percent_or_less_than_0():
    for values in ([1.0, 0.999], [0.0, 0.001], [0.5], [], [None, float("nan")]):
        axis = figures.percent_axis(values)
        assert axis["range"][0] >= 0 and all(0 <= v <= 1 for v in axis["tickvals"]), values
        assert len(set(axis["ticktext"])) == len(axis["ticktext"]) >= 2, values


def test_filter_comparison_uses_one_symmetric_scale_for_every_run():
    rng = np.random.default_rng(0)
    small = rng.normal(scale=0.1, size=(3, 3, 8)).astype(np.float32)
    large = rng.normal(scale=0.6, size=(5, 5, 16)).astype(np.float32)
    fig = figures.filter_comparison({"a · 8 filters": small, "b · 16 filters": large})
    heatmaps = [trace for trace in fig.data if trace.type == "heatmap"]
    assert len(heatmaps) == 2 and {h.coloraxis for h in heatmaps} == {"coloraxis"}
    bound = float(np.abs(large).max())
    assert fig.layout.coloraxis.cmax == pytest.approx(bound)
    assert fig.layout.coloraxis.cmin == pytest.approx(-bound)
    assert all(h.showscale in (None, False) for h in heatmaps), "one colour bar, not one each"
    assert [a.text for a in fig.layout.annotations] == ["a · 8 filters", "b · 16 filters"]


def test_image_steps_draw_every_map_at_one_pixel_scale():
    image = np.zeros((28, 28), np.uint8)
    conv, pooled = np.zeros((26, 26)), np.zeros((13, 13))
    fig = figures.image_steps([("Image", image, None), ("Convolved", conv, conv),
                               ("Pooled", pooled, pooled)])
    layout = fig.layout
    # each panel's share of the width per column, and its height per row
    per_column = [(layout[f"xaxis{s}"].domain[1] - layout[f"xaxis{s}"].domain[0]) / n
                  for s, n in (("", 28), ("2", 26), ("3", 13))]
    assert per_column == pytest.approx([per_column[0]] * 3, rel=1e-6)
    for s in ("", "2", "3"):
        y, x = layout[f"yaxis{s}"], layout[f"xaxis{s}"]
        assert abs(y.range[0] - y.range[1]) == 28, "every panel spans the tallest map's rows"
        assert y.scaleanchor == f"x{s}" and y.constrain == x.constrain == "domain"
    assert [trace.z.shape for trace in fig.data] == [(28, 28), (26, 26), (13, 13)]
    figures.outline(fig, 4, 5, 2, panel=2)
    shape = fig.layout.shapes[0]
    assert (shape.xref, shape.yref, shape.x0, shape.y1) == ("x2", "y2", 4.5, 5.5)


def test_a_stopped_epoch_is_drawn_where_it_ended_not_as_an_epoch_end():
    history = [{"epoch": 1, "complete": True, "batches": 422, "position": 1.0, "loss": 0.5,
                "accuracy": 0.8, "val_loss": 0.45, "val_accuracy": 0.84},
               {"epoch": 2, "complete": False, "batches": 262, "position": 1 + 262 / 422,
                "loss": 0.4, "accuracy": 0.86}]
    fig = figures.curves(history, [(0.5, 0.9, 0.7), (1.62, 0.41, 0.85)], epochs=5)
    ends = [t for t in fig.data if t.name and "epoch end" in t.name]
    assert ends and all(list(t.x) == [1] for t in ends)  # complete epochs only
    stopped = [t for t in fig.data if t.legendgroup == "stopped"]
    assert len(stopped) == 2 and stopped[0].x[0] == pytest.approx(1.62, abs=0.01)
    assert stopped[0].y[0] == 0.86 and "stopped at batch 262" in stopped[0].hovertemplate


def test_a_long_runs_epoch_axis_follows_the_epochs_done_and_widens():
    def axis(history, points, planned):
        layout = figures.curves(history, points, planned).layout
        return layout.xaxis.range[1], layout.xaxis.title.text

    early = [{"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.45, "val_accuracy": 0.84}]
    # a 200-epoch run in its second epoch: 10 epochs shown, and the axis says of how many
    assert axis(early, [(0.5, 0.9, 0.7), (1.4, 0.5, 0.82)], 200) == (10, "epoch (of 200)")
    later = [dict(early[0], epoch=e) for e in range(1, 41)]
    assert axis(later, [(40.0, 0.3, 0.9)], 200) == (50, "epoch (of 200)")
    # near the end, and for a short run from the start, the axis spans every planned epoch
    done = [dict(early[0], epoch=e) for e in range(1, 171)]
    assert axis(done, [(170.0, 0.3, 0.9)], 200) == (200, "epoch")
    assert axis(early, [(0.5, 0.9, 0.7)], 5) == (5, "epoch")


def test_a_filters_life_starts_at_epoch_0_labelled_random():
    life = np.stack([np.full((3, 3), e, np.float32) for e in (0.5, -1.0, 2.0)], axis=-1)
    fig = figures.filter_life(life, [0, 1, 4], "conv1 · filter 2 · its life")
    assert list(fig.layout.xaxis.ticktext) == ["0 (random)", "1", "4"]
    assert fig.layout.xaxis.title.text == "epochs trained"
    heat = fig.data[0]
    # each tick is under its own epoch's square, and hover tells the epoch
    for tick, value, words in zip(fig.layout.xaxis.tickvals, (0.5, -1.0, 2.0),
                                  ("before training", "after epoch 1", "after epoch 4")):
        assert heat.z[0][int(tick)] == value and heat.customdata[0][int(tick)] == words
    assert heat.zmin == -2.0 and heat.zmax == 2.0
    old = figures.filter_life(life[:, :, 1:], [1, 4], "an older run")
    assert list(old.layout.xaxis.ticktext) == ["1", "4"]


def test_a_numbered_mosaic_writes_each_number_above_its_own_square():
    kernels = np.stack([np.full((3, 3), i + 1, np.float32) for i in range(10)], axis=-1)
    fig = figures.mosaic(kernels, "filters", symmetric=True, unit="filter", numbered=True)
    heat = fig.data[0]
    assert heat.hovertemplate.startswith("filter %{customdata}")
    z, numbers = np.asarray(heat.z, np.float32), np.asarray(heat.customdata)
    assert [a.text for a in fig.layout.annotations] == [str(n) for n in range(1, 11)]
    for label in fig.layout.annotations:
        row, col = int(label.y + 0.5), int(round(label.x))
        assert np.isnan(z[row - 1, col])  # the number sits in the gap above the square
        assert numbers[row, col] == int(label.text) == z[row, col]
    plain = figures.mosaic(kernels, "maps")
    assert not plain.layout.annotations and plain.data[0].hovertemplate.startswith("channel")


def test_the_answers_by_epoch_start_before_training():
    probs = np.full((3, 10), 0.1, np.float32)
    fig = figures.epoch_answers([0, 1, 2], probs, tuple("abcdefghij"), label=3)
    assert list(fig.layout.xaxis.ticktext) == ["0 (random)", "1", "2"]
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2]
