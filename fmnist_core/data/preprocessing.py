"""Turn any user image into the 28×28 uint8 image the model sees, keeping every step.

Fashion-MNIST follows the dataset's own conversion (its README): grayscale, invert when the
background is light (the dataset is light on dark), trim the background, longest edge to 28,
stretch the contrast, centre on a 28×28 canvas. MNIST digits are fitted into 20×20 instead and
placed so that their centre of mass lands in the middle of the 28×28 field. Photos get two more
things from `fmnist_core.data.photo`: an unevenly lit or noisy background is evened out first, and
a picture with no distinct object in it is refused rather than classified. Every step keeps its
image and a one sentence note, so a page can show what happened and why.

Typical use:

    result = preprocess(uploaded_bytes, "fashion_mnist")
    probabilities = model.predict(result.image[None, ..., None])
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fmnist_core.data import photo

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096  # our own decompression-bomb guard, checked from the header
# What a decoded picture may take in memory, read from the header too (after a JPEG's
# reduction while decoding): with the steps after it, an accepted upload then stays within
# 100 MB. Pillow keeps 1 byte a pixel for gray and palette pictures, 2 for 16-bit gray, 4 for
# every other mode (RGB included); WebP's decoder a canvas of its own besides.
MAX_DECODED_BYTES = 32 * 2**20
# Pillow's own guard, lowered from its 89 M pixels to ours: a second line of defence for any
# code path that opens an image without the header check below.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

DATASETS = ("fashion_mnist", "mnist")
SIZE = 28
MNIST_BOX = 20

# File name endings an upload box should accept: those of _FORMATS below.
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff")

# Formats offered to Pillow: the common upload formats only, so no exotic decoder sees user
# bytes. Camera JPEGs that Pillow reads as MPO come through the "JPEG" opener.
_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# Pixels of 16-bit, 32-bit or float pictures scaled to 8 bits at a time (8 MB of float64).
_BLOCK_PIXELS = 1 << 20
# Out of 255: a spread below this is blank (JPEG noise on a white page stays under it).
_BLANK_RANGE = 12
# Out of 255: a result whose brightest pixel is below this is stretched to reach 255, as in
# the dataset, where every image's brightest pixel is 254 or 255.
_BRIGHTEST = 250

# What Pillow's decoders raise on damaged or truncated data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

_BLANK = "The image is blank: draw or upload something with a visible shape."
_EMPTY_CANVAS = "The canvas is empty: draw something first."
_TOO_MANY_PIXELS = "The image has more pixels than the {limit} limit; upload a smaller picture."
_DAMAGED = "The file is damaged or incomplete, so the image could not be read."
_NOT_AN_IMAGE = "The file is not a PNG, JPEG, WebP, GIF, BMP or TIFF image."
_NO_OBJECT = (
    "No object found in the picture: photograph one piece of clothing on a plain background "
    "that contrasts with it, filling most of the frame."
)


class ImageError(ValueError):
    """A user image that cannot be used; str(err) is one sentence for the user."""


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


def decode_image(data: bytes, *, max_edge: int | None = None,
                 formats: tuple[str, ...] = _FORMATS) -> Image.Image:
    """Decodes the bytes of an uploaded file into a fully loaded image.

    EXIF orientation is applied, animated files give their first frame, and every mode is
    brought to one of "L", "LA", "RGB" or "RGBA" (16-bit gray is scaled to 8 bits, palettes
    with transparency keep it as alpha).

    Args:
        data: The file's bytes (PNG, JPEG, WebP, GIF, BMP or TIFF).
        max_edge: When given, a JPEG larger than this is decoded at a half, a quarter or an
            eighth of its size, as long as its longest edge stays at least `max_edge`: a
            12-megapixel photo then decodes several times faster. Other formats decode
            at full size.
        formats: The formats tried, a subset of "PNG", "JPEG", "WEBP", "GIF", "BMP" and
            "TIFF"; any other file is not an image.

    Returns:
        A loaded PIL image in mode "L", "LA", "RGB" or "RGBA".

    Raises:
        ImageError: The file is empty, too big, not an image, damaged, or has too many pixels.
        ValueError: `data` is not bytes.
    """
    return _decode(data, max_edge, formats)[0]


def _decode(data: bytes, max_edge: int | None,
            formats: tuple[str, ...] = _FORMATS) -> tuple[Image.Image, tuple[int, int]]:
    """Does `decode_image`'s work; also returns the picture's full (width, height)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"Expected `data` to be bytes, received {type(data).__name__}.")
    size = len(data)  # memoryview len counts items, but uploads are 1-byte items
    if size == 0:
        raise ImageError("The file is empty.")
    if size > MAX_UPLOAD_BYTES:
        raise ImageError(
            f"The file is {size / 2**20:.1f} MB, more than the "
            f"{MAX_UPLOAD_BYTES // 2**20} MB limit; upload a smaller picture."
        )
    # PIL's bomb warning is not turned into an error with warnings.catch_warnings: that is not
    # thread-safe before Python 3.14 and Streamlit serves sessions from threads. Any image that
    # PIL warns about is far above MAX_IMAGE_PIXELS, so our own header check rejects it anyway;
    # the warning is caught only where a caller already runs with warnings as errors.
    try:
        # Not closed: the file is in memory, and closing would free the pixels, so the
        # picture would have to be copied first (64 MB for a 4096×4096 RGBA one).
        image = Image.open(io.BytesIO(data), formats=formats)
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageError(
                f"The image is {width}×{height} pixels, more than the "
                f"{_pixel_limit_text()} limit; upload a smaller picture."
            )
        if max_edge and image.format in ("JPEG", "MPO") and max(width, height) > max_edge:
            ratio = max_edge / max(width, height)
            image.draft(None, (int(np.ceil(width * ratio)), int(np.ceil(height * ratio))))
        decoded = image.size[0] * image.size[1] * _bytes_per_pixel(image.mode, image.format)
        if decoded > MAX_DECODED_BYTES:
            raise ImageError(
                f"The {width}×{height} picture would take {decoded / 2**20:.0f} MB to read, more "
                f"than the {MAX_DECODED_BYTES // 2**20} MB a picture may take; save it smaller "
                "or as a JPEG photo.")
        image.load()  # first frame only; raises on truncated data
        stored = image.size
        try:
            ImageOps.exif_transpose(image, in_place=True)
        except (*_DECODE_ERRORS, KeyError, TypeError):
            pass  # a broken EXIF block should not cost the user the picture
        full_size = (width, height) if image.size == stored else (height, width)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(_TOO_MANY_PIXELS.format(limit=_pixel_limit_text())) from err
    except UnidentifiedImageError as err:
        raise ImageError(_NOT_AN_IMAGE) from err
    except _DECODE_ERRORS as err:
        raise ImageError(_DAMAGED) from err
    return _normalize_mode(image), full_size


