"""Validation: the held-out images, one prediction pass that scores them, and the judgement
of a network that learnt nothing (accuracy at chance).

The fit loop (`fmnist_core.training.fitloop`) scores the test set this way at the end, and
its progress callback (`fmnist_core.training.progress`) the validation images at each
epoch's end.
"""

from __future__ import annotations

import numpy as np

from fmnist_core.data import feed

EVAL_BATCH_SIZE = 1000
# Accuracy below this many times chance (1 / classes) after an epoch: nothing was learnt.
CHANCE_FACTOR = 1.5
# Fewer validation or test images than this cannot tell learning from guessing; a first
# epoch of fewer steps may not have moved the network far enough yet (its batch norm
# statistics have settled, `model.batch_norm_momentum`; its weights may not have).
MIN_JUDGED_IMAGES = 100
MIN_JUDGED_STEPS = 100
# A learning rate at least this high is the likely reason a network learnt nothing; one at
# most LOW_LEARNING_RATE may be too small to move it.
HIGH_LEARNING_RATE = 0.01
LOW_LEARNING_RATE = 1e-4


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float
                     ) -> tuple[tuple[np.ndarray, np.ndarray],
                                tuple[np.ndarray, np.ndarray] | None]:
    """Holds out the last `fraction` of the images, as Keras's `validation_split` does.

    Returns:
        ((x_fit, y_fit), (x_val, y_val)), or ((x, y), None) when nothing is held out.
    """
    n_val = int(len(x) * fraction)
    if n_val == 0:
        return (x, y), None
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def validate(model, x_val: np.ndarray, y_val: np.ndarray, num_classes: int
             ) -> tuple[dict[str, float], list[float]]:
    """Loss, accuracy and each class's accuracy from one prediction pass.

    Returns:
        ({"val_loss", "val_accuracy"}, per-class accuracy as a list of `num_classes`
        floats, NaN for a class absent from `y_val`).
    """
    probs = np.asarray(feed.predict(model, x_val, EVAL_BATCH_SIZE))
    y = np.asarray(y_val, dtype=np.int64)
    # the clip matches Keras's sparse categorical cross-entropy on probabilities
    picked = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    right = probs.argmax(axis=1) == y
    counts = np.bincount(y, minlength=num_classes)
    hits = np.bincount(y[right], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    scores = {"val_loss": float(-np.log(picked).mean()), "val_accuracy": float(right.mean())}
    return scores, [float(v) for v in per_class]


def at_chance(accuracy: float, num_classes: int) -> bool:
    """Whether `accuracy` is what guessing gets (below CHANCE_FACTOR times chance)."""
    return accuracy < CHANCE_FACTOR / num_classes


def did_not_learn(which: str, accuracy: float, num_classes: int,
                  learning_rate: float) -> str:
    """The sentence for a run whose `which` ("test", "validation") accuracy is at chance,
    with advice on its learning rate."""
    if learning_rate >= HIGH_LEARNING_RATE:
        advice = "is probably too high; try 0.001"
    elif learning_rate <= LOW_LEARNING_RATE:
        advice = "may be too small; try 0.001"
    else:
        advice = "looks reasonable, so try the adam optimizer, or more filters and dense units"
    return (f"The network did not learn: its {which} accuracy is {accuracy:.1%}, what "
            f"guessing gets with {num_classes} classes. The learning rate ({learning_rate:g}) "
            f"{advice}.")
