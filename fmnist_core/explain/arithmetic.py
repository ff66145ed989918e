"""The arithmetic behind one output pixel of the convolution lab, and behind one pooled pixel.

A student picks a pixel of the feature map and sees the patch of the image under the kernel,
the nine products and their sum written out, e.g. `(-1×0) + (-1×12) + … + (8×20) + … = 95`;
then the 2×2 window that max pooling reduced to one value. The totals come from the same code
as `fmnist_core.explain.convolution`, so they match the maps drawn beside them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from fmnist_core.explain.convolution import POOL_MODES, convolve2d, pool2d
from fmnist_core.explain.labchecks import (as_image, as_kernel, check_choice, check_fits,
                                           check_index, check_pool_size)

# Decimals shown for a weight or a pixel that is not a whole number: enough to tell 1/9
# (0.1111) from 0.11 while the written-out sum of nine products stays on a line or two.
FORMULA_DECIMALS = 4


@dataclasses.dataclass(frozen=True, eq=False)
class PixelExplanation:
    """The arithmetic behind one output pixel of a valid convolution.

    Attributes:
        row: Output row, in `[0, height - k]`.
        col: Output column, in `[0, width - k]`.
        patch: `(k, k) float32` input pixels under the kernel, read-only.
        kernel: `(k, k) float32` kernel, read-only.
        products: `(k, k) float32` element-wise `kernel * patch`, read-only.
        total: Sum of the products; equals `convolve2d(image, kernel)[row, col]`.
        formula: The sum written out, e.g. `"(-1×0) + (-1×12) + … = 95"`.
    """

    row: int
    col: int
    patch: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    total: float
    formula: str


def explain_pixel(image: ArrayLike, kernel: ArrayLike, row: int, col: int) -> PixelExplanation:
    """Shows the arithmetic of output pixel `(row, col)` of the valid convolution.

    Args:
        image: `(height, width)` array of any real dtype.
        kernel: `(k, k)` array with odd `k`, at most as large as `image`.
        row: Output row, an integer from 0 to `height - k`.
        col: Output column, an integer from 0 to `width - k`.

    Returns:
        A `PixelExplanation` whose `total` equals `convolve2d(image, kernel)[row, col]`.

    Raises:
        ValueError: If an argument has the wrong shape, type or value.
    """
    image = as_image(image).astype(np.float64)
    kernel = as_kernel(kernel)
    check_fits(kernel, image)
    size = kernel.shape[0]
    row = check_index(row, "row", image.shape[0] - size + 1, "rows")
    col = check_index(col, "col", image.shape[1] - size + 1, "columns")
    patch = image[row : row + size, col : col + size]
    # The valid convolution of the patch itself: the same code as the whole feature map, so
    # `total` matches it bit for bit.
    total = float(convolve2d(patch, kernel)[0, 0])
    terms = " + ".join(
        f"({_format_number(weight)}×{_format_operand(pixel)})"
        for weight, pixel in zip(kernel.ravel(), patch.ravel())
    )
    return PixelExplanation(
        row=row,
        col=col,
        patch=_read_only(patch),
        kernel=_read_only(kernel),
        products=_read_only(kernel * patch),
        total=total,
        formula=f"{terms} = {_format_number(total)}",
    )


def explain_pool(
    feature_map: ArrayLike, row: int, col: int, pool_size: int = 2, mode: str = "max"
) -> tuple[np.ndarray, float]:
    """Returns the window behind pooled pixel `(row, col)` and the value pooling keeps.

    Args:
        feature_map: `(height, width)` array of any real dtype.
        row: Pooled row, an integer from 0 to `height // pool_size - 1`.
        col: Pooled column, an integer from 0 to `width // pool_size - 1`.
        pool_size: Window side and stride, as in `pool2d`.
        mode: `"max"` or `"avg"`, as in `pool2d`.

    Returns:
        `(window, value)`: the `(pool_size, pool_size) float32` window and
        `pool2d(feature_map, pool_size, mode=mode)[row, col]` as a float.

    Raises:
        ValueError: If an argument has the wrong shape, type or value.
    """
    feature_map = as_image(feature_map, "feature_map")
    pool_size = check_pool_size(pool_size, feature_map.shape, "feature_map")
    mode = check_choice(mode, "mode", POOL_MODES)
    row = check_index(row, "row", feature_map.shape[0] // pool_size, "pooled rows")
    col = check_index(col, "col", feature_map.shape[1] // pool_size, "pooled columns")
    window = feature_map[
        row * pool_size : (row + 1) * pool_size, col * pool_size : (col + 1) * pool_size
    ]
    value = float(pool2d(window, pool_size, mode=mode)[0, 0])
    return window.astype(np.float32), value


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float32)
    array.flags.writeable = False
    return array


def _format_number(value: float) -> str:
    """Integers without a decimal point, others to at most 4 decimals: `8`, `0.1111`."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    text = f"{value:.{FORMULA_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _format_operand(value: float) -> str:
    text = _format_number(value)
    return f"({text})" if text.startswith("-") else text
