"""Tests for fmnist_core.data.surface: the cubic background surface and its robust fit."""

import numpy as np
import pytest

from fmnist_core.data.surface import CUBIC_TERMS, centres, evaluate, fit, terms

ROWS, COLS = 24, 32


def cubic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 200 + 20 * x - 10 * y + 8 * x * y - 6 * y * y + 3 * x**3


def grid(step: int = 1, height: int = ROWS, width: int = COLS):
    y = centres(height, step, -(-height // step))[:, None]
    x = centres(width, step, -(-width // step))[None, :]
    return np.broadcast_arrays(x, y)


def test_centres_span_minus_one_to_one():
    np.testing.assert_allclose(centres(5, 1, 5), [-1, -0.5, 0, 0.5, 1])
    # Blocks of 4 over 10 pixels: the last block holds only pixels 8 and 9.
    np.testing.assert_allclose(centres(10, 4, 3), np.array([1.5, 5.5, 8.5]) / 9 * 2 - 1)


def test_terms_of_a_plane_come_first():
    x, y = np.array([0.5]), np.array([-2.0])
    np.testing.assert_allclose(terms(x, y)[0], [1, 0.5, -2, 0.25, -1, 4, 0.125, -0.5, 2, -8])
    assert terms(*grid()).shape == (ROWS, COLS, CUBIC_TERMS)


def test_a_clean_cubic_background_is_fitted_exactly():
    blocks = cubic(*grid())

    coefficients, chosen = fit(blocks, 1, 2, (ROWS, COLS), tolerance=3.0)

    assert chosen.all()  # the last rounds fit every block near the surface
    np.testing.assert_allclose(evaluate(coefficients, ROWS, COLS), blocks, atol=1e-3)
    assert evaluate(coefficients, ROWS, COLS).dtype == np.float32


def test_the_objects_blocks_are_left_out():
    x, y = grid()
    background = cubic(x, y)
    blocks = background.copy()
    blocks[6:18, 8:24] = 40  # a dark object in the middle
    blocks[:, 14:18] = 40  # and a strap of it across the border

    coefficients, chosen = fit(blocks, 1, 2, (ROWS, COLS), tolerance=3.0)

    assert not chosen[6:18, 8:24].any() and not chosen[:, 14:18].any()
    level = evaluate(coefficients, ROWS, COLS)
    assert np.abs(level - background).max() < 1  # behind the object too


def test_too_few_background_blocks_keep_the_border_median():
    blocks = np.full((4, 4), 90.0)
    blocks[0, :2] = 20  # the object on two of the twelve border blocks

    coefficients, chosen = fit(blocks, 1, 1, (4, 4), tolerance=3.0)

    # Ten background blocks are fewer than MIN_BLOCKS: no round refits the border's median.
    assert coefficients[0] == 90 and not coefficients[1:].any()
    assert chosen.sum() == 12
