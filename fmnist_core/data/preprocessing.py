"""Turn any user image into the 28×28 uint8 image the model sees, keeping every step.

Fashion-MNIST follows the dataset's own conversion (its README): grayscale, invert when the
background is light (the dataset is light on dark), trim the background, longest edge to 28,
stretch the contrast, centre on a 28×28 canvas. MNIST digits are fitted into 20×20 instead and
placed so that their centre of mass lands in the middle of the 28×28 field. Photos get two more
things from `fmnist_core.data.photo`: an unevenly lit or noisy background is evened out first, and
a picture with no distinct object in it is refused rather than classified. Every step keeps its
image and a one sentence note, so a page can show what happened and why.

File bytes are decoded by `fmnist_core.data.decoding`, a drawing canvas is read by
`fmnist_core.data.canvas`.

Typical use:

    result = preprocess(uploaded_bytes, "fashion_mnist")
    probabilities = model.predict(result.image[None, ..., None])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from fmnist_core.data import photo
from fmnist_core.data.canvas import canvas_to_image
from fmnist_core.data.datasets import DATASETS
from fmnist_core.data.decoding import ImageError, decode_upload, normalize_mode
from fmnist_core.data.pixels import BLANK_RANGE, LIGHT_BORDER, border_median, describe, spread

SIZE = 28  # the side of every image of both datasets, and so of what a network sees
MNIST_BOX = 20  # MNIST's digits were fitted into 20×20, then placed on 28×28 by their mass
# Out of 255: a result whose brightest pixel is below this is stretched to reach 255, as in
# the dataset, where every image's brightest pixel is 254 or 255.
_BRIGHTEST = 250
# Out of 255: ink whose alpha-weighted mean is below this is dark (it gets a white background
# behind its transparent areas), else light; 128 is the first level of the lighter half.
_DARK_INK_BELOW = 128

_BLANK = "The image is blank: draw or upload something with a visible shape."
_NO_OBJECT = (
    "No object found in the picture: photograph one piece of clothing on a plain background "
    "that contrasts with it, filling most of the frame."
)


@dataclass(frozen=True)
class Step:
    """One stage of preprocessing.

    Attributes:
        name: Short human title, e.g. "Grayscale" or "Centred on 28×28".
        image: `(h, w) uint8` image after this step, read-only.
        note: One sentence saying what this step did and why.
    """

    name: str
    image: np.ndarray
    note: str


@dataclass(frozen=True)
class Preprocessed:
    """The image the model sees and how it was made.

    Attributes:
        image: `(28, 28) uint8` image, light ink on a dark background, read-only.
        steps: Every intermediate step, in order; the last one's image is `image`.
    """

    image: np.ndarray
    steps: tuple[Step, ...]


def preprocess(
    source: bytes | Image.Image | np.ndarray,
    dataset: str = "fashion_mnist",
    *,
    invert: bool | str = "auto",
    trim: bool = True,
    fit: bool = True,
    center: bool = True,
) -> Preprocessed:
    """Turns a user image into the 28×28 image the model sees, keeping every step.

    Args:
        source: File bytes (decoded with `decode_image`), a PIL image, a `(h, w) uint8`
            grayscale array, a `(h, w, 3) uint8` RGB array or a `(h, w, 4) uint8` RGBA canvas
            (read with `canvas_to_image`).
        dataset: "fashion_mnist" (longest edge to 28, centred) or "mnist" (fit into 20×20,
            centre of mass in the middle).
        invert: "auto" inverts when the border is light (median above 127); True or False
            force it.
        trim: Crop to the box around the shape before resizing.
        fit: Resize keeping the aspect ratio; when False a plain stretch to 28×28 is used so
            the model can still run.
        center: Place the shape in the middle (fashion_mnist) or by its centre of mass
            (mnist); when False it goes to the top-left corner.

    Returns:
        The `(28, 28) uint8` image, light on dark, and the steps that made it.

    Raises:
        ImageError: The image cannot be read, is blank or has no distinct object in it.
        ValueError: An argument has the wrong type or value.
    """
    _check_switches(dataset, invert, trim, fit, center)
    steps = [_grayscale_step(source)]
    gray = steps[0].image
    border = border_median(gray)
    background = photo.estimate_background(gray, light=border > LIGHT_BORDER)
    bounds = photo.find_object(gray, background)
    if bounds is None:
        raise ImageError(_NO_OBJECT)
    if not background.even:
        steps.append(_step("Background flattened", photo.flatten(gray, background),
                           background.note))
    steps.append(_invert_step(steps[-1].image, border, invert))
    if trim:
        steps.append(_trim_step(steps[-1].image, bounds, background))
    steps.append(_resize_step(steps[-1].image, dataset, fit))
    if (stretched := _contrast_step(steps[-1].image)) is not None:
        steps.append(stretched)
    steps.append(_place_step(steps[-1].image, dataset, center))
    return Preprocessed(image=steps[-1].image, steps=tuple(steps))


def _check_switches(dataset: str, invert: bool | str, trim: bool, fit: bool,
                    center: bool) -> None:
    """Raises ValueError naming the first argument of `preprocess` with a wrong value."""
    if dataset not in DATASETS:
        raise ValueError(f"Argument `dataset` must be one of {DATASETS}, received {dataset!r}.")
    if not (invert == "auto" or isinstance(invert, bool)):
        raise ValueError(
            f"Argument `invert` must be 'auto', True or False, received {invert!r}."
        )
    for name, flag in (("trim", trim), ("fit", fit), ("center", center)):
        if not isinstance(flag, bool):
            raise ValueError(f"Argument `{name}` must be True or False, received {flag!r}.")


def _grayscale_step(source) -> Step:
    """Reads the source, reduces a large photo and turns it gray; ImageError when blank."""
    image, first_note, full_size = _load_source(source)
    image, reduced_from = photo.shrink(image, full_size)
    gray, gray_note = _grayscale(image)
    if spread(gray) < BLANK_RANGE:
        raise ImageError(_BLANK)
    if reduced_from:
        gray_note = (
            f"{gray_note[:-1]}, after reducing the {_shape_text(reduced_from)} picture to "
            f"{_shape_text(gray.shape)}."
        )
    return _step("Grayscale", gray, first_note or gray_note)


def _load_source(source) -> tuple[Image.Image, str, tuple[int, int]]:
    """Returns the source as a PIL image, for a canvas the note of its first step, and the
    picture's full (width, height), which a large JPEG's image may be a fraction of."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        image, full_size = decode_upload(source, max_edge=photo.WORK_EDGE)
        return image, "", full_size
    if isinstance(source, Image.Image):
        return normalize_mode(source), "", source.size
    if isinstance(source, np.ndarray) and source.dtype == np.uint8 and source.size > 0:
        if source.ndim == 2 or (source.ndim == 3 and source.shape[2] == 3):
            image = Image.fromarray(np.ascontiguousarray(source))
            return image, "", image.size
        if source.ndim == 3 and source.shape[2] == 4:
            image = canvas_to_image(source)
            return image, "The canvas strokes were read as white ink on black.", image.size
    raise ValueError(
        "Argument `source` must be file bytes, a PIL image or a (h, w), (h, w, 3) or "
        f"(h, w, 4) uint8 array, received {describe(source)}."
    )


