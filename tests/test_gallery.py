import numpy as np
import pytest

from fmnist_core.data import gallery


def test_class_counts_of_the_real_data_are_balanced(fashion):
    assert gallery.class_counts(fashion.y_train, 10).tolist() == [6000] * 10
    assert gallery.class_counts(fashion.y_test, 10).tolist() == [1000] * 10


def test_class_counts_keep_empty_classes():
    counts = gallery.class_counts(np.array([0, 2, 2], np.uint8), 4)
    assert counts.dtype == np.int64 and counts.tolist() == [1, 0, 2, 0]


def test_class_indices_are_in_dataset_order(fashion):
    idx = gallery.class_indices(fashion.y_test, 7)
    assert len(idx) == 1000 and np.all(np.diff(idx) > 0)
    assert np.all(fashion.y_test[idx] == 7)
    assert gallery.class_indices(np.array([1, 1]), 0).size == 0


def test_samples_per_class_first_and_random(fashion):
    first = gallery.samples_per_class(fashion.y_train, 10, 8)
    assert first.shape == (10, 8) and first.dtype == np.int64
    assert np.all(fashion.y_train[first] == np.arange(10)[:, None])
    assert first[3].tolist() == gallery.class_indices(fashion.y_train, 3)[:8].tolist()
    a = gallery.samples_per_class(fashion.y_train, 10, 8, seed=1)
    b = gallery.samples_per_class(fashion.y_train, 10, 8, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, first)
    assert np.all(fashion.y_train[a] == np.arange(10)[:, None])
    assert all(len(set(row)) == 8 for row in a.tolist())


def test_samples_per_class_shortens_rows_to_the_rarest_class():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    assert gallery.samples_per_class(labels, 3, 8).tolist() == [[0, 1], [3, 4], [5, 6]]


@pytest.mark.parametrize("call, argument", [
    (lambda: gallery.class_counts(np.array([0, 10]), 10), "`labels`"),
    (lambda: gallery.class_counts(np.zeros((2, 2), int), 10), "`labels`"),
    (lambda: gallery.class_counts(np.array([0.5]), 10), "`labels`"),
    (lambda: gallery.class_counts(np.array([0]), 0), "`num_classes`"),
    (lambda: gallery.class_indices(np.array([0]), -1), "`label`"),
    (lambda: gallery.samples_per_class(np.array([0]), 1, 0), "`per_class`"),
    (lambda: gallery.samples_per_class(np.array([0]), 1, 1, seed=True), "`seed`"),
])
def test_bad_arguments_name_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()
