"""Validation: the held-out split, one prediction pass's scores, the did-not-learn advice."""

import numpy as np
import pytest

from fmnist_core.training import validation


class Answers:
    def __init__(self, probs):
        self.probs = np.asarray(probs, np.float32)

    def predict_on_batch(self, x):
        return self.probs[: len(x)]


def test_the_last_fraction_is_held_out_as_keras_does():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    (x_fit, y_fit), (x_val, y_val) = validation.split_validation(x, y, 0.25)
    assert list(y_fit) == list(range(8)) and list(y_val) == [8, 9] and len(x_val) == 2
    assert validation.split_validation(x, y, 0.05) == ((x, y), None)


def test_scores_and_each_class_accuracy_come_from_one_pass():
    # three images of class 0 (two right), one of class 2 (right); class 1 absent
    probs = [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.2, 0.2], [0.0, 0.0, 1.0]]
    scores, per_class = validation.validate(Answers(probs), np.zeros((4, 28, 28)),
                                            np.array([0, 0, 0, 2]), 3)
    assert scores["val_accuracy"] == 0.75
    assert scores["val_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.6, 1.0])))
    assert per_class[0] == pytest.approx(2 / 3) and np.isnan(per_class[1])
    assert per_class[2] == 1.0


@pytest.mark.parametrize("rate, advice", [(0.01, "is probably too high; try 0.001"),
                                          (1e-4, "may be too small; try 0.001"),
                                          (1e-3, "looks reasonable, so try the adam")])
def test_a_network_at_chance_is_told_what_to_change(rate, advice):
    assert validation.at_chance(0.11, 10) and not validation.at_chance(0.2, 10)
    sentence = validation.did_not_learn("test", 0.1, 10, rate)
    assert sentence.startswith("The network did not learn: its test accuracy is 10.0%")
    assert advice in sentence
