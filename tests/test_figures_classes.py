import numpy as np

from ui.figures import classes, style

NAMES = ("T-shirt", "Trouser", "Bag")


def test_the_confusion_matrix_dims_the_diagonal_so_errors_stand_out():
    matrix = np.array([[50, 2, 0], [1, 40, 3], [0, 0, 60]])
    heat = classes.confusion(matrix, NAMES).data[0]
    z = np.asarray(heat.z, np.float64)
    assert np.isnan(np.diag(z)).all() and z[1, 2] == 3  # the right answers are not coloured
    assert np.asarray(heat.text).tolist() == matrix.tolist()  # but every count is written
    assert heat.customdata[0][1] == "2 images"


def test_a_clickable_confusion_matrix_has_a_marker_per_cell_named_by_its_classes():
    matrix = np.array([[50, 2, 0], [1, 40, 3], [0, 0, 60]])
    fig = classes.confusion_clickable(matrix, NAMES)
    cells = fig.data[1]
    assert len(cells.x) == len(cells.y) == 9 and fig.layout.clickmode == "event+select"
    # the marker of true Trouser, predicted Bag
    i = next(i for i, (x, y) in enumerate(zip(cells.x, cells.y)) if (y, x) == ("Trouser", "Bag"))
    assert cells.customdata[i] == "3 images"


def test_the_likeliest_class_is_on_top_in_its_own_colour():
    fig = classes.probabilities(np.array([0.1, 0.7, 0.2]), NAMES, top_k=2)
    bar = fig.data[0]
    assert list(bar.y) == ["Bag", "Trouser"]  # drawn bottom-up: the likeliest last
    assert list(bar.marker.color) == [style.TRAIN_COLOR, style.VAL_COLOR]
