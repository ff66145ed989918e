"""Measures of a gray picture that the canvas, the photo model and the preprocessing share.

The border (its median says whether the background is light or dark), the spread between the
darkest and the lightest pixel (too small a spread is a blank picture), and a standard
deviation that a few outliers cannot move (the noise of a background with an object on it);
and how an array argument is named in an error message.

Typical use:

    light = border_median(gray) > LIGHT_BORDER
    blank = spread(gray) < BLANK_RANGE
"""

from __future__ import annotations

import numpy as np

# Out of 255: a border whose median is above this is a light background (paper, a white
# canvas), else a dark one. 127 is the last level of the darker half of 0..255, and a median
# of whole levels is a whole or a half level, so 127.5 and above count as light.
LIGHT_BORDER = 127
# Out of 255: a spread below this is blank (JPEG noise on a white page stays under it).
BLANK_RANGE = 12
# The median absolute deviation of a normal distribution is 0.6745 of its standard
# deviation: 1 / 0.6745 = 1.4826 turns one into the other.
MAD_TO_SIGMA = 1.4826


def border_pixels(gray: np.ndarray) -> np.ndarray:
    """Returns the outermost rows and columns of `(h, w)` as one flat array.

    The corners appear twice, once in their row and once in their column.
    """
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def border_median(gray: np.ndarray) -> float:
    """Returns the median of the outermost pixels of `(h, w)`: the background's level when
    the object leaves most of the border free."""
    return float(np.median(border_pixels(gray)))


def spread(values: np.ndarray) -> int:
    """Returns max - min of a uint8 array."""
    return int(values.max()) - int(values.min())


def robust_std(values: np.ndarray) -> float:
    """Robust standard deviation: MAD_TO_SIGMA × the median absolute deviation; 0 when empty."""
    if values.size == 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def describe(value) -> str:
    """Describes an argument for an error message: an array's shape and dtype, else its type."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__