def _grayscale(image: Image.Image) -> tuple[np.ndarray, str]:
    """Returns the `(h, w) uint8` gray image of an "L", "LA", "RGB" or "RGBA" image, and a note."""
    mode = image.mode
    luma = image.getchannel("L") if mode in ("L", "LA") else image.convert("RGB").convert("L")
    gray = np.asarray(luma, dtype=np.float64)
    note = (
        "The image was already grayscale."
        if mode in ("L", "LA")
        else "Colours were turned into gray (0.299 R + 0.587 G + 0.114 B)."
    )
    alpha = np.asarray(image.getchannel("A"), dtype=np.float64) if mode in ("LA", "RGBA") else None
    if alpha is not None and alpha.min() < 255:
        weight = alpha.sum()
        if weight == 0:
            raise ImageError(_BLANK)
        # Transparent pixels store arbitrary colours, often the ink's own. The alpha-weighted
        # mean of the visible pixels says whether the ink is dark or light; filling the
        # transparent areas with the opposite shade (white behind dark ink, black behind light
        # ink) keeps the ink visible either way.
        ink_mean = float((gray * alpha).sum() / weight)
        background = 255.0 if ink_mean < _DARK_INK_BELOW else 0.0
        gray = (gray * alpha + background * (255 - alpha)) / 255
        shade = "white" if background else "black"
        note = (
            f"Transparent areas were filled with {shade} behind the "
            f"{'dark' if background else 'light'} ink (mean {ink_mean:.0f}), then turned gray."
        )
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8), note


