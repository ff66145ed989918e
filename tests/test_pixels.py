"""Tests for fmnist_core.data.pixels: border, spread, robust spread, argument descriptions."""

import numpy as np
import pytest

from fmnist_core.data.pixels import (BLANK_RANGE, LIGHT_BORDER, MAD_TO_SIGMA, border_median,
                                     border_pixels, describe, robust_std, spread)


def test_border_is_the_outermost_rows_and_columns():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)

    border = border_pixels(gray)

    assert sorted(border.tolist()) == sorted([0, 1, 2, 3, 8, 9, 10, 11, 0, 4, 8, 3, 7, 11])
    assert 5 not in border and 6 not in border  # the inside


def test_a_half_level_median_on_the_middle_counts_as_light():
    gray = np.zeros((4, 4), dtype=np.uint8)
    gray[:2] = 127
    gray[2:] = 128

    assert border_median(gray) == 127.5 > LIGHT_BORDER
    assert not border_median(np.full((4, 4), 127, np.uint8)) > LIGHT_BORDER


def test_spread_and_blank():
    gray = np.array([[200, 255], [250, 254]], dtype=np.uint8)
    assert spread(gray) == 55  # not wrapped around in uint8
    assert spread(np.full((3, 3), 255 - BLANK_RANGE + 1, np.uint8)) < BLANK_RANGE


def test_robust_std_measures_a_normal_spread_and_ignores_outliers():
    values = np.random.default_rng(0).normal(100, 5, 20_000)
    values[:500] = 255  # an object in 2.5 % of the pixels

    assert robust_std(values) == pytest.approx(5, rel=0.05)
    assert robust_std(np.array([])) == 0.0
    assert 1 / MAD_TO_SIGMA == pytest.approx(0.6745, abs=1e-4)


def test_describe_names_an_array_by_shape_and_dtype():
    assert describe(np.zeros((2, 3), np.float32)) == "an array of shape (2, 3) and dtype float32"
    assert describe("canvas") == "str"
