"""The convolution lab's kernels: the classic 3×3 catalogue, and the weights a student types.

Edge detection (centre 8, neighbours -1), Sobel, sharpen, blurs and line detectors, each with
one sentence saying what it responds to; helpers that show a weight the way a student reads it
(1/9 as 0.111, "ninths") and keep a typed weight within range. Sliding a kernel over an image
is `fmnist_core.explain.convolution`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from fmnist_core.explain.labchecks import as_kernel, check_positive_int

# Beyond ±255 a single weight on one bright pixel already saturates the drawn map.
MAX_WEIGHT = 255.0
# Significant digits a weight is shown with: 1/9 reads 0.111, and a typed 0.125 stays exact.
READABLE_DIGITS = 3
# Largest denominator `common_denominator` tries: the catalogue's blurs need 9 and 16, and a
# fraction of more than 64 parts is no easier to read than the decimal.
MAX_DENOMINATOR = 64
# How far from a whole number of `1/d` a weight may be, per unit of `d`: far above float32's
# rounding of a fraction such as 1/9 (about 1e-8), far below a weight typed as another number.
_FRACTION_TOLERANCE = 1e-5


def _frozen_kernel(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    kernel = (np.asarray(rows, dtype=np.float64) * scale).astype(np.float32)
    kernel.flags.writeable = False
    return kernel


KERNELS: Mapping[str, np.ndarray] = types.MappingProxyType({
    "Edge detection (8 / −1)": _frozen_kernel([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "Sobel x (vertical edges)": _frozen_kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "Sobel y (horizontal edges)": _frozen_kernel([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "Sharpen": _frozen_kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "Box blur": _frozen_kernel([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9),
    "Gaussian blur": _frozen_kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    "Identity": _frozen_kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "Emboss": _frozen_kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "Vertical lines": _frozen_kernel([[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]]),
    "Horizontal lines": _frozen_kernel([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]),
})
"""Classic 3×3 kernels by display name; each is a read-only `(3, 3) float32` array."""

KERNEL_NOTES: Mapping[str, str] = types.MappingProxyType({
    "Edge detection (8 / −1)": "Responds wherever a pixel differs from its eight neighbours, "
    "so outlines light up and flat areas go to zero.",
    "Sobel x (vertical edges)": "Responds to vertical edges: positive where the image gets "
    "brighter from left to right, negative where it gets darker.",
    "Sobel y (horizontal edges)": "Responds to horizontal edges: positive where the image gets "
    "brighter from top to bottom, negative where it gets darker.",
    "Sharpen": "Keeps the image and adds its difference from the four direct neighbours, "
    "so edges look crisper.",
    "Box blur": "Averages each 3×3 neighbourhood with equal weights, smoothing away fine "
    "detail such as fabric texture.",
    "Gaussian blur": "Averages each neighbourhood with more weight on the centre, a softer "
    "blur that keeps shapes better than the box blur.",
    "Identity": "Copies the centre pixel, so the output is the input cropped by one pixel "
    "on each side.",
    "Emboss": "Keeps the image and adds how much brighter it gets from top-left to "
    "bottom-right, which looks like a raised relief.",
    "Vertical lines": "Responds to thin bright vertical lines, such as seams, zips and "
    "stripes.",
    "Horizontal lines": "Responds to thin bright horizontal lines, such as waistbands, "
    "hems and straps.",
})
"""One sentence per kernel in `KERNELS`: what it responds to."""


def readable_weights(kernel: ArrayLike, digits: int = READABLE_DIGITS) -> np.ndarray:
    """A kernel rounded for reading: `digits` significant digits, so 1/9 shows as 0.111.

    Args:
        kernel: `(k, k)` array of real numbers.
        digits: Significant digits to keep, an integer >= 1.

    Returns:
        `(k, k) float64` array whose numbers print short (`0.111`, not `0.1111111119389534`).

    Raises:
        ValueError: If `kernel` is not a square array of odd size or `digits` is not >= 1.
    """
    kernel = as_kernel(kernel)
    digits = check_positive_int(digits, "digits")
    return np.vectorize(lambda w: float(f"{w:.{digits}g}"), otypes=[np.float64])(kernel)


def common_denominator(kernel: ArrayLike, limit: int = MAX_DENOMINATOR) -> int | None:
    """The smallest `d` up to `limit` that makes every weight a whole number of `1/d`.

    Example: 9 for the box blur (ninths), 16 for the Gaussian blur, 1 for the edge kernel.

    Args:
        kernel: `(k, k)` array of real numbers (float32 precision is enough).
        limit: Largest denominator to try, an integer >= 1.

    Returns:
        The denominator, or `None` when no `d <= limit` fits.

    Raises:
        ValueError: If `kernel` is not a square array of odd size or `limit` is not >= 1.
    """
    weights = as_kernel(kernel).astype(np.float64)
    limit = check_positive_int(limit, "limit")
    for d in range(1, limit + 1):
        scaled = weights * d
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=_FRACTION_TOLERANCE * max(d, 1)):
            return d
    return None


def clip_weight(value: float | None) -> tuple[float, str | None]:
    """A weight typed in the lab, brought within `±MAX_WEIGHT`.

    Args:
        value: The typed number; `None` for an emptied cell.

    Returns:
        `(weight, sentence)`: the weight to use, and one sentence for the student saying
        what was changed and why, or `None` when the value is kept as typed.
    """
    if value is None or math.isnan(value):
        return 0.0, "An empty weight counts as 0."
    limit = MAX_WEIGHT
    if abs(value) <= limit:
        return float(value), None
    clipped = math.copysign(limit, value)
    return clipped, f"A weight goes from -{limit:g} to {limit:g}, so {value:g} became {clipped:g}."