def _invert_step(gray: np.ndarray, border: float, invert: bool | str) -> Step:
    """Inverts a light background to the dataset's dark one, or says why it was kept."""
    if invert == "auto":
        flip = border > LIGHT_BORDER
        why = f"Background was {'light' if flip else 'dark'} (border median {border:.0f}), so"
    else:
        flip = invert
        why = f"Inversion was forced {'on' if flip else 'off'}, so"
    if flip:
        return _step("Inverted (dataset is light on dark)", 255 - gray,
                     f"{why} the image was inverted.")
    name = "Not inverted (already light on dark)" if invert == "auto" else "Not inverted"
    return _step(name, gray, f"{why} the image was kept.")


def _trim_step(gray: np.ndarray, box: tuple[int, int, int, int],
               background: photo.Background) -> Step:
    """Crops `(h, w) uint8` to the object's (top, bottom, left, right) box."""
    top, bottom, left, right = box
    trimmed = gray[top:bottom, left:right]
    away = (f"more than {background.threshold:.0f} levels away from" if background.threshold
            else "that differ from")
    return _step("Trimmed background", trimmed, (
        f"Cropped {_shape_text(gray.shape)} to the {_shape_text(trimmed.shape)} box of the "
        f"pixels {away} the background."
    ))


def _resize_step(gray: np.ndarray, dataset: str, fit: bool) -> Step:
    """Brings the longest edge to 28 (fashion_mnist) or 20 (mnist), or stretches to 28×28."""
    box = SIZE if dataset == "fashion_mnist" else MNIST_BOX
    before = _shape_text(gray.shape)
    if fit:
        resized = _fit_longest_edge(gray, box)
        name = f"Longest edge to {box}" if box == SIZE else f"Fit into {box}×{box}"
        return _step(name, resized, f"Resized {before} to {_shape_text(resized.shape)}, "
                     "keeping the aspect ratio.")
    if gray.shape != (SIZE, SIZE):
        return _step(f"Stretched to {SIZE}×{SIZE}", _resize(gray, SIZE, SIZE),
                     f"Fitting is off, so {before} was stretched to {SIZE}×{SIZE} without "
                     "keeping the aspect ratio, only so the model can run.")
    return _step(f"Kept at {SIZE}×{SIZE}", gray,
                 f"Fitting is off and the image is already {SIZE}×{SIZE}, so its size was kept.")


def _contrast_step(gray: np.ndarray) -> Step | None:
    """Stretches a dim result so its brightest pixel is 255; None when it needs none."""
    brightest = int(gray.max())
    if not 0 < brightest < _BRIGHTEST:
        return None
    return _step("Contrast stretched", np.rint(gray * (255 / brightest)).astype(np.uint8),
                 f"The brightest pixel was {brightest}, so every level was scaled to make it "
                 "255, as in the dataset's pictures.")


