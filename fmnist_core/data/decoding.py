"""Decode the bytes of an uploaded file into an image, within limits a stranger cannot pass.

The common upload formats only (PNG, JPEG, WebP, GIF, BMP, TIFF), so no exotic decoder sees
user bytes; the file's size, the picture's pixels and the memory it would take once decoded
are checked from the header, before a pixel is decoded. EXIF orientation is applied, animated
files give their first frame, and every mode comes out as "L", "LA", "RGB" or "RGBA":
16-bit, 32-bit and float pictures are scaled to 8 bits a band of rows at a time.

Typical use:

    image = decode_image(uploaded_bytes)   # ImageError: one sentence for the user
"""

from __future__ import annotations

import io
import logging
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

_LOGGER = logging.getLogger(__name__)

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

# Formats offered to Pillow: the common upload formats only, so no exotic decoder sees user
# bytes. Camera JPEGs that Pillow reads as MPO come through the "JPEG" opener.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# Pixels of 16-bit, 32-bit or float pictures scaled to 8 bits at a time (8 MB of float64).
_BLOCK_PIXELS = 1 << 20
# The largest 16-bit level: pictures beyond it (32-bit, float) or below 0 are stretched from
# their own range instead; 65535 / 255 = 257 brings a 16-bit level onto the 8-bit range.
_SIXTEEN_BIT_MAX = 65535
_SIXTEEN_TO_EIGHT_BITS = 257

# What Pillow's decoders raise on damaged or truncated data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

_TOO_MANY_PIXELS = "The image has more pixels than the {limit} limit; upload a smaller picture."
_DAMAGED = "The file is damaged or incomplete, so the image could not be read."
_NOT_AN_IMAGE = "The file is not a PNG, JPEG, WebP, GIF, BMP or TIFF image."


class ImageError(ValueError):
    """A user image that cannot be used; str(err) is one sentence for the user."""


def decode_image(data: bytes, *, max_edge: int | None = None,
                 formats: tuple[str, ...] = FORMATS) -> Image.Image:
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
        formats: The formats tried, a subset of `FORMATS`; any other file is not an image.

    Returns:
        A loaded PIL image in mode "L", "LA", "RGB" or "RGBA".

    Raises:
        ImageError: The file is empty, too big, not an image, damaged, or has too many pixels.
        ValueError: `data` is not bytes.
    """
    return decode_upload(data, max_edge, formats)[0]


def decode_upload(data: bytes, max_edge: int | None = None,
                  formats: tuple[str, ...] = FORMATS) -> tuple[Image.Image, tuple[int, int]]:
    """Does `decode_image`'s work; also returns the picture's full (width, height), of which
    a large JPEG's decoded image may be a fraction."""
    _check_upload(data)
    # PIL's bomb warning is not turned into an error with warnings.catch_warnings: that is not
    # thread-safe before Python 3.14 and Streamlit serves sessions from threads. Any image that
    # PIL warns about is far above MAX_IMAGE_PIXELS, so our own header check rejects it anyway;
    # the warning is caught only where a caller already runs with warnings as errors.
    try:
        image, full_size = _open_within_limits(data, max_edge, formats)
        image.load()  # first frame only; raises on truncated data
        if _apply_exif_orientation(image):
            full_size = full_size[::-1]
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(_TOO_MANY_PIXELS.format(limit=_pixel_limit_text())) from err
    except UnidentifiedImageError as err:
        raise ImageError(_NOT_AN_IMAGE) from err
    except _DECODE_ERRORS as err:
        raise ImageError(_DAMAGED) from err
    return normalize_mode(image), full_size


def _check_upload(data: bytes) -> None:
    """Raises ValueError for anything but bytes, ImageError for an empty or too large file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"Argument `data` must be bytes, received {type(data).__name__}.")
    size = len(data)  # memoryview len counts items, but uploads are 1-byte items
    if size == 0:
        raise ImageError("The file is empty.")
    if size > MAX_UPLOAD_BYTES:
        raise ImageError(
            f"The file is {size / 2**20:.1f} MB, more than the "
            f"{MAX_UPLOAD_BYTES // 2**20} MB limit; upload a smaller picture."
        )


def _open_within_limits(data: bytes, max_edge: int | None,
                        formats: tuple[str, ...]) -> tuple[Image.Image, tuple[int, int]]:
    """Opens the picture and checks its header against the limits, decoding nothing yet.

    Returns the opened image, set to decode a large JPEG reduced when `max_edge` allows, and
    its full (width, height) as stored.
    """
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
    decoded = image.size[0] * image.size[1] * bytes_per_pixel(image.mode, image.format)
    if decoded > MAX_DECODED_BYTES:
        raise ImageError(
            f"The {width}×{height} picture would take {decoded / 2**20:.0f} MB to read, more "
            f"than the {MAX_DECODED_BYTES // 2**20} MB a picture may take; save it smaller "
            "or as a JPEG photo.")
    return image, (width, height)


def _apply_exif_orientation(image: Image.Image) -> bool:
    """Turns a loaded image the way its EXIF orientation says, in place; True when that
    swapped its width and height."""
    stored = image.size
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except (*_DECODE_ERRORS, KeyError, TypeError):
        # A broken EXIF block should not cost the user the picture.
        _LOGGER.warning("The picture's EXIF orientation could not be read; it is used as "
                        "stored.", exc_info=True)
    return image.size != stored


def bytes_per_pixel(mode: str, fmt: str | None = None) -> int:
    """What decoding keeps for one pixel of `mode`: Pillow's image, and for WebP the
    decoder's own canvas of the same size as well."""
    if mode in ("1", "L", "P"):
        size = 1
    elif mode.startswith("I;16"):
        size = 2
    else:
        size = 4
    return size * (2 if fmt == "WEBP" else 1)


def normalize_mode(image: Image.Image) -> Image.Image:
    """Brings any PIL mode to "L", "LA", "RGB" or "RGBA".

    Args:
        image: A loaded PIL image in any mode.

    Returns:
        The image itself when already in one of those modes, else a converted copy; 16-bit,
        32-bit and float pictures are scaled to 8-bit "L".
    """
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
        elif low < 0 or high > _SIXTEEN_BIT_MAX:
            scaled = (scaled - low) * (255 / max(high - low, 1e-12))
        elif high > 255:
            scaled /= _SIXTEEN_TO_EIGHT_BITS
        result[top : top + rows] = np.clip(np.rint(scaled), 0, 255)  # 0..255: kept as they are
    return result


def _pixel_limit_text() -> str:
    """Formats MAX_IMAGE_PIXELS as "4096×4096" when square, else as a pixel count."""
    side = int(MAX_IMAGE_PIXELS**0.5)
    return f"{side}×{side}" if side * side == MAX_IMAGE_PIXELS else f"{MAX_IMAGE_PIXELS:,}"
