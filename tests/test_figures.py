from ui import figures


def test_curves_leave_a_gap_for_a_stopped_epoch_without_validation():
    history = [{"epoch": 1, "loss": 0.6, "accuracy": 0.78, "val_loss": 0.5,
                "val_accuracy": 0.81},
               {"epoch": 2, "loss": 0.4, "accuracy": 0.85}]  # stopped: no validation pass
    fig = figures.curves(history, [(0.5, 0.7, 0.7), (1.5, 0.45, 0.84)], 5)
    by_name = {trace.name: trace for trace in fig.data if trace.name}
    assert list(by_name["validation (epoch end)"].y) == [0.81, None]
    assert list(by_name["train (epoch end)"].y) == [0.78, 0.85]
