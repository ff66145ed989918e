"""Argument checks of the convolution lab: what an image, a kernel, a size or an index must be.

Shared by `kernels`, `convolution` and `arithmetic`, so every function of the lab names a bad
argument in the same words (Keras's form: "Argument `x` must be …, received …").
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike


def as_image(image: ArrayLike, name: str = "image") -> np.ndarray:
    """Returns `image` as a non-empty 2-D array of finite real numbers.

    Args:
        image: Anything numpy reads as a `(height, width)` array of real numbers.
        name: The argument's name, for the error message.

    Returns:
        The `(height, width)` array, in its own dtype.

    Raises:
        ValueError: If `image` is not 2-D, is empty, holds no real numbers, or holds NaN or
            infinity.
    """
    try:
        array = np.asarray(image)
    except ValueError:
        # Ragged rows: read as objects so the shape check below names the argument.
        array = np.asarray(image, dtype=object)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"Argument `{name}` must be a non-empty 2-D array of shape (height, width), "
            f"received shape {array.shape}."
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"Argument `{name}` must hold real numbers, received dtype {array.dtype}."
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(
            f"Argument `{name}` must hold finite numbers, received NaN or infinity."
        )
    return array


def as_kernel(kernel: ArrayLike) -> np.ndarray:
    """Returns `kernel` as a square `(k, k) float32` array with odd `k`.

    Raises:
        ValueError: If `kernel` is not such an array of finite real numbers.
    """
    array = as_image(kernel, "kernel")
    if array.shape[0] != array.shape[1] or array.shape[0] % 2 == 0:
        raise ValueError(
            "Argument `kernel` must be a square 2-D array with an odd size, "
            f"received shape {array.shape}."
        )
    return array.astype(np.float32)


def check_fits(kernel: np.ndarray, image: np.ndarray) -> None:
    """Raises ValueError when `kernel` is larger than the smaller side of `image`."""
    if kernel.shape[0] > min(image.shape):
        raise ValueError(
            f"Argument `kernel` must be at most as large as the image {image.shape}, "
            f"received shape {kernel.shape}."
        )


def check_pool_size(pool_size: int, shape: tuple[int, int], image_name: str = "image") -> int:
    """Returns `pool_size` as an int from 1 to the smaller side of `shape`, else ValueError."""
    pool_size = check_positive_int(pool_size, "pool_size")
    if pool_size > min(shape):
        raise ValueError(
            f"Argument `pool_size` must be at most the smaller side of `{image_name}` {shape}, "
            f"received {pool_size}."
        )
    return pool_size


def check_positive_int(value: object, name: str) -> int:
    """Returns `value` as an int when it is an integer >= 1 (not a bool), else ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Argument `{name}` must be an integer >= 1, received {value!r}.")
    return int(value)


def check_index(value: object, name: str, limit: int, what: str) -> int:
    """Returns `value` as an int from 0 to `limit - 1`, else ValueError.

    Args:
        value: The index to check.
        name: The argument's name, for the error message.
        limit: How many rows (or columns) there are.
        what: What they are, e.g. "rows" or "pooled columns", for the error message.
    """
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or not 0 <= value < limit
    ):
        raise ValueError(
            f"Argument `{name}` must be an integer from 0 to {limit - 1} "
            f"(the output has {limit} {what}), received {value!r}."
        )
    return int(value)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """Returns `value` in lower case when it is one of `choices`, else ValueError."""
    if not isinstance(value, str) or value.lower() not in choices:
        expected = " or ".join(f'"{choice}"' for choice in choices)
        raise ValueError(f"Argument `{name}` must be {expected}, received {value!r}.")
    return value.lower()
