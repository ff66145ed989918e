"""A photo's background as a smooth surface: a cubic in x and y, fitted where no object is.

A cubic surface follows a gradient, a vignette, both at once, or a broad shadow. It is fitted
to the means of blocks of pixels (each averages away most of the noise of its pixels), first
along the photo's border, then everywhere near that first fit, each round leaving out the
blocks that sit far off it: the object.

Typical use (inside `photo.estimate_background`):

    coefficients, chosen = fit(blocks, step, band, gray.shape, tolerance)
    level = evaluate(coefficients, *gray.shape)    # (h, w) float32
"""

from __future__ import annotations

import numpy as np

from fmnist_core.data.pixels import robust_std

# Coefficients of a plane (1, x, y), of a quadratic (… x², xy, y²) and of a cubic
# (… x³, x²y, xy², y³): each round of the fit uses one of these sizes.
PLANE_TERMS = 3
QUADRATIC_TERMS = 6
CUBIC_TERMS = 10
# Rounds of the fit: a plane and two quadratics on the border blocks near the previous fit,
# then three cubics on every block near it; each round leaves out the blocks that the
# previous, rougher fit shows to be far off the background.
ROUNDS = 6
BORDER_ROUNDS = 3
# Fewest blocks a fit may rest on: twelve is more than the cubic's ten coefficients, so that a
# round left with fewer keeps the previous fit instead.
MIN_BLOCKS = 12
# A block sits far off the fit beyond this many robust standard deviations of the chosen
# blocks around the fit: 0.3 % of a normal spread of background blocks lies beyond three.
OUTLIER_SIGMAS = 3.0
# A small ridge on the normal equations, so a fit on a straight line of blocks is still solved.
_RIDGE = 1e-9


def fit(
    blocks: np.ndarray,
    step: int,
    band: int,
    shape: tuple[int, int],
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Fits the surface to the blocks of the background, leaving out the object's.

    Args:
        blocks: `(rows, cols) float64` mean of each block of `step`×`step` pixels.
        step: Side of a block, in pixels.
        band: Width of the border band, in blocks, where the background is looked for first.
        shape: The picture's `(h, w)`, in pixels.
        tolerance: Distance from the fit, out of 255, within which a block is background
            however small the spread of the blocks is.

    Returns:
        `(coefficients, chosen)`: the `(10,) float64` coefficients of the terms of `terms`
        (x and y from -1 to 1 across the picture), and the `(rows, cols) bool` blocks the
        last round was fitted to.
    """
    height, width = shape
    y = centres(height, step, blocks.shape[0])[:, None]
    x = centres(width, step, blocks.shape[1])[None, :]
    block_terms = terms(np.broadcast_to(x, blocks.shape), np.broadcast_to(y, blocks.shape))
    border = np.zeros(blocks.shape, dtype=bool)
    border[:band] = border[-band:] = True
    border[:, :band] = border[:, -band:] = True
    # The border's median to start with, then a plane, which cannot bend towards the
    # object, then a quadratic: rounds on the border first, leaving out what sits far off
    # the fit (the object where it touches the border), then a cubic on every block near
    # the fit, the object's blocks left out.
    chosen, spread = border, 0.0
    coefficients = np.zeros(CUBIC_TERMS)
    coefficients[0] = np.median(blocks[border])
    for round_ in range(ROUNDS):
        off = blocks - block_terms @ coefficients
        if round_ < BORDER_ROUNDS:
            spread = robust_std(off[chosen] if round_ else off[border])
            candidate = border & (np.abs(off) <= max(tolerance, OUTLIER_SIGMAS * spread))
        else:
            candidate = np.abs(off) <= max(tolerance, OUTLIER_SIGMAS * spread)
        if candidate.sum() < MIN_BLOCKS:
            break
        chosen = candidate
        size = (PLANE_TERMS if round_ == 0 else QUADRATIC_TERMS if round_ < BORDER_ROUNDS
                else CUBIC_TERMS)
        coefficients = np.zeros(CUBIC_TERMS)
        coefficients[:size] = _least_squares(block_terms[chosen][:, :size], blocks[chosen])
    return coefficients, chosen


def evaluate(coefficients: np.ndarray, height: int, width: int) -> np.ndarray:
    """Returns the `(height, width) float32` surface of `coefficients` at every pixel."""
    a, b, c, d, e, f, g, h, i, j = coefficients.astype(np.float32)
    y = centres(height, 1, height).astype(np.float32)[:, None]
    x = centres(width, 1, width).astype(np.float32)[None, :]
    # The terms of `terms`, grouped by powers of y so each group is a row or a column.
    return (a + x * (b + x * (d + g * x))) + y * (
        (c + x * (e + h * x)) + y * ((f + i * x) + j * y)
    )


def centres(length: int, step: int, count: int) -> np.ndarray:
    """Returns the centres of `count` blocks of `step` pixels along `length`, from -1 to 1."""
    starts = np.arange(count, dtype=np.float64) * step
    middles = (starts + np.minimum(starts + step, length) - 1) / 2
    return middles / max(length - 1, 1) * 2 - 1


def terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Returns the `(..., 10)` terms of a cubic surface: those of a plane come first (1, x,
    y), then the rest of a quadratic (x², xy, y²), then x³, x²y, xy², y³."""
    x, y = np.broadcast_arrays(x, y)
    return np.stack(
        [np.ones_like(x), x, y, x * x, x * y, y * y, x**3, x * x * y, x * y * y, y**3], axis=-1
    )


def _least_squares(block_terms: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of `(n, k)` terms for `(n,)` values."""
    # The normal equations: a k×k solve, much cheaper than a general least-squares call,
    # and the terms of coordinates in [-1, 1] are well conditioned.
    gram = np.einsum("ni,nj->ij", block_terms, block_terms)
    moments = np.einsum("ni,n->i", block_terms, values)
    return np.linalg.solve(gram + _RIDGE * np.eye(len(gram)), moments)
