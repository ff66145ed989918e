"""Tests for fmnist_core.explain.arithmetic: the sum behind one output pixel, the window behind
one pooled pixel."""

import numpy as np
import pytest

from fmnist_core.explain.arithmetic import explain_pixel, explain_pool
from fmnist_core.explain.convolution import convolve2d, pool2d
from fmnist_core.explain.kernels import KERNELS

EDGE = KERNELS["Edge detection (8 / −1)"]
IMAGE = np.zeros((6, 6), dtype=np.uint8)


@pytest.fixture(scope="module")
def fashion_image(fashion):
    """The first Fashion-MNIST test image, `(28, 28) uint8` (an ankle boot)."""
    return fashion.x_test[0]


def test_explain_pool_matches_pool2d():
    rng = np.random.default_rng(1)
    feature_map = rng.normal(size=(7, 9))
    for mode in ("max", "avg"):
        pooled = pool2d(feature_map, 2, mode=mode)
        window, value = explain_pool(feature_map, 2, 3, pool_size=2, mode=mode)
        assert window.shape == (2, 2) and window.dtype == np.float32
        np.testing.assert_allclose(window, feature_map[4:6, 6:8], rtol=1e-6)
        assert value == pooled[2, 3]


def test_explain_pixel_hand_made():
    patch = np.array([[0, 12, 0], [3, 20, 0], [0, 0, 50]], dtype=np.uint8)
    explanation = explain_pixel(patch, EDGE, 0, 0)
    assert explanation.total == 8 * 20 - 12 - 3 - 50 == 95
    assert explanation.formula.startswith("(-1×0) + (-1×12) + (-1×0) + (-1×3) + (8×20)")
    assert explanation.formula.endswith("= 95")
    np.testing.assert_array_equal(explanation.products, EDGE * patch)
    assert explanation.products.sum() == explanation.total


@pytest.mark.parametrize("name", list(KERNELS))
def test_explain_pixel_total_equals_the_convolution(fashion_image, name):
    kernel = KERNELS[name]
    feature_map = convolve2d(fashion_image, kernel)
    for row, col in [(0, 0), (10, 12), (25, 25), (13, 4)]:
        explanation = explain_pixel(fashion_image, kernel, row, col)
        assert explanation.total == feature_map[row, col]
        expected_patch = fashion_image[row : row + 3, col : col + 3]
        np.testing.assert_array_equal(explanation.patch, expected_patch)
        assert explanation.patch.dtype == np.float32 and explanation.patch.shape == (3, 3)
        np.testing.assert_allclose(
            explanation.products.sum(), explanation.total, rtol=1e-5, atol=1e-4
        )
        shown_total = explanation.formula.rsplit("= ", 1)[1]
        assert float(shown_total) == pytest.approx(explanation.total, abs=1e-4)
        assert explanation.formula.count("×") == 9


def test_explain_pixel_formula_parenthesises_negative_pixels():
    image = np.array([[-2.0]])
    explanation = explain_pixel(image, [[0.5]], 0, 0)
    assert explanation.formula == "(0.5×(-2)) = -1"


def test_explanation_arrays_are_read_only():
    explanation = explain_pixel(IMAGE, EDGE, 0, 0)
    with pytest.raises(ValueError):
        explanation.products[0, 0] = 1


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: explain_pixel(IMAGE, EDGE, 4, 0), "row"),
        (lambda: explain_pixel(IMAGE, EDGE, -1, 0), "row"),
        (lambda: explain_pixel(IMAGE, EDGE, 0, 4), "col"),
        (lambda: explain_pixel(IMAGE, EDGE, 0, 1.0), "col"),
        (lambda: explain_pixel(IMAGE, np.ones((9, 9)), 0, 0), "kernel"),
        (lambda: explain_pool(IMAGE, 3, 0), "row"),
        (lambda: explain_pool(IMAGE, 0, 3), "col"),
        (lambda: explain_pool(IMAGE, 0, 0, pool_size=7), "pool_size"),
        (lambda: explain_pool(IMAGE, 0, 0, mode="median"), "mode"),
        (lambda: explain_pool(np.zeros(6), 0, 0), "feature_map"),
    ],
)
def test_every_error_names_its_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^Argument `{argument}` must .*, received .*\.$"):
        call()
