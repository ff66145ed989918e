"""Tests for fmnist_core.explain.labchecks: the argument checks the convolution lab shares."""

import numpy as np
import pytest

from fmnist_core.explain.labchecks import (as_image, as_kernel, check_choice, check_fits,
                                           check_index, check_pool_size, check_positive_int)


def test_as_image_keeps_the_dtype_and_names_the_argument():
    image = np.arange(6, dtype=np.int16).reshape(2, 3)
    assert as_image(image).dtype == np.int16
    with pytest.raises(ValueError, match=r"^Argument `feature_map` must be a non-empty 2-D"):
        as_image([[1, 2], [3]], "feature_map")


def test_as_kernel_gives_float32():
    kernel = as_kernel([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    assert kernel.dtype == np.float32 and kernel.shape == (3, 3)
    assert kernel[1, 1] == -4


def test_check_fits_compares_with_the_smaller_side():
    check_fits(np.ones((3, 3)), np.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"^Argument `kernel` must be at most as large"):
        check_fits(np.ones((5, 5)), np.zeros((4, 10)))


def test_integers_and_indices():
    assert check_positive_int(np.int64(3), "stride") == 3
    assert type(check_positive_int(np.int64(3), "stride")) is int
    for bad in (True, np.bool_(True), 0, 2.0, "2"):
        with pytest.raises(ValueError, match=r"^Argument `stride` must be an integer >= 1"):
            check_positive_int(bad, "stride")
    assert check_index(3, "row", 4, "rows") == 3
    with pytest.raises(ValueError) as info:
        check_index(4, "row", 4, "rows")
    assert str(info.value) == (
        "Argument `row` must be an integer from 0 to 3 (the output has 4 rows), received 4."
    )
    assert check_pool_size(2, (3, 5)) == 2
    with pytest.raises(ValueError, match=r"smaller side of `feature_map` \(3, 5\)"):
        check_pool_size(4, (3, 5), "feature_map")


def test_check_choice_is_case_insensitive():
    assert check_choice("MAX", "mode", ("max", "avg")) == "max"
    with pytest.raises(ValueError) as info:
        check_choice("min", "mode", ("max", "avg"))
    assert str(info.value) == 'Argument `mode` must be "max" or "avg", received \'min\'.'
