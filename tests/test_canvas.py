"""Tests for fmnist_core.data.canvas: the drawing canvas read as white ink on black."""

from __future__ import annotations

import numpy as np
import pytest
from corpora import border_mean, draw_canvas

from fmnist_core.data.canvas import canvas_to_image
from fmnist_core.data.decoding import ImageError
from fmnist_core.data.preprocessing import preprocess


@pytest.mark.parametrize("opaque", [False, True], ids=["transparent", "opaque"])
def test_canvas_gives_white_ink_on_black(opaque):
    canvas = draw_canvas(opaque)
    if not opaque:
        assert not canvas[..., :3].any(), "the ink should be only in the alpha channel"

    ink = np.asarray(canvas_to_image(canvas))
    result = preprocess(canvas)

    assert ink.shape == (200, 200) and ink[0, 0] == 0 and ink[95, 70] == 255
    assert result.image.shape == (28, 28) and result.image.max() > 200
    assert border_mean(result.image) < result.image[9:19, 9:19].mean()


def test_light_strokes_on_a_dark_opaque_canvas_are_kept_as_they_are():
    canvas = 255 - draw_canvas(opaque=True)
    canvas[..., 3] = 255

    ink = np.asarray(canvas_to_image(canvas))

    assert ink[0, 0] == 0 and ink[95, 70] == 255


@pytest.mark.parametrize("opaque", [False, True], ids=["transparent", "opaque"])
def test_empty_canvas_asks_to_draw(opaque):
    canvas = np.full((200, 200, 4), 255 if opaque else 0, dtype=np.uint8)

    with pytest.raises(ImageError, match=r"^The canvas is empty: draw something first\.$"):
        preprocess(canvas)
    with pytest.raises(ImageError, match=r"^The canvas is empty"):
        canvas_to_image(canvas)


@pytest.mark.parametrize(
    "bad", [np.zeros((20, 20, 3), np.float32), np.zeros((20, 20), np.uint8), "canvas"]
)
def test_canvas_rejects_wrong_arrays(bad):
    with pytest.raises(ValueError, match=r"^Argument `rgba` must be a \(h, w, 4\) uint8 array"):
        canvas_to_image(bad)
