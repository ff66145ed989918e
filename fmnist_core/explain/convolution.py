"""Convolution and pooling in numpy, computed as `Conv2D` and `MaxPooling2D` compute them.

The classic Keras-tutorial lesson of the "convolution by hand" lab: an edge-detection kernel
(centre 8, neighbours -1) slid over a 28×28 Fashion-MNIST image gives a 26×26 feature map, and
2×2 max pooling shrinks it to 13×13. Plain numpy, so the lab can show every number; the
arithmetic of one output pixel is in `fmnist_core.explain.arithmetic`, the kernels themselves
in `fmnist_core.explain.kernels`.

Example:
    >>> feature_map = convolve2d(image, KERNELS["Edge detection (8 / −1)"])  # (26, 26)
    >>> pooled = pool2d(feature_map, 2, mode="max")  # (13, 13)
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from fmnist_core.explain.labchecks import (as_image, as_kernel, check_choice, check_fits,
                                           check_pool_size, check_positive_int)

PADDINGS = ("valid", "same")
POOL_MODES = ("max", "avg")


def convolve2d(
    image: ArrayLike, kernel: ArrayLike, *, padding: str = "valid", stride: int = 1
) -> np.ndarray:
    """Slides `kernel` over `image` the way `keras.layers.Conv2D` does.

    This is cross-correlation, like `Conv2D`: the kernel is not flipped, so output pixel
    `(i, j)` is `sum(kernel * image[i:i + k, j:j + k])` (with `stride` 1).

    Args:
        image: `(height, width)` array of any real dtype, e.g. a `(28, 28) uint8` image.
        kernel: `(k, k)` array with odd `k`, at most as large as `image`.
        padding: `"valid"` (no padding, the map shrinks by `k - 1`) or `"same"` (zero
            padding placed as Keras places it, the map keeps `ceil(size / stride)`).
        stride: Step between neighbouring windows, an integer >= 1.

    Returns:
        `float32` feature map: `((height - k) // stride + 1, (width - k) // stride + 1)` for
        `"valid"`, `(ceil(height / stride), ceil(width / stride))` for `"same"`.

    Raises:
        ValueError: If an argument has the wrong shape, type or value.
    """
    image = as_image(image).astype(np.float64)
    kernel = as_kernel(kernel)
    padding = check_choice(padding, "padding", PADDINGS)
    stride = check_positive_int(stride, "stride")
    check_fits(kernel, image)
    size = kernel.shape[0]
    if padding == "same":
        image = np.pad(image, [_same_padding(side, size, stride) for side in image.shape])
    windows = sliding_window_view(image, (size, size))[::stride, ::stride]
    return _correlate(windows, kernel)


def pool2d(image: ArrayLike, pool_size: int = 2, *, mode: str = "max") -> np.ndarray:
    """Pools non-overlapping `pool_size × pool_size` windows, like `MaxPooling2D`.

    Rows and columns that do not fill a whole window are dropped (Keras's `padding="valid"`),
    so 26 → 13 and 13 → 6 with `pool_size=2`.

    Args:
        image: `(height, width)` array of any real dtype, usually a feature map.
        pool_size: Window side and stride, an integer from 1 to `min(height, width)`.
        mode: `"max"` (like `MaxPooling2D`) or `"avg"` (like `AveragePooling2D`).

    Returns:
        `(height // pool_size, width // pool_size) float32` array.

    Raises:
        ValueError: If an argument has the wrong shape, type or value.
    """
    image = as_image(image).astype(np.float64)
    pool_size = check_pool_size(pool_size, image.shape)
    mode = check_choice(mode, "mode", POOL_MODES)
    rows, cols = image.shape[0] // pool_size, image.shape[1] // pool_size
    blocks = image[: rows * pool_size, : cols * pool_size].reshape(
        rows, pool_size, cols, pool_size
    )
    pooled = blocks.max(axis=(1, 3)) if mode == "max" else blocks.mean(axis=(1, 3))
    return pooled.astype(np.float32)


def clip_to_uint8(image: ArrayLike) -> np.ndarray:
    """Rounds and clips to 0..255, the classic tutorial's way of showing a feature map.

    Negative responses become black and responses above 255 saturate to white, so the
    picture shows where the kernel fired, not how strongly.

    Args:
        image: `(height, width)` array of any real dtype.

    Returns:
        `(height, width) uint8` array.
    """
    image = as_image(image)
    return np.clip(np.rint(image.astype(np.float64)), 0, 255).astype(np.uint8)


def normalize_for_display(image: ArrayLike) -> np.ndarray:
    """Stretches `image` so its minimum is 0 and its maximum 255.

    Unlike `clip_to_uint8` this keeps negative responses visible (as the darker grays).

    Args:
        image: `(height, width)` array of any real dtype.

    Returns:
        `(height, width) uint8` array; all zeros when `image` is constant.
    """
    image = as_image(image).astype(np.float64)
    low, high = image.min(), image.max()
    if high == low:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.rint((image - low) * (255.0 / (high - low))).astype(np.uint8)


def output_shape(
    input_size: int, kernel_size: int, pool_size: int = 2, padding: str = "valid"
) -> tuple[int, int]:
    """Side lengths after one convolution and one pooling, e.g. `(28, 3, 2)` → `(26, 13)`.

    Args:
        input_size: Side of the square input image, an integer >= 1.
        kernel_size: Side of the square kernel, an integer from 1 to `input_size`.
        pool_size: Side of the pooling window, an integer from 1 to the convolution output.
        padding: `"valid"` or `"same"`, as in `convolve2d` with stride 1.

    Returns:
        `(conv_size, pooled_size)`.

    Raises:
        ValueError: If an argument is not a positive integer, the kernel is larger than the
            input, or the pooling window is larger than the convolution output.
    """
    input_size = check_positive_int(input_size, "input_size")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    pool_size = check_positive_int(pool_size, "pool_size")
    padding = check_choice(padding, "padding", PADDINGS)
    if kernel_size > input_size:
        raise ValueError(
            f"Argument `kernel_size` must be at most `input_size` ({input_size}), "
            f"received {kernel_size}."
        )
    conv_size = input_size - kernel_size + 1 if padding == "valid" else input_size
    if pool_size > conv_size:
        raise ValueError(
            f"Argument `pool_size` must be at most the convolution output size ({conv_size}), "
            f"received {pool_size}."
        )
    return conv_size, conv_size // pool_size


def _correlate(windows: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`(rows, cols, k, k) float64` windows · `(k, k)` kernel → `(rows, cols) float32`."""
    # Accumulating in float64 keeps integer sums exact (uint8 pixels × integer weights).
    return np.einsum("ijkl,kl->ij", windows, kernel.astype(np.float64)).astype(np.float32)


def _same_padding(side: int, size: int, stride: int) -> tuple[int, int]:
    """Zero padding before and after one axis, placed as TensorFlow / Keras place it."""
    out = -(-side // stride)
    total = max((out - 1) * stride + size - side, 0)
    return total // 2, total - total // 2
