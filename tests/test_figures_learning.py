import numpy as np
import pytest

from figuretools import axis_labels
from ui.figures import learning


def test_curves_leave_a_gap_for_a_stopped_epoch_without_validation():
    history = [{"epoch": 1, "loss": 0.6, "accuracy": 0.78, "val_loss": 0.5,
                "val_accuracy": 0.81},
               {"epoch": 2, "loss": 0.4, "accuracy": 0.85}]  # stopped: no validation pass
    fig = learning.curves(history, [(0.5, 0.7, 0.7), (1.5, 0.45, 0.84)], 5)
    by_name = {trace.name: trace for trace in fig.data if trace.name}
    assert list(by_name["validation (epoch end)"].y) == [0.81, None]
    assert list(by_name["train (epoch end)"].y) == [0.78, 0.85]


def test_accuracy_ticks_are_distinct_on_a_narrow_range():
    # a network near chance: accuracy between 10 % and 11 %
    history = [{"epoch": e, "loss": 2.3, "accuracy": a, "val_loss": 2.3, "val_accuracy": v}
               for e, a, v in ((1, 0.1012, 0.1049), (2, 0.1003, 0.1095), (3, 0.1021, 0.1))]
    fig = learning.curves(history, [(0.5, 2.3, 0.1031), (1.5, 2.3, 0.1008)], 3)
    labels = axis_labels(fig.layout.yaxis)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    low, high = fig.layout.yaxis.range
    assert low <= 0.1 and high >= 0.1095 and high - low < 0.05


def test_a_stopped_epoch_is_drawn_where_it_ended_not_as_an_epoch_end():
    history = [{"epoch": 1, "complete": True, "batches": 422, "position": 1.0, "loss": 0.5,
                "accuracy": 0.8, "val_loss": 0.45, "val_accuracy": 0.84},
               {"epoch": 2, "complete": False, "batches": 262, "position": 1 + 262 / 422,
                "loss": 0.4, "accuracy": 0.86}]
    fig = learning.curves(history, [(0.5, 0.9, 0.7), (1.62, 0.41, 0.85)], epochs=5)
    ends = [t for t in fig.data if t.name and "epoch end" in t.name]
    assert ends and all(list(t.x) == [1] for t in ends)  # complete epochs only
    stopped = [t for t in fig.data if t.legendgroup == "stopped"]
    assert len(stopped) == 2 and stopped[0].x[0] == pytest.approx(1.62, abs=0.01)
    assert stopped[0].y[0] == 0.86 and "stopped at batch 262" in stopped[0].hovertemplate


def test_a_long_runs_epoch_axis_follows_the_epochs_done_and_widens():
    def axis(history, points, planned):
        layout = learning.curves(history, points, planned).layout
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
    fig = learning.filter_life(life, [0, 1, 4], "conv1 · filter 2 · its life")
    assert list(fig.layout.xaxis.ticktext) == ["0 (random)", "1", "4"]
    assert fig.layout.xaxis.title.text == "epochs trained"
    heat = fig.data[0]
    # each tick is under its own epoch's square, and hover tells the epoch
    for tick, value, words in zip(fig.layout.xaxis.tickvals, (0.5, -1.0, 2.0),
                                  ("before training", "after epoch 1", "after epoch 4")):
        assert heat.z[0][int(tick)] == value and heat.customdata[0][int(tick)] == words
    assert heat.zmin == -2.0 and heat.zmax == 2.0
    old = learning.filter_life(life[:, :, 1:], [1, 4], "an older run")
    assert list(old.layout.xaxis.ticktext) == ["1", "4"]


def test_the_answers_by_epoch_start_before_training():
    probs = np.full((3, 10), 0.1, np.float32)
    fig = learning.epoch_answers([0, 1, 2], probs, tuple("abcdefghij"), label=3)
    assert list(fig.layout.xaxis.ticktext) == ["0 (random)", "1", "2"]
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2]
