"""What a photo's background looks like, and where the object in front of it is.

A photo of a garment is not a clean drawing: the paper is lit unevenly (gradients, shadows,
vignetting), the sensor adds noise and JPEG adds artefacts. This module measures the noise
from the photo itself, models the background as a smooth surface, evens that background out
to pure white or black, and finds the box around the object, or says that there is none.
Numpy and Pillow only.

Typical use (inside `fmnist_core.data.preprocessing.preprocess`):

    image, full_size = shrink(image, image.size)     # at most WORK_EDGE pixels across
    background = estimate_background(gray, light=True)
    box = find_object(gray, background)   # None: nothing in the picture stands out
    flat = flatten(gray, background)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from fmnist_core.data import surface
from fmnist_core.data.pixels import MAD_TO_SIGMA, border_pixels, robust_std, spread

# Photos are reduced to this longest edge first: ample for a 28×28 result, and fast.
WORK_EDGE = 640
# A picture no larger than the dataset's own 28×28 is taken as it is (no photo model).
DATASET_EDGE = 28
# Out of 255: a pixel this far from the background belongs to the object. Noisy photos use a
# higher threshold, NOISE_THRESHOLD times their noise level.
MIN_THRESHOLD = 24
NOISE_THRESHOLD = 2.0
# Flattening turns pixels within this many times the noise of the background into background.
NOISE_CLIP = 2.5
# Out of 255: a background this close to pure white (or black) everywhere, whose noise
# clipping would also move it less than this, is left as it is.
EVEN_TOLERANCE = 6
# Edge sharpness (see `sharpness`) that an object must reach: garments in photos measure 0.24
# or more, a soft shadow or a stain of light 0.12 at most, even under heavy noise.
MIN_SHARPNESS = 0.17
# The surface is fitted to the means of blocks, about this many per side: plenty for its 10
# coefficients, and each averages away most of the noise of its pixels.
_BLOCKS = 32
# The border band taken to be background: this part of the shorter side, at least
# MIN_BAND pixels (two, so neighbouring pixels across the band can be compared).
BAND_FRACTION = 0.04
MIN_BAND = 2
# Below this shorter side the border bands (MIN_BAND wide at least) of opposite edges overlap:
# no noise is measured (0).
MIN_NOISE_EDGE = 4
# Pictures with a shorter side below this get one background level, not a surface: too few
# blocks for its coefficients.
MIN_SURFACE_EDGE = 8
# Out of 255: a noise-free border whose levels spread no more than this is uniform (a drawing,
# a clean export): one level, not a surface.
UNIFORM_BORDER_SPREAD = 2
# Out of 255: a block within this of the surface is background however small the spread of
# the blocks (a clean photo's block means still sit a level or so off a smooth surface); with
# noise, a block within TOLERANCE_NOISES times the noise of a block mean is too.
MIN_TOLERANCE = 3.0
TOLERANCE_NOISES = 3
# In a noisy photo, a row or column of the object needs a hundredth of the picture's other side
# in object pixels (at least one), so that stray noise does not widen the box.
LINE_DIVISOR = 100
# Side of the median filter that takes noise out before the object is looked for: 3×3 is the
# smallest that removes a one-pixel speck, and it keeps edges.
_SPECK_FILTER = 3
# Boxes smaller than this on their longest side are too small to judge an edge's sharpness.
MIN_SHARP_BOX = 8
# `sharpness` reduces what stands out to about this many pixels across (64 to 127), so the
# measure does not depend on the photo's size; its blurs span a sixty-fourth of that (to
# leave noise out) and a sixteenth (to take an edge's contrast away, not a shading's), over a
# margin of an eighth around the box; the 99th percentile, not the extreme, so that a few
# noisy pixels do not decide.
SHARPNESS_EDGE = 64
_NOISE_BLUR = 64
_EDGE_BLUR = 16
_MARGIN_DIVISOR = 8
_PERCENTILE = 99


@dataclass(frozen=True)
class Background:
    """A photo's background.

    Attributes:
        light: True when the background is light and the object darker than it.
        level: `(h, w) float32` background brightness at each pixel, 0 to 255.
        noise: Standard deviation of the sensor noise, out of 255.
        exact: True for a picture in the dataset's own format (at most 28×28): every pixel
            that is not exactly the background level belongs to the object.
    """

    light: bool
    level: np.ndarray
    noise: float
    exact: bool = False

    @property
    def threshold(self) -> float:
        """How far from the background, out of 255, a pixel must be to belong to the object."""
        if self.exact:
            return 0.0
        return max(MIN_THRESHOLD, NOISE_THRESHOLD * self.noise)

    @property
    def even(self) -> bool:
        """True when the background is already pure white (or black) and nearly noise-free."""
        target = 255.0 if self.light else 0.0
        spread = float(np.abs(self.level - target).max())
        return spread <= EVEN_TOLERANCE and self.noise <= EVEN_TOLERANCE / NOISE_CLIP

    @property
    def note(self) -> str:
        """One sentence saying how `flatten` evens out this background."""
        low, high = float(self.level.min()), float(self.level.max())
        levels = f"levels {low:.0f}–{high:.0f}"
        if round(high) - round(low) < 2:
            levels = f"level {low:.0f}"
        noise = f" with noise ±{self.noise:.0f}" if self.noise >= 1 else ""
        target = "white, so it turns black after inversion" if self.light else "black"
        return f"The background ({levels}{noise}) was evened out to {target}."


def shrink(
    image: Image.Image, full_size: tuple[int, int]
) -> tuple[Image.Image, tuple[int, int] | None]:
    """Reduces a photo to WORK_EDGE on its longest side.

    Args:
        image: The decoded picture, perhaps already reduced while decoding.
        full_size: The picture's full (width, height).

    Returns:
        The image, at most WORK_EDGE on its longest side, and the picture's full `(h, w)`
        when it was larger than that, else None.
    """
    width, height = image.size
    if max(width, height) > WORK_EDGE:
        scale = WORK_EDGE / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # reducing_gap: a fast box reduction first, then a proper filter over the last 2×.
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if max(full_size) <= WORK_EDGE:
        return image, None
    return image, (full_size[1], full_size[0])


def noise_level(gray: np.ndarray) -> float:
    """Estimates the sensor noise of a photo from its border, where the background is.

    Neighbouring pixels of a smooth background differ only by noise: their difference has a
    standard deviation of √2 σ. The median absolute difference (× MAD_TO_SIGMA for a normal
    distribution) ignores the few object edges that reach the border.

    Args:
        gray: `(h, w) uint8` image.

    Returns:
        The noise's standard deviation σ, out of 255; 0 for a clean picture.
    """
    height, width = gray.shape
    band = _band(gray.shape)
    if min(height, width) < MIN_NOISE_EDGE:
        return 0.0
    pixels = gray.astype(np.int16)
    strips = (pixels[:band], pixels[-band:], pixels[:, :band].T, pixels[:, -band:].T)
    differences = np.concatenate([np.abs(np.diff(strip, axis=1)).ravel() for strip in strips])
    return float(MAD_TO_SIGMA * np.median(differences) / np.sqrt(2))


def estimate_background(gray: np.ndarray, light: bool) -> Background:
    """Models the background of a photo as a smooth surface.

    A cubic surface in x and y follows a gradient, a vignette, both at once, or a broad
    shadow (see `fmnist_core.data.surface`). It is fitted to the means of blocks of pixels,
    first along the photo's border, then everywhere near that first fit, each time leaving
    out the blocks that sit far off it (the object). The noise is measured along the border
    (`noise_level`) and around the surface, whichever is more.

    Args:
        gray: `(h, w) uint8` image.
        light: True when the background is light (the object darker).

    Returns:
        The background: its level at every pixel and the noise level.
    """
    height, width = gray.shape
    noise = noise_level(gray)
    edge = border_pixels(gray)
    # A picture no larger than the dataset's own 28×28 is an image in the dataset's format
    # (one saved from the Data page, say), not a photo: a garment there often touches the
    # border, where a surface or a noise model would take it for background.
    if max(height, width) <= DATASET_EDGE:
        return _dataset_background(gray, edge, light)
    # Too small for a surface, or a drawing (a clean, uniform border): one level.
    if min(height, width) < MIN_SURFACE_EDGE or (
        noise == 0 and spread(edge) <= UNIFORM_BORDER_SPREAD
    ):
        level = np.full(gray.shape, float(np.median(edge)), dtype=np.float32)
        return Background(light=light, level=level, noise=noise)
    return _surface_background(gray, light, noise)


def _dataset_background(gray: np.ndarray, edge: np.ndarray, light: bool) -> Background:
    """The one, exact background level of a picture in the dataset's own format."""
    # The border's extreme, not its median: a garment that fills the frame covers most
    # of the border, and the dataset's background is the darkest level on it (0 in
    # every one of its 70,000 images), or the lightest once a picture is light on dark.
    level = float(edge.max() if light else edge.min())
    return Background(light=light, level=np.full(gray.shape, level, np.float32), noise=0.0,
                      exact=True)


