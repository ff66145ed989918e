"""Hand-made kernels, convolution and pooling in numpy for the "convolution by hand" lab.

The classic Keras-tutorial lesson: an edge-detection kernel (centre 8, neighbours -1) slid
over a 28×28 Fashion-MNIST image gives a 26×26 feature map, and 2×2 max pooling shrinks it
to 13×13. Everything here is plain numpy so the lab can show every number a `Conv2D` /
`MaxPooling2D` pair would compute, one pixel at a time if the student asks.

Example:
    >>> feature_map = convolve2d(image, KERNELS["Edge detection (8 / −1)"])  # (26, 26)
    >>> pooled = pool2d(feature_map, 2, mode="max")  # (13, 13)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import types
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

PADDINGS = ("valid", "same")
POOL_MODES = ("max", "avg")
MAX_KERNEL_SIZE = 7
# Beyond ±255 a single weight on one bright pixel already saturates the drawn map.
MAX_WEIGHT = 255.0
READABLE_DIGITS = 3

# Text kernels: rows end at "/", ";", a new line or "]" (so "[[1,2],[3,4]]" pastes too);
# numbers are split by spaces, commas or "[".
_ROW_SEPARATORS = re.compile(r"[/;\n\]]")
_NUMBER_SEPARATORS = re.compile(r"[\s,\[]+")
# Unicode minus and en dash, as typed on phones or copied from slides and papers.
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2013": "-"})


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
    image = _as_image(image).astype(np.float64)
    kernel = _as_kernel(kernel)
    padding = _check_choice(padding, "padding", PADDINGS)
    stride = _check_int(stride, "stride")
    _check_fits(kernel, image)
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
    image = _as_image(image).astype(np.float64)
    pool_size = _check_pool_size(pool_size, image.shape)
    mode = _check_choice(mode, "mode", POOL_MODES)
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
    image = _as_image(image)
    return np.clip(np.rint(image.astype(np.float64)), 0, 255).astype(np.uint8)


def normalize_for_display(image: ArrayLike) -> np.ndarray:
    """Stretches `image` so its minimum is 0 and its maximum 255.

    Unlike `clip_to_uint8` this keeps negative responses visible (as the darker grays).

    Args:
        image: `(height, width)` array of any real dtype.

    Returns:
        `(height, width) uint8` array; all zeros when `image` is constant.
    """
    image = _as_image(image).astype(np.float64)
    low, high = image.min(), image.max()
    if high == low:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.rint((image - low) * (255.0 / (high - low))).astype(np.uint8)


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
    image = _as_image(image).astype(np.float64)
    kernel = _as_kernel(kernel)
    _check_fits(kernel, image)
    size = kernel.shape[0]
    row = _check_index(row, "row", image.shape[0] - size + 1, "rows")
    col = _check_index(col, "col", image.shape[1] - size + 1, "columns")
    patch = image[row : row + size, col : col + size]
    # Same code path as convolve2d, so `total` matches the feature map bit for bit.
    total = float(_correlate(patch[np.newaxis, np.newaxis], kernel)[0, 0])
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
    feature_map = _as_image(feature_map, "feature_map")
    pool_size = _check_pool_size(pool_size, feature_map.shape, "feature_map")
    mode = _check_choice(mode, "mode", POOL_MODES)
    row = _check_index(row, "row", feature_map.shape[0] // pool_size, "pooled rows")
    col = _check_index(col, "col", feature_map.shape[1] // pool_size, "pooled columns")
    window = feature_map[
        row * pool_size : (row + 1) * pool_size, col * pool_size : (col + 1) * pool_size
    ]
    value = float(pool2d(window, pool_size, mode=mode)[0, 0])
    return window.astype(np.float32), value


def parse_kernel(text_or_rows: str | ArrayLike) -> np.ndarray:
    """Reads a kernel typed by a student.

    Accepted forms, all meaning the edge-detection kernel:
    `"−1 −1 −1 / −1 8 −1 / −1 −1 −1"`, three lines of three numbers (spaces or commas),
    `"[[-1,-1,-1],[-1,8,-1],[-1,-1,-1]]"`, or the nested list itself. The unicode minus
    `−` counts as a minus sign.

    Args:
        text_or_rows: Text as above, or a sequence of rows of numbers.

    Returns:
        `(k, k) float32` array with odd `k` from 1 to 7.

    Raises:
        ValueError: With one sentence naming the problem: a value that is not a number,
            NaN or infinity, rows of different lengths, a non-square or even-sized kernel.
    """
    name = "text_or_rows"
    if isinstance(text_or_rows, str):
        lines = _ROW_SEPARATORS.split(text_or_rows.translate(_MINUS_SIGNS))
        rows = [_split_numbers(line) for line in lines]
        rows = [row for row in rows if row]
    elif isinstance(text_or_rows, (list, tuple, np.ndarray)):
        rows = [_as_row(row, index, name) for index, row in enumerate(text_or_rows, 1)]
    else:
        raise ValueError(
            f"Argument `{name}` must be text or a list of rows of numbers, "
            f"received {type(text_or_rows).__name__}."
        )
    if not rows:
        raise ValueError(
            f"Argument `{name}` must contain at least one row of numbers, received none."
        )
    values = [
        [_as_number(value, index, name) for value in row] for index, row in enumerate(rows, 1)
    ]
    lengths = [len(row) for row in values]
    if len(set(lengths)) > 1:
        raise ValueError(
            f"Argument `{name}` must have the same number of values in every row, "
            f"received rows of lengths {lengths}."
        )
    if len(values) != lengths[0]:
        raise ValueError(
            f"Argument `{name}` must describe a square kernel, "
            f"received {len(values)} rows of {lengths[0]} values."
        )
    size = len(values)
    if size % 2 == 0 or size > MAX_KERNEL_SIZE:
        raise ValueError(
            f"Argument `{name}` must describe a kernel of odd size from 1 to {MAX_KERNEL_SIZE} "
            f"(1×1, 3×3, 5×5 or 7×7), received {size}×{size}."
        )
    return np.asarray(values, dtype=np.float32)


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
    kernel = _as_kernel(kernel)
    digits = _check_int(digits, "digits")
    return np.vectorize(lambda w: float(f"{w:.{digits}g}"), otypes=[np.float64])(kernel)


def common_denominator(kernel: ArrayLike, limit: int = 64) -> int | None:
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
    weights = _as_kernel(kernel).astype(np.float64)
    limit = _check_int(limit, "limit")
    for d in range(1, limit + 1):
        scaled = weights * d
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-5 * max(d, 1)):
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
    input_size = _check_int(input_size, "input_size")
    kernel_size = _check_int(kernel_size, "kernel_size")
    pool_size = _check_int(pool_size, "pool_size")
    padding = _check_choice(padding, "padding", PADDINGS)
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


def _as_image(image: ArrayLike, name: str = "image") -> np.ndarray:
    try:
        array = np.asarray(image)
    except ValueError:
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


def _as_kernel(kernel: ArrayLike) -> np.ndarray:
    array = _as_image(kernel, "kernel")
    if array.shape[0] != array.shape[1] or array.shape[0] % 2 == 0:
        raise ValueError(
            "Argument `kernel` must be a square 2-D array with an odd size, "
            f"received shape {array.shape}."
        )
    return array.astype(np.float32)


def _as_row(row: object, index: int, name: str) -> list:
    if isinstance(row, str):
        return _split_numbers(row.translate(_MINUS_SIGNS))
    if isinstance(row, (list, tuple, np.ndarray)):
        return list(row)
    raise ValueError(
        f"Argument `{name}` must be a list of rows of numbers, received {row!r} as row {index}."
    )


def _split_numbers(line: str) -> list[str]:
    return [token for token in _NUMBER_SEPARATORS.split(line) if token]


def _as_number(value: object, index: int, name: str) -> float:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
    else:
        number = None
    if number is None:
        raise ValueError(
            f"Argument `{name}` must contain only numbers, received {value!r} in row {index}."
        )
    if not np.isfinite(number):
        raise ValueError(
            f"Argument `{name}` must contain finite numbers, received {value!r} in row {index}."
        )
    return number


def _check_fits(kernel: np.ndarray, image: np.ndarray) -> None:
    if kernel.shape[0] > min(image.shape):
        raise ValueError(
            f"Argument `kernel` must be at most as large as the image {image.shape}, "
            f"received shape {kernel.shape}."
        )


def _check_pool_size(pool_size: int, shape: tuple[int, int], image_name: str = "image") -> int:
    pool_size = _check_int(pool_size, "pool_size")
    if pool_size > min(shape):
        raise ValueError(
            f"Argument `pool_size` must be at most the smaller side of `{image_name}` {shape}, "
            f"received {pool_size}."
        )
    return pool_size


def _check_int(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Argument `{name}` must be an integer >= 1, received {value!r}.")
    return int(value)


def _check_index(value: object, name: str, limit: int, what: str) -> int:
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


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        expected = " or ".join(f'"{choice}"' for choice in choices)
        raise ValueError(f"Argument `{name}` must be {expected}, received {value!r}.")
    return value.lower()


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float32)
    array.flags.writeable = False
    return array


def _format_number(value: float) -> str:
    """Integers without a decimal point, others to at most 4 decimals: `8`, `0.1111`."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _format_operand(value: float) -> str:
    text = _format_number(value)
    return f"({text})" if text.startswith("-") else text
