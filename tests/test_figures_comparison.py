import numpy as np
import pytest

from figuretools import axis_labels
from ui.figures import comparison, style


def test_overlay_fits_the_accuracy_axis_and_gives_every_run_its_own_colour():
    runs = {f"run {i}": [{"epoch": e, "val_accuracy": 0.84 + 0.01 * (e + i)} for e in (1, 2, 3)]
            for i in range(4)}  # 85 % to 90 %
    fig = comparison.overlay(runs, "val_accuracy")
    low, high = fig.layout.yaxis.range
    assert 0.8 <= low <= 0.85 and 0.9 <= high <= 0.95, (low, high)
    labels = axis_labels(fig.layout.yaxis)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    colours = [trace.line.color for trace in fig.data]
    assert len(set(colours)) == 4 and set(colours) <= set(style.RUN_COLORS)
    assert len({trace.marker.symbol for trace in fig.data}) == 4


@pytest.mark.parametrize("epochs, step", [(3, 1), (10, 1), (40, 4)])
def test_overlay_ticks_whole_epochs_about_ten_at_most(epochs, step):
    fig = comparison.overlay({"a": [{"epoch": e, "val_accuracy": 0.8} for e in
                                    range(1, epochs + 1)]})
    assert (fig.layout.xaxis.tick0, fig.layout.xaxis.dtick) == (1, step)


def test_overlay_of_a_loss_keeps_plotly_ticks():
    fig = comparison.overlay({"a": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]}, "loss")
    assert fig.layout.yaxis.tickvals is None and fig.layout.yaxis.title.text == "loss"


def test_filter_comparison_uses_one_symmetric_scale_for_every_run():
    rng = np.random.default_rng(0)
    small = rng.normal(scale=0.1, size=(3, 3, 8)).astype(np.float32)
    large = rng.normal(scale=0.6, size=(5, 5, 16)).astype(np.float32)
    fig = comparison.filter_comparison({"a · 8 filters": small, "b · 16 filters": large})
    heatmaps = [trace for trace in fig.data if trace.type == "heatmap"]
    assert len(heatmaps) == 2 and {h.coloraxis for h in heatmaps} == {"coloraxis"}
    bound = float(np.abs(large).max())
    assert fig.layout.coloraxis.cmax == pytest.approx(bound)
    assert fig.layout.coloraxis.cmin == pytest.approx(-bound)
    assert all(h.showscale in (None, False) for h in heatmaps), "one colour bar, not one each"
    assert [a.text for a in fig.layout.annotations] == ["a · 8 filters", "b · 16 filters"]