def _bytes_per_pixel(mode: str, fmt: str | None = None) -> int:
    """What decoding keeps for one pixel of `mode`: Pillow's image, and for WebP the
    decoder's own canvas of the same size as well."""
    if mode in ("1", "L", "P"):
        size = 1
    elif mode.startswith("I;16"):
        size = 2
    else:
        size = 4
    return size * (2 if fmt == "WEBP" else 1)


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
            f"Expected `rgba` to be a (h, w, 4) uint8 array, received {_describe(rgba)}."
        )
    alpha = rgba[..., 3]
    if alpha.min() == 255:
        ink = np.asarray(Image.fromarray(np.ascontiguousarray(rgba[..., :3])).convert("L"))
        if np.median(_border(ink)) > 127:
            ink = 255 - ink
    else:
        ink = alpha
    if _spread(ink) < _BLANK_RANGE:
        raise ImageError(_EMPTY_CANVAS)
    return Image.fromarray(np.ascontiguousarray(ink))


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
    if dataset not in DATASETS:
        raise ValueError(f"Expected `dataset` to be one of {DATASETS}, received {dataset!r}.")
    if not (invert == "auto" or isinstance(invert, bool)):
        raise ValueError(f"Expected `invert` to be 'auto', True or False, received {invert!r}.")
    for name, flag in (("trim", trim), ("fit", fit), ("center", center)):
        if not isinstance(flag, bool):
            raise ValueError(f"Expected `{name}` to be True or False, received {flag!r}.")

    image, first_note, full_size = _load_source(source)
    image, reduced_from = photo.shrink(image, full_size)
    gray, gray_note = _grayscale(image)
    if _spread(gray) < _BLANK_RANGE:
        raise ImageError(_BLANK)
    if reduced_from:
        gray_note = (
            f"{gray_note[:-1]}, after reducing the {_shape_text(reduced_from)} picture to "
            f"{_shape_text(gray.shape)}."
        )
    steps = [_step("Grayscale", gray, first_note or gray_note)]

    border = float(np.median(_border(gray)))
    background = photo.estimate_background(gray, light=border > 127)
    bounds = photo.find_object(gray, background)
    if bounds is None:
        raise ImageError(_NO_OBJECT)
    if not background.even:
        gray = photo.flatten(gray, background)
        steps.append(_step("Background flattened", gray, background.note))

    if invert == "auto":
        flip = border > 127
        why = f"Background was {'light' if flip else 'dark'} (border median {border:.0f}), so"
    else:
        flip = invert
        why = f"Inversion was forced {'on' if flip else 'off'}, so"
    if flip:
        gray = 255 - gray
        steps.append(
            _step("Inverted (dataset is light on dark)", gray, f"{why} the image was inverted.")
        )
    else:
        name = "Not inverted (already light on dark)" if invert == "auto" else "Not inverted"
        steps.append(_step(name, gray, f"{why} the image was kept."))

    if trim:
        gray, note = _trim(gray, bounds, background)
        steps.append(_step("Trimmed background", gray, note))

    box = SIZE if dataset == "fashion_mnist" else MNIST_BOX
    if fit:
        before = gray.shape
        gray = _fit_longest_edge(gray, box)
        steps.append(
            _step(
                f"Longest edge to {box}" if box == SIZE else f"Fit into {box}×{box}",
                gray,
                f"Resized {_shape_text(before)} to {_shape_text(gray.shape)}, keeping the "
                "aspect ratio.",
            )
        )
    elif gray.shape != (SIZE, SIZE):
        before = gray.shape
        gray = _resize(gray, SIZE, SIZE)
        steps.append(
            _step(
                f"Stretched to {SIZE}×{SIZE}",
                gray,
                f"Fitting is off, so {_shape_text(before)} was stretched to {SIZE}×{SIZE} "
                "without keeping the aspect ratio, only so the model can run.",
            )
        )
    else:
        steps.append(
            _step(
                f"Kept at {SIZE}×{SIZE}",
                gray,
                f"Fitting is off and the image is already {SIZE}×{SIZE}, so its size was kept.",
            )
        )

    brightest = int(gray.max())
    if 0 < brightest < _BRIGHTEST:
        gray = np.rint(gray * (255 / brightest)).astype(np.uint8)
        steps.append(
            _step(
                "Contrast stretched",
                gray,
                f"The brightest pixel was {brightest}, so every level was scaled to make it "
                "255, as in the dataset's pictures.",
            )
        )

    if not center:
        gray = _paste(gray, 0, 0)
        steps.append(
            _step(
                f"Top-left on {SIZE}×{SIZE}",
                gray,
                "Centring is off, so the image was placed in the top-left corner.",
            )
        )
    elif dataset == "fashion_mnist":
        height, width = gray.shape
        # An odd leftover pixel goes above and to the left, as in the dataset's own images.
        gray = _paste(gray, (SIZE - height + 1) // 2, (SIZE - width + 1) // 2)
        steps.append(
            _step(
                f"Centred on {SIZE}×{SIZE}",
                gray,
                f"Placed in the middle of a black {SIZE}×{SIZE} canvas.",
            )
        )
    else:
        gray = _center_of_mass_paste(gray)
        row, col = _center_of_mass(gray)
        steps.append(
            _step(
                "Centre of mass to the middle",
                gray,
                f"Shifted so the centre of mass sits at row {row:.1f}, column {col:.1f}, "
                f"as near to ({SIZE // 2}, {SIZE // 2}) as the canvas allows.",
            )
        )
    return Preprocessed(image=steps[-1].image, steps=tuple(steps))


def _load_source(source) -> tuple[Image.Image, str, tuple[int, int]]:
    """Returns the source as a PIL image, for a canvas the note of its first step, and the
    picture's full (width, height), which a large JPEG's image may be a fraction of."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        image, full_size = _decode(source, max_edge=photo.WORK_EDGE)
        return image, "", full_size
    if isinstance(source, Image.Image):
        return _normalize_mode(source), "", source.size
    if isinstance(source, np.ndarray) and source.dtype == np.uint8 and source.size > 0:
        if source.ndim == 2 or (source.ndim == 3 and source.shape[2] == 3):
            image = Image.fromarray(np.ascontiguousarray(source))
            return image, "", image.size
        if source.ndim == 3 and source.shape[2] == 4:
            image = canvas_to_image(source)
            return image, "The canvas strokes were read as white ink on black.", image.size
    raise ValueError(
        "Expected `source` to be file bytes, a PIL image or a (h, w), (h, w, 3) or (h, w, 4) "
        f"uint8 array, received {_describe(source)}."
    )


def _normalize_mode(image: Image.Image) -> Image.Image:
    """Brings any PIL mode to "L", "LA", "RGB" or "RGBA"."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_uint8(image))
    if mode in ("LA", "RGBA", "PA", "La", "RGBa") or "transparency" in image.info:
        target = "LA" if mode in ("LA", "La") else "RGBA"
        # convert() copies even into the same mode: 64 MB more for a 4096×4096 RGBA picture
        return image if mode == target else image.convert(target)
    if mode in ("L", "RGB"):
        return image
    return image.convert("L" if mode == "1" else "RGB")


def _to_uint8(image: Image.Image) -> np.ndarray:
    """Scales a 16-bit, 32-bit or float image to `(h, w) uint8`.

    The range of the values decides, not the mode alone: many tools store 8-bit values in a
    16-bit container, and dividing those by 257 would turn a fine picture black.
    """
    # A band of rows at a time, read from the image itself: float64 copies of a whole
    # 4096×4096 picture took 640 MB, and its pixels as one array still 128 MB more.
    width, height = image.size
    rows = max(1, _BLOCK_PIXELS // max(1, width))
    tops = range(0, height, rows)

    def band(top: int) -> np.ndarray:
        pixels = np.asarray(image.crop((0, top, width, min(top + rows, height))))
        return np.nan_to_num(pixels.astype(np.float64))

    low, high = np.inf, -np.inf
    for top in tops:
        finite = band(top)
        low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    result = np.empty((height, width), dtype=np.uint8)
    for top in tops:
        scaled = band(top)
        if image.mode == "F" and low >= 0 and high <= 1:
            scaled *= 255
        elif low < 0 or high > 65535:
            scaled = (scaled - low) * (255 / max(high - low, 1e-12))
        elif high > 255:
            scaled /= 257  # 65535 / 255: the 16-bit range onto 8 bits
        result[top : top + rows] = np.clip(np.rint(scaled), 0, 255)  # 0..255: kept as they are
    return result


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
        background = 255.0 if ink_mean < 128 else 0.0
        gray = (gray * alpha + background * (255 - alpha)) / 255
        shade = "white" if background else "black"
        note = (
            f"Transparent areas were filled with {shade} behind the "
            f"{'dark' if background else 'light'} ink (mean {ink_mean:.0f}), then turned gray."
        )
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8), note


def _trim(
    gray: np.ndarray, box: tuple[int, int, int, int], background: photo.Background
) -> tuple[np.ndarray, str]:
    """Crops `(h, w) uint8` to the object's (top, bottom, left, right) box."""
    top, bottom, left, right = box
    trimmed = gray[top:bottom, left:right]
    away = (f"more than {background.threshold:.0f} levels away from" if background.threshold
            else "that differ from")
    return trimmed, (
        f"Cropped {_shape_text(gray.shape)} to the {_shape_text(trimmed.shape)} box of the "
        f"pixels {away} the background."
    )


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


def _border(gray: np.ndarray) -> np.ndarray:
    """Returns the outermost rows and columns of `(h, w)` as one flat array."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def _spread(gray: np.ndarray) -> int:
    """Returns max - min of a uint8 array."""
    return int(gray.max()) - int(gray.min())


def _step(name: str, gray: np.ndarray, note: str) -> Step:
    """Freezes a copy of `gray` into a Step, so later steps cannot change it."""
    image = np.array(gray, dtype=np.uint8, copy=True)
    image.flags.writeable = False
    return Step(name=name, image=image, note=note)


def _shape_text(shape: tuple[int, ...]) -> str:
    """Formats a `(h, w)` shape as "w×h", the way image sizes are usually written."""
    return f"{shape[1]}×{shape[0]}"


def _pixel_limit_text() -> str:
    """Formats MAX_IMAGE_PIXELS as "4096×4096" when square, else as a pixel count."""
    side = int(MAX_IMAGE_PIXELS**0.5)
    return f"{side}×{side}" if side * side == MAX_IMAGE_PIXELS else f"{MAX_IMAGE_PIXELS:,}"


def _describe(value) -> str:
    """Describes an argument for an error message: an array's shape and dtype, else its type."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__
