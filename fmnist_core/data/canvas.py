"""Read the drawing canvas's RGBA pixels as white ink on black, the dataset's way round.

The canvas widget returns `(h, w, 4) uint8` RGBA. With a transparent background the strokes
live only in the alpha channel; on an opaque canvas they are in the colours, dark on light or
light on dark. Either way the result is the ink as light levels on black, ready for the same
steps to 28×28 as an upload (`fmnist_core.data.preprocessing`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from fmnist_core.data.decoding import ImageError
from fmnist_core.data.pixels import BLANK_RANGE, LIGHT_BORDER, border_median, describe, spread

OPAQUE = 255  # the alpha of a pixel that hides what is behind it

_EMPTY_CANVAS = "The canvas is empty: draw something first."


def canvas_to_image(rgba: np.ndarray) -> Image.Image:
    """Reads a drawing canvas as white ink on black.

    With a transparent background the strokes live only in the alpha channel, so alpha is the
    ink. When the canvas is opaque everywhere the strokes are in the colours: those are read as
    gray and inverted when the background is light.

    Args:
        rgba: `(h, w, 4) uint8` RGBA array from the drawing canvas.

    Returns:
        A PIL image in mode "L", white ink on a black background.

    Raises:
        ImageError: Nothing is drawn.
        ValueError: `rgba` is not a `(h, w, 4) uint8` array.
    """
    if (
        not isinstance(rgba, np.ndarray)
        or rgba.dtype != np.uint8
        or rgba.ndim != 3
        or rgba.shape[2] != 4
        or rgba.size == 0
    ):
        raise ValueError(
            f"Argument `rgba` must be a (h, w, 4) uint8 array, received {describe(rgba)}."
        )
    alpha = rgba[..., 3]
    if alpha.min() == OPAQUE:
        ink = np.asarray(Image.fromarray(np.ascontiguousarray(rgba[..., :3])).convert("L"))
        if border_median(ink) > LIGHT_BORDER:
            ink = 255 - ink
    else:
        ink = alpha
    if spread(ink) < BLANK_RANGE:
        raise ImageError(_EMPTY_CANVAS)
    return Image.fromarray(np.ascontiguousarray(ink))
