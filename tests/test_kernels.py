"""Tests for fmnist_core.explain.kernels: the lab's catalogue of kernels and the weights a
student types."""

import numpy as np
import pytest

from fmnist_core.explain.kernels import (KERNEL_NOTES, KERNELS, MAX_WEIGHT, clip_weight,
                                         common_denominator, readable_weights)

EDGE = KERNELS["Edge detection (8 / −1)"]


def test_kernels_cannot_be_mutated():
    with pytest.raises(TypeError):
        KERNELS["Mine"] = np.eye(3)
    with pytest.raises(TypeError):
        del KERNELS["Identity"]
    with pytest.raises(TypeError):
        KERNEL_NOTES["Identity"] = "changed"
    with pytest.raises(ValueError):
        KERNELS["Edge detection (8 / −1)"][1, 1] = 9
    np.testing.assert_array_equal(EDGE, [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])


def test_kernels_catalogue():
    assert list(KERNEL_NOTES) == list(KERNELS)
    assert len(KERNELS) == 10
    for name, kernel in KERNELS.items():
        assert kernel.shape == (3, 3) and kernel.dtype == np.float32, name
        assert KERNEL_NOTES[name].endswith("."), name
    # Edge detectors ignore flat regions; smoothing and sharpening keep the brightness.
    zero_sum = ("Edge detection (8 / −1)", "Sobel x (vertical edges)",
                "Sobel y (horizontal edges)", "Vertical lines", "Horizontal lines")
    for name in zero_sum:
        assert KERNELS[name].sum() == 0, name
    for name in ("Sharpen", "Box blur", "Gaussian blur", "Identity", "Emboss"):
        assert KERNELS[name].sum() == pytest.approx(1.0), name
    np.testing.assert_array_equal(KERNELS["Sharpen"], [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_allclose(KERNELS["Gaussian blur"] * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_readable_weights_round_for_reading():
    box = readable_weights(KERNELS["Box blur"])
    assert box.dtype == np.float64 and repr(float(box[0, 0])) == "0.111"
    np.testing.assert_array_equal(readable_weights(KERNELS["Gaussian blur"]) * 16,
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(readable_weights(EDGE), EDGE)
    assert readable_weights([[1234.5678]])[0, 0] == 1230
    assert readable_weights([[1 / 3]], digits=2)[0, 0] == 0.33


def test_common_denominator_names_the_fraction_of_each_catalogue_kernel():
    assert common_denominator(KERNELS["Box blur"]) == 9
    assert common_denominator(KERNELS["Gaussian blur"]) == 16
    assert common_denominator(EDGE) == 1
    assert common_denominator([[0.3183]]) is None


@pytest.mark.parametrize("typed, kept, says", [
    (3, 3.0, None),
    (-MAX_WEIGHT, -MAX_WEIGHT, None),
    (0.125, 0.125, None),
    (300, 255.0, "A weight goes from -255 to 255, so 300 became 255."),
    (-1000.5, -255.0, "A weight goes from -255 to 255, so -1000.5 became -255."),
    (None, 0.0, "An empty weight counts as 0."),
    (float("nan"), 0.0, "An empty weight counts as 0."),
    (float("-inf"), -255.0, "A weight goes from -255 to 255, so -inf became -255."),
])
def test_clip_weight_keeps_the_range_and_says_so(typed, kept, says):
    assert clip_weight(typed) == (kept, says)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: readable_weights(np.ones((2, 2))), "kernel"),
        (lambda: readable_weights(EDGE, digits=0), "digits"),
        (lambda: common_denominator(EDGE, limit=0), "limit"),
    ],
)
def test_every_error_names_its_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^Argument `{argument}` must .*, received .*\.$"):
        call()