def _place_step(gray: np.ndarray, dataset: str, center: bool) -> Step:
    """Places the image on the black 28×28 canvas: centred, by its centre of mass, or in
    the top-left corner."""
    if not center:
        return _step(f"Top-left on {SIZE}×{SIZE}", _paste(gray, 0, 0),
                     "Centring is off, so the image was placed in the top-left corner.")
    if dataset == "fashion_mnist":
        height, width = gray.shape
        # An odd leftover pixel goes above and to the left, as in the dataset's own images.
        centred = _paste(gray, (SIZE - height + 1) // 2, (SIZE - width + 1) // 2)
        return _step(f"Centred on {SIZE}×{SIZE}", centred,
                     f"Placed in the middle of a black {SIZE}×{SIZE} canvas.")
    placed = _center_of_mass_paste(gray)
    row, col = _center_of_mass(placed)
    return _step("Centre of mass to the middle", placed,
                 f"Shifted so the centre of mass sits at row {row:.1f}, column {col:.1f}, "
                 f"as near to ({SIZE // 2}, {SIZE // 2}) as the canvas allows.")


def _fit_longest_edge(gray: np.ndarray, box: int) -> np.ndarray:
    """Resizes `(h, w) uint8` so its longest edge is `box`, at least 1 px on the short one."""
    height, width = gray.shape
    scale = box / max(height, width)
    new_height = min(box, max(1, int(height * scale + 0.5)))
    new_width = min(box, max(1, int(width * scale + 0.5)))
    return _resize(gray, new_height, new_width)


def _resize(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes `(h, w) uint8` to `(height, width) uint8` with Lanczos filtering."""
    if gray.shape == (height, width):
        return gray
    resized = Image.fromarray(np.ascontiguousarray(gray)).resize(
        (width, height), Image.Resampling.LANCZOS
    )
    return np.asarray(resized)


def _paste(gray: np.ndarray, top: int, left: int) -> np.ndarray:
    """Pastes `(h, w) uint8`, h and w at most 28, onto a black `(28, 28) uint8` canvas."""
    canvas = np.zeros((SIZE, SIZE), dtype=np.uint8)
    height, width = gray.shape
    canvas[top : top + height, left : left + width] = gray
    return canvas


def _center_of_mass(gray: np.ndarray) -> tuple[float, float]:
    """Returns the intensity-weighted (row, column) of `(h, w) uint8`, its middle if all 0."""
    height, width = gray.shape
    weights = gray.astype(np.float64)
    total = weights.sum()
    if total == 0:
        return (height - 1) / 2, (width - 1) / 2
    row = float((weights.sum(axis=1) * np.arange(height)).sum() / total)
    col = float((weights.sum(axis=0) * np.arange(width)).sum() / total)
    return row, col


def _center_of_mass_paste(gray: np.ndarray) -> np.ndarray:
    """Places `(h, w) uint8` on 28×28 with its centre of mass at (14, 14), MNIST's way.

    The offset is clipped so the whole image stays on the canvas: no ink is cut off, at the
    price of a lopsided shape landing a little off the middle.
    """
    height, width = gray.shape
    row, col = _center_of_mass(gray)
    top = int(np.clip(round(SIZE / 2 - row), 0, SIZE - height))
    left = int(np.clip(round(SIZE / 2 - col), 0, SIZE - width))
    return _paste(gray, top, left)


def _step(name: str, gray: np.ndarray, note: str) -> Step:
    """Freezes a copy of `gray` into a Step, so later steps cannot change it."""
    image = np.array(gray, dtype=np.uint8, copy=True)
    image.flags.writeable = False
    return Step(name=name, image=image, note=note)


def _shape_text(shape: tuple[int, ...]) -> str:
    """Formats a `(h, w)` shape as "w×h", the way image sizes are usually written."""
    return f"{shape[1]}×{shape[0]}"
