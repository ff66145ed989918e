"""Tests for ui.charts: every chart's accessible name says what it shows, with its numbers."""

import numpy as np

from ui import charts
from ui.figures import classes, images, learning


def test_curves_are_named_with_each_series_last_value_as_a_percentage():
    history = [{"epoch": 1, "accuracy": 0.80, "val_accuracy": 0.82, "loss": 0.5,
                "val_loss": 0.45},
               {"epoch": 2, "accuracy": 0.85, "val_accuracy": 0.864, "loss": 0.4,
                "val_loss": 0.41}]
    text = charts.describe(learning.curves(history, [(0.5, 0.6, 0.7)], 2))
    assert text.startswith("Accuracy · Loss.")
    assert "train (epoch end): 85.0% at 2" in text
    assert "validation (epoch end): 86.4% at 2" in text


def test_bars_are_read_top_down_with_their_values():
    probs = np.array([0.1, 0.7, 0.2], np.float32)
    text = charts.describe(classes.probabilities(probs, ("Bag", "Shirt", "Coat"), 3),
                           "How sure the network is")
    assert text == "How sure the network is. Shirt 70.0%, Coat 20.0%, Bag 10.0%."


def test_an_image_is_named_by_its_title_and_size_and_numpy_series_do_not_break_it():
    assert charts.describe(images.image(np.zeros((28, 28)), "Input")) == (
        "Input. a grid of 28 by 28 cells.")
    sweep = learning.epoch_answers([1, 2], np.array([[0.2, 0.8], [0.1, 0.9]]), ("A", "B"), 1)
    assert "B (true class): 90.0% at 2" in charts.describe(sweep)


def test_charts_have_no_toolbar_to_tab_through():
    assert charts.CONFIG["displayModeBar"] is False