def _surface_background(gray: np.ndarray, light: bool, noise: float) -> Background:
    """The background of a photo as a surface fitted to its block means, and its noise."""
    height, width = gray.shape
    # The surface is fitted to block means, where the noise is averaged away: a faint
    # object then stands out from the background by more than the noise.
    step = max(1, max(height, width) // _BLOCKS)
    image = Image.fromarray(np.ascontiguousarray(gray))
    blocks = np.asarray(image.reduce(step) if step > 1 else image, dtype=np.float64)
    band = -(-_band(gray.shape) // step)
    # The noise of a mean of step × step pixels is the pixels' noise over step.
    tolerance = max(MIN_TOLERANCE, TOLERANCE_NOISES * noise / step)
    coefficients, chosen = surface.fit(blocks, step, band, gray.shape, tolerance)
    level = surface.evaluate(coefficients, height, width)
    # Noise that JPEG smoothed over a few pixels hides from neighbour differences but not
    # from the spread of the background's pixels around the surface.
    pixels = gray[::step, ::step].astype(np.float32) - level[::step, ::step]
    noise = max(noise, robust_std(pixels[chosen]))
    return Background(light=light, level=np.clip(level, 0, 255), noise=noise)


def flatten(gray: np.ndarray, background: Background) -> np.ndarray:
    """Evens out the background to pure white (light) or black (dark), noise included.

    Brightness is divided by the light that fell on each pixel, so the object keeps its
    contrast in the shadow as in full light. Pixels within a few noise levels of the
    background become background.

    Args:
        gray: `(h, w) uint8` image.
        background: The image's background, from `estimate_background`.

    Returns:
        `(h, w) uint8` image with an even background.
    """
    pixels = gray.astype(np.float32)
    margin = NOISE_CLIP * background.noise
    # White at least 1 and black at most 254: the division stays finite on any background.
    if background.light:
        white = np.maximum(background.level - margin, 1.0)
        flat = 255 * pixels / white
    else:
        black = np.minimum(background.level + margin, 254.0)
        flat = 255 * (pixels - black) / (255 - black)
    return np.clip(np.rint(flat), 0, 255).astype(np.uint8)


def find_object(gray: np.ndarray, background: Background) -> tuple[int, int, int, int] | None:
    """Finds the box around the object in front of an even background.

    Noise is taken out first with a 3×3 median (it removes specks, keeps edges). A pixel
    belongs to the object when it differs from the background by more than MIN_THRESHOLD,
    or NOISE_THRESHOLD times the noise when that is more; in a noisy photo, rows and columns
    with only a stray pixel or two do not widen the box. What stands out must also have
    edges: an object is sharp, a shadow or a stain of light is soft (see `sharpness`).

    Args:
        gray: `(h, w) uint8` image.
        background: The image's background, from `estimate_background`.

    Returns:
        (top, bottom, left, right) of the box, bottom and right exclusive, or None when
        nothing in the picture stands out.
    """
    height, width = gray.shape
    flat = flatten(gray, background)
    away = 255 - flat if background.light else flat
    if background.noise > 0 and min(height, width) >= _SPECK_FILTER:
        away = np.asarray(Image.fromarray(away).filter(ImageFilter.MedianFilter(_SPECK_FILTER)))
    shape = away > background.threshold
    # In a noisy photo a row or column needs a few pixels of the object; a clean picture
    # has no stray pixels, so there one is enough (the tip of a pen stroke).
    noisy = background.noise > 0
    rows = np.flatnonzero(shape.sum(axis=1) >= (_min_line(width) if noisy else 1))
    cols = np.flatnonzero(shape.sum(axis=0) >= (_min_line(height) if noisy else 1))
    if rows.size == 0 or cols.size == 0:
        return None
    box = int(rows[0]), int(rows[-1] + 1), int(cols[0]), int(cols[-1] + 1)
    # A drawing (an even, noise-free background) or a picture in the dataset's format is all
    # deliberate strokes, and a box of a few pixels has too few of them to judge an edge.
    drawing = (background.even and not noisy) or background.exact
    if drawing or max(box[1] - box[0], box[3] - box[2]) < MIN_SHARP_BOX:
        return box
    if sharpness(_contrast(gray, background), box) < MIN_SHARPNESS:
        return None
    return box


def sharpness(contrast: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """How sharp the edges of what stands out are: the part of its contrast that a blur over
    a sixteenth of its size takes away.

    At an object's edge the blur takes away about half the contrast; a smooth shading loses
    almost nothing. Percentiles rather than extremes keep a few noisy pixels from deciding.

    Args:
        contrast: `(h, w) float` contrast of each pixel with the background, -255 to 255,
            positive towards the object; noise included: it is measured, not clipped.
        box: (top, bottom, left, right) of what stands out, bottom and right exclusive.

    Returns:
        The 99th percentile of (image - blurred image) in and around the box over the 99th
        percentile of the image there: near 0 for a soft shading, 0.3 to 0.5 for an object.
    """
    top, bottom, left, right = box
    # A margin for the blur to see the background around the object, then a reduction to
    # about SHARPNESS_EDGE pixels across: the measure does not depend on the photo's size,
    # and is fast.
    margin = max(bottom - top, right - left) // _MARGIN_DIVISOR + 1
    height, width = contrast.shape
    region = contrast[
        max(0, top - margin) : min(height, bottom + margin),
        max(0, left - margin) : min(width, right + margin),
    ]
    # Pillow blurs 8-bit images only: -255…255 is stored as 0…255 around 128.
    image = Image.fromarray(np.clip(np.rint(region / 2 + 128), 0, 255).astype(np.uint8))
    factor = max(1, max(bottom - top, right - left) // SHARPNESS_EDGE)
    if factor > 1:
        image = image.reduce(factor)
    size = max(bottom - top, right - left) / factor  # 64 to 127 pixels
    # A blur over a sixty-fourth of the size first, so that what is left of the noise is not
    # taken for edges; the contrast is that of the pixels, noise included, which lowers a
    # noisy shading's sharpness further.
    reduced = np.asarray(image.filter(ImageFilter.GaussianBlur(max(1.0, size / _NOISE_BLUR))),
                         np.int16)
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(max(1.0, size / _EDGE_BLUR))),
                         np.int16)
    strongest = float(np.percentile(np.asarray(image, dtype=np.int16) - 128, _PERCENTILE))
    return float(np.percentile(reduced - blurred, _PERCENTILE)) / max(strongest, 1.0)


def _contrast(gray: np.ndarray, background: Background) -> np.ndarray:
    """Returns the `(h, w) float32` contrast with the background, positive towards the
    object and scaled as `flatten` scales it, without its clipping."""
    pixels = gray.astype(np.float32)
    if background.light:
        return 255 * (background.level - pixels) / np.maximum(background.level, 1.0)
    return 255 * (pixels - background.level) / np.maximum(255 - background.level, 1.0)


def _band(shape: tuple[int, int]) -> int:
    """Width of the border band that is taken to be background: 4 % of the shorter side."""
    return max(MIN_BAND, round(BAND_FRACTION * min(shape)))


def _min_line(length: int) -> int:
    """Object pixels a row (or column) of a noisy photo needs, `length` across the other way."""
    return max(1, length // LINE_DIVISOR)
