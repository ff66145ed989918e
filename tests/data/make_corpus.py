"""Generates a corpus of awkward upload files for the preprocessing tests.

Everything is drawn with Pillow and numpy, nothing is downloaded. Most files show the same
dark shirt on a light background in a different format or mode, so a test can check that
every one of them comes out as the same 28×28 image; the others are files an upload box must
refuse with one sentence.

Usage:

    python tests/data/make_corpus.py [outdir]    # default: tests/data/corpus/
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 150, 180  # not square, so a 90° EXIF rotation changes the decoded size
INK = (30, 50, 110)  # navy: dark, and coloured so the grayscale step has work to do
PAPER = (255, 255, 255)

# The shirt as (x, y) points on the WIDTH×HEIGHT canvas; the pocket makes it lopsided.
_SHIRT = [
    (45, 15), (62, 15), (75, 30), (88, 15), (105, 15), (140, 48), (124, 72), (110, 60),
    (110, 165), (40, 165), (40, 60), (26, 72), (10, 48),
]
_POCKET = (50, 70, 68, 90)


def shirt_mask() -> np.ndarray:
    """Returns the shirt as a `(HEIGHT, WIDTH) bool` mask, True on the ink."""
    image = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(image)
    draw.polygon(_SHIRT, fill=255)
    draw.rectangle(_POCKET, fill=0)
    return np.asarray(image) > 0


def shirt_rgb() -> Image.Image:
    """Returns the navy shirt on white as a WIDTH×HEIGHT RGB image."""
    pixels = np.where(shirt_mask()[..., None], INK, PAPER).astype(np.uint8)
    return Image.fromarray(pixels)


def make_corpus(outdir: str | Path) -> dict[str, Path]:
    """Writes every corpus file into `outdir`.

    Args:
        outdir: Folder to write into; created when missing.

    Returns:
        The path of each file, keyed by its file name.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    files = {name: make() for name, make in _FILES.items()}
    paths = {}
    for name, data in files.items():
        path = outdir / name
        path.write_bytes(data)
        paths[name] = path
    return paths


def _encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def _animated_gif() -> bytes:
    # Frame 1 is the shirt; frame 2 a disc, so using the wrong frame shows in the result.
    first = shirt_rgb().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    second = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    ImageDraw.Draw(second).ellipse((20, 30, 130, 140), fill=INK)
    second = second.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return _encode(first, "GIF", save_all=True, append_images=[second], duration=300, loop=0)


def _png_16bit() -> bytes:
    pixels = np.where(shirt_mask(), 12000, 65535).astype(np.uint16)
    return _encode(Image.fromarray(pixels), "PNG")


def _palette_transparent() -> bytes:
    # Index 0 is transparent *black*: ignoring the transparency leaves navy on black, which
    # is nearly invisible, so this checks that transparency is honoured.
    image = Image.fromarray(shirt_mask().astype(np.uint8)).convert("P")
    image.putpalette([0, 0, 0, *INK])
    return _encode(image, "PNG", transparency=0)


def _rgba(ink: tuple[int, int, int], hidden: tuple[int, int, int]) -> bytes:
    mask = shirt_mask()
    pixels = np.empty((HEIGHT, WIDTH, 4), dtype=np.uint8)
    pixels[..., :3] = np.where(mask[..., None], ink, hidden)
    pixels[..., 3] = np.where(mask, 255, 0)
    return _encode(Image.fromarray(pixels), "PNG")


def _exif_rotated() -> bytes:
    # Orientation 6 means "rotate 90° clockwise to display", so the stored pixels are the
    # shirt turned 90° counter-clockwise.
    stored = shirt_rgb().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(stored, "JPEG", quality=92, exif=exif)


def _thin() -> bytes:
    pixels = np.full((500, 1), 255, dtype=np.uint8)
    pixels[150:350] = 20
    return _encode(Image.fromarray(pixels), "PNG")


def _truncated_png() -> bytes:
    data = _encode(shirt_rgb(), "PNG")
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    return data[: start + length // 2]


def _truncated_jpeg() -> bytes:
    data = _encode(shirt_rgb(), "JPEG", quality=92)
    return data[: len(data) // 2]


def _bomb(side: int) -> bytes:
    """A valid 1-bit PNG of side×side black pixels: a few kB that decode to side² bytes."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = bytes(1 + (side + 7) // 8) * 200  # filter byte + packed bits, all zero
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(rows) for _ in range(side // 200)]
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def _oversized() -> bytes:
    # A real image, 1400×1400 RGB noise as an uncompressed BMP: about 5.6 MiB of bytes.
    pixels = np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)
    return _encode(Image.fromarray(pixels), "BMP")


_FILES = {
    "shirt.png": lambda: _encode(shirt_rgb(), "PNG"),
    "shirt.jpg": lambda: _encode(shirt_rgb(), "JPEG", quality=90),
    "shirt.webp": lambda: _encode(shirt_rgb(), "WEBP", quality=90),
    "shirt_animated.gif": _animated_gif,
    "shirt.bmp": lambda: _encode(shirt_rgb(), "BMP"),
    "shirt.tiff": lambda: _encode(shirt_rgb(), "TIFF"),
    "shirt_16bit.png": _png_16bit,
    "shirt_cmyk.jpg": lambda: _encode(shirt_rgb().convert("CMYK"), "JPEG", quality=90),
    "shirt_palette_transparent.png": _palette_transparent,
    "shirt_rgba_dark_ink.png": lambda: _rgba(ink=(25, 25, 25), hidden=(0, 0, 0)),
    "shirt_rgba_light_ink.png": lambda: _rgba(ink=(235, 225, 200), hidden=(255, 255, 255)),
    "shirt_exif_rotated.jpg": _exif_rotated,
    "tiny_1x1.png": lambda: _encode(Image.new("L", (1, 1), 0), "PNG"),
    "thin_1x500.png": _thin,
    "blank_white.png": lambda: _encode(Image.new("RGB", (100, 100), PAPER), "PNG"),
    "blank_black.png": lambda: _encode(Image.new("RGB", (100, 100), (0, 0, 0)), "PNG"),
    "empty.png": lambda: b"",
    "not_an_image.png": lambda: b"This is a shopping list, not a picture.\nMilk\nEggs\n",
    "truncated.png": _truncated_png,
    "truncated.jpg": _truncated_jpeg,
    "bomb_20000x20000.png": lambda: _bomb(20000),
    "bomb_5000x5000.png": lambda: _bomb(5000),
    "oversized.bmp": _oversized,
}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "corpus"
    for name, path in make_corpus(target).items():
        print(f"{path.stat().st_size:>10,}  {path}")
