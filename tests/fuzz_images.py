"""Upload bytes a stranger can send, as Hypothesis strategies (see tests/fuzzing.py).

Three kinds, mixed by `uploads()`:

- real pictures, written by Pillow in every format and mode the upload box accepts (1-bit,
  gray, gray with alpha, palettes with and without transparency, RGB, RGBA, CMYK, YCbCr, Lab,
  16-bit, 32-bit and float), 1×1 to 48×48, sometimes with an EXIF orientation (valid or not),
  then left whole, truncated, with bytes flipped or with bytes spliced in;
- a format's signature followed by random bytes (the signature empty: random bytes);
- crafted headers that declare any size, up to 2³²−1 pixels a side, over little or no data
  (PNG, BMP, GIF, JPEG, TIFF with random tags, WebP);

Each goes to `preprocess` (both datasets, with the Predict page's switches) and to
`decode_image`; the page catches `ImageError` only, so that is the one sentence allowed.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib

import numpy as np
from fuzzing import (MAX_DECODE_MB, PAGE_SENTENCE_LENGTH, Outcome, PeakMemory, Target, crash,
                     is_sentence, result, sentence, stateless, unexpected)
from hypothesis import strategies as st
from PIL import Image

from fmnist_core.data.decoding import MAX_IMAGE_PIXELS, ImageError, decode_image
from fmnist_core.data.preprocessing import SIZE, preprocess

# The modes each format writes (Pillow converts a few on the way, e.g. GIF writes palettes).
MODES = {
    "PNG": ("1", "L", "LA", "P", "PT", "RGB", "RGBA", "I;16", "I;16B"),
    "JPEG": ("1", "L", "RGB", "CMYK", "YCbCr"),
    "GIF": ("1", "L", "P", "PT", "RGB", "RGBA"),
    "WEBP": ("L", "LA", "P", "RGB", "RGBA"),
    "TIFF": ("1", "L", "LA", "P", "PT", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "I;16",
             "I;16B", "I", "F"),
    "BMP": ("1", "L", "P", "RGB", "RGBA"),
}
_TIFF_COMPRESSIONS = (None, "tiff_deflate", "tiff_lzw", "packbits")
SIGNATURES = (
    b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"GIF87a",
    b"GIF89a", b"RIFF\x00\x10\x00\x00WEBPVP8 ", b"RIFF\x00\x10\x00\x00WEBPVP8L",
    b"RIFF\x00\x10\x00\x00WEBPVP8X", b"II*\x00", b"MM\x00*", b"II+\x00", b"BM",
)
# Sides a crafted header declares: empty, tiny, the studio's 4096 limit and either side of
# it, the formats' own limits, and far beyond.
SIDES = (0, 1, 2, 28, 640, 4095, 4096, 4097, 16383, 16384, 65535, 100_000, 2**24 - 1,
         2**31 - 1, 2**32 - 1)
_ORIENTATIONS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 65535)


def sides(bits: int) -> st.SearchStrategy[int]:
    """A declared side that fits an unsigned field of `bits` bits."""
    top = 2**bits - 1
    return st.one_of(st.sampled_from([s for s in SIDES if s <= top]), st.integers(0, top))


@st.composite
def pixels(draw, mode: str) -> Image.Image:
    """A small picture in `mode` ("PT": a palette with a transparent index) with a random
    pattern: flat, noise, a gradient or a box on a background."""
    # drawn evenly (integers would lean to tiny sides), a side of 1 a tenth of the time
    side = st.sampled_from((1, 1, 1, 1, 2, 3, *range(5, 49, 1)))
    width, height = draw(side), draw(side)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pattern = draw(st.sampled_from(("flat", "noise", "gradient", "box")))
    if pattern == "flat":
        unit = np.full((height, width), rng.random())
    elif pattern == "noise":
        unit = rng.random((height, width))
    elif pattern == "gradient":
        unit = np.add.outer(np.linspace(0, 1, height), np.linspace(0, 1, width)) / 2
    else:
        unit = np.full((height, width), rng.random())
        top, left = rng.integers(0, height), rng.integers(0, width)
        unit[top : top + rng.integers(1, height + 1), left : left + rng.integers(1, width + 1)] = (
            rng.random())
    bands = {"LA": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "RGBA": 4, "CMYK": 4}.get(mode, 1)
    if bands > 1:  # the pattern in the first band, noise-tinted copies in the others
        unit = np.stack([unit] + [np.clip(unit + rng.normal(0, 0.2, unit.shape), 0, 1)
                                  for _ in range(bands - 1)], axis=-1)
    if mode == "1":
        return Image.fromarray(unit > 0.5)
    if mode == "F":
        scale = draw(st.sampled_from((1.0, 255.0, 65535.0, 1e30, -1e30)))
        values = (unit * scale).astype(np.float32)
        if draw(st.booleans()):  # a few NaN and infinite pixels, as scientific TIFFs carry
            spots = rng.random(values.shape) < 0.1
            values[spots] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32),
                                       int(spots.sum()))
        return Image.fromarray(values, "F")
    if mode in ("I;16", "I;16B"):
        top = draw(st.sampled_from((255, 4095, 65535)))
        return Image.fromarray((unit * top).astype(np.uint16)).convert(mode)
    if mode == "I":
        low, high = draw(st.sampled_from(((0, 255), (0, 65535), (-(2**31), 2**31 - 1))))
        return Image.fromarray((low + unit * (high - low)).astype(np.int32), "I")
    data = (unit * 255).astype(np.uint8)
    if mode in ("P", "PT", "PA"):
        image = Image.frombytes("P", (width, height), np.ascontiguousarray(
            data if data.ndim == 2 else data[..., 0]).tobytes())
        image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        if mode == "PT":
            image.info["transparency"] = int(rng.integers(0, 256))
        if mode == "PA":
            image = image.convert("PA")
            image.putalpha(Image.fromarray(np.ascontiguousarray(data[..., 1])))
        return image
    return Image.frombytes(mode, (width, height), np.ascontiguousarray(data).tobytes())


@st.composite
def pictures(draw) -> bytes:
    """A real picture file of any accepted format and mode."""
    fmt = draw(st.sampled_from(sorted(MODES)))
    mode = draw(st.sampled_from(MODES[fmt]))
    image = draw(pixels(mode))
    options: dict = {}
    if fmt == "JPEG":
        options["quality"] = draw(st.integers(1, 95))
    elif fmt == "WEBP":
        options["lossless"] = draw(st.booleans())
    elif fmt == "TIFF":
        options["compression"] = draw(st.sampled_from(_TIFF_COMPRESSIONS))
    if "transparency" in image.info:
        options["transparency"] = image.info["transparency"]
    if fmt in ("JPEG", "PNG", "WEBP", "TIFF") and draw(st.booleans()):
        exif = Image.Exif()
        # libtiff's encoders refuse an orientation outside 1..8; Pillow's own writes any
        valid_only = fmt == "TIFF" and options["compression"] is not None
        exif[0x0112] = draw(st.sampled_from(_ORIENTATIONS[1:9] if valid_only else _ORIENTATIONS))
        options["exif"] = exif
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """`data` truncated, with bytes flipped, or with random bytes spliced in."""
    how = draw(st.sampled_from(("truncate", "flip", "splice")))
    if how == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    changed = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(changed) - 1))
        changed[at] ^= draw(st.integers(1, 255))
    return bytes(changed)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@st.composite
def crafted_png(draw) -> bytes:
    depth, colour = draw(st.sampled_from(((1, 0), (8, 0), (16, 0), (8, 2), (16, 2), (8, 3),
                                          (8, 4), (8, 6), (16, 6), (3, 9), (0, 0))))
    header = struct.pack(">IIBBBBB", draw(sides(32)), draw(sides(32)), depth, colour, 0, 0,
                         draw(st.sampled_from((0, 1))))
    body = _chunk(b"IHDR", header)
    if colour == 3:
        body += _chunk(b"PLTE", draw(st.binary(min_size=3, max_size=48)))
    body += _chunk(b"IDAT", zlib.compress(draw(st.binary(max_size=256))))
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b"")


@st.composite
def crafted_bmp(draw) -> bytes:
    width = draw(st.integers(-(2**31), 2**31 - 1) | sides(31))
    height = draw(st.integers(-(2**31), 2**31 - 1) | sides(31))
    bits = draw(st.sampled_from((1, 4, 8, 16, 24, 32, 0, 64)))
    compression = draw(st.sampled_from((0, 1, 2, 3, 6)))
    colours = draw(st.sampled_from((0, 2, 16, 256, 2**31)))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, compression, 0, 2835, 2835,
                       colours, 0)
    palette = draw(st.binary(max_size=64))
    data = draw(st.binary(max_size=256))
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + palette + data


@st.composite
def crafted_gif(draw) -> bytes:
    screen = struct.pack("<HHBBB", draw(sides(16)), draw(sides(16)), 0xF7, 0, 0)
    palette = bytes(range(256)) * 3
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, draw(sides(16)), draw(sides(16)), 0)
    data = draw(st.binary(max_size=200))
    blocks = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                      for i in range(0, len(data), 255))
    return b"GIF89a" + screen + palette + frame + b"\x08" + blocks + b"\x00\x3b"


@st.composite
def crafted_jpeg(draw) -> bytes:
    components = draw(st.sampled_from((1, 3, 4, 0, 255)))
    sof = struct.pack(">BHHB", 8, draw(sides(16)), draw(sides(16)), components)
    sof += b"".join(bytes([i + 1, 0x11, 0]) for i in range(min(components, 4)))
    marker = draw(st.sampled_from((b"\xff\xc0", b"\xff\xc2", b"\xff\xc1")))
    return (b"\xff\xd8" + marker + struct.pack(">H", len(sof) + 2) + sof
            + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + draw(st.binary(max_size=256))
            + b"\xff\xd9")


# TIFF tags a crafted header may carry: size, layout, sample format, strips and tiles.
_TIFF_TAGS = (256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 338,
              339)


@st.composite
def crafted_tiff(draw) -> bytes:
    tags = {256: draw(sides(32)), 257: draw(sides(32)), 258: draw(st.sampled_from((1, 8, 16, 32))),
            259: 1, 262: draw(st.sampled_from((0, 1, 2, 3, 5, 6))), 273: 0, 277: 1, 279: 0}
    extra = draw(st.dictionaries(st.sampled_from(_TIFF_TAGS), st.integers(0, 2**32 - 1) | sides(32),
                                 max_size=6))
    tags.update(extra)
    data = draw(st.binary(max_size=256))
    entries = sorted(tags.items())
    first = 8 + 2 + 12 * len(entries) + 4
    tags[273], tags[279] = tags.get(273) or first, tags.get(279) or len(data)
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, 4, 1, tags[tag]) for tag, _ in entries) + b"\x00\x00\x00\x00"
    return b"II*\x00" + struct.pack("<I", 8) + ifd + data


@st.composite
def crafted_webp(draw) -> bytes:
    kind = draw(st.sampled_from(("VP8L", "VP8X")))
    if kind == "VP8L":
        bits = (draw(sides(14)) - 1) % 2**14 | ((draw(sides(14)) - 1) % 2**14) << 14
        body = b"\x2f" + struct.pack("<I", bits | draw(st.sampled_from((0, 1))) << 28)
        body += draw(st.binary(max_size=200))
        chunks = b"VP8L" + struct.pack("<I", len(body)) + body
    else:
        width, height = draw(sides(24)), draw(sides(24))
        flags = draw(st.sampled_from((0x00, 0x10, 0x02, 0x12)))  # alpha, animation
        canvas = bytes([flags, 0, 0, 0]) + ((width - 1) % 2**24).to_bytes(3, "little") + (
            (height - 1) % 2**24).to_bytes(3, "little")
        chunks = b"VP8X" + struct.pack("<I", len(canvas)) + canvas
        if flags & 0x02:
            chunks += b"ANIM" + struct.pack("<I", 6) + b"\x00" * 6
            frame = b"\x00" * 6 + canvas[4:10] + b"\x00\x00\x00\x00" + draw(st.binary(max_size=64))
            chunks += b"ANMF" + struct.pack("<I", len(frame)) + frame
        else:
            body = draw(st.binary(max_size=128))
            chunks += b"VP8 " + struct.pack("<I", len(body)) + body
    if len(chunks) % 2:
        chunks += b"\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def crafted() -> st.SearchStrategy[bytes]:
    """Headers that declare any size over little or no pixel data."""
    makers = (crafted_png, crafted_bmp, crafted_gif, crafted_jpeg, crafted_tiff, crafted_webp)
    return st.sampled_from(makers).flatmap(lambda make: make())


def uploads() -> st.SearchStrategy[bytes]:
    """Any bytes an upload box can receive."""
    real = pictures()
    kinds = (
        real, real, real, real.flatmap(damaged), real.flatmap(damaged),
        st.tuples(st.sampled_from(SIGNATURES), st.binary(max_size=512)).map(b"".join),
        crafted(), crafted(), crafted().flatmap(damaged),
    )
    # drawn evenly by kind (one_of would weigh each crafted format as a kind of its own);
    # whole and damaged real pictures make more than half: they reach every step
    return st.sampled_from(kinds).flatmap(lambda kind: kind)


# The largest pictures the studio accepts (4096×4096), in the modes that cost most to bring
# to 8 bits: name → (mode, format, save options).
# The largest picture of each kind that an upload may be: 4096×4096 pixels, or as many as
# fit MAX_DECODED_BYTES once decoded (`decoding.bytes_per_pixel`).
LARGEST = {
    "F TIFF": ("F", "TIFF", {"compression": "tiff_deflate"}),
    "I TIFF": ("I", "TIFF", {"compression": "tiff_deflate"}),
    "I;16 PNG": ("I;16", "PNG", {}),
    "L PNG": ("L", "PNG", {}),
    "RGBA PNG": ("RGBA", "PNG", {}),
    "RGBA WebP": ("RGBA", "WEBP", {"lossless": True}),
    "CMYK JPEG": ("CMYK", "JPEG", {}),
}


def largest_side(mode: str, fmt: str) -> int:
    """The side of the largest square picture of this mode an upload may be."""
    from fmnist_core.data.decoding import MAX_DECODED_BYTES, bytes_per_pixel

    if fmt == "JPEG":  # decoded at an eighth of its size: only the pixel limit holds
        return 4096
    return min(4096, int((MAX_DECODED_BYTES // bytes_per_pixel(mode, fmt)) ** 0.5))


def largest_picture(name: str, side: int | None = None) -> bytes:
    """A LARGEST picture's file: a dark box on a light page, `side` pixels square (by
    default the largest an upload may be)."""
    mode, fmt, options = LARGEST[name]
    side = side or largest_side(mode, fmt)
    box = np.zeros((side, side), dtype=bool)
    box[side // 4:3 * side // 4, side // 3:2 * side // 3] = True
    if mode == "F":
        image = Image.fromarray(np.where(box, 0.2, 0.9).astype(np.float32), "F")
    elif mode == "I":
        image = Image.fromarray(np.where(box, 100_000, 900_000).astype(np.int32), "I")
    elif mode == "I;16":
        image = Image.fromarray(np.where(box, 1000, 60000).astype(np.uint16))
    elif mode == "L":
        image = Image.fromarray(np.where(box, 30, 220).astype(np.uint8))
    else:
        gray = np.where(box, 30, 220).astype(np.uint8)
        alpha = np.where(box, 200, 255).astype(np.uint8)  # not all opaque: WebP keeps alpha
        bands = [gray] * 3 + [alpha if mode == "RGBA" else gray]
        image = Image.fromarray(np.dstack(bands), mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def switches() -> st.SearchStrategy[dict]:
    """The Predict page's preprocessing switches."""
    return st.fixed_dictionaries({"invert": st.sampled_from(("auto", True, False)),
                                  "trim": st.booleans(), "fit": st.booleans(),
                                  "center": st.booleans()})


def _measured(call) -> Outcome:
    """The outcome of `call()` (which returns the result's outcome), a sentence for an
    ImageError, with the peak memory it took."""
    with PeakMemory() as memory:
        try:
            outcome = call()
        except ImageError as err:
            outcome = sentence(str(err), PAGE_SENTENCE_LENGTH)
        except Exception as err:  # noqa: BLE001 - whatever it is, it is the finding
            outcome = unexpected(err)
    if memory.mb is not None and memory.mb > MAX_DECODE_MB:
        return Outcome("crash", f"took {memory.mb:.0f} MB, more than {MAX_DECODE_MB} MB",
                       memory.mb)
    return dataclasses.replace(outcome, peak_mb=memory.mb)


def check_preprocess(example: tuple[bytes, dict], dataset: str) -> Outcome:
    data, chosen = example

    def call() -> Outcome:
        made = preprocess(data, dataset, **chosen)
        if made.image.shape != (SIZE, SIZE) or made.image.dtype != np.uint8:
            return crash(f"the image is {made.image.shape} {made.image.dtype}")
        if not made.steps or made.steps[-1].image is not made.image:
            return crash("the last step is not the image")
        for step in made.steps:
            if step.image.ndim != 2 or step.image.dtype != np.uint8 or not step.image.size:
                return crash(f"step {step.name!r} is {step.image.shape} {step.image.dtype}")
            if not is_sentence(step.note):
                return crash(f"step {step.name!r}'s note is not one sentence: {step.note!r}")
        return result()

    return _measured(call)


def check_decode(data: bytes) -> Outcome:
    def call() -> Outcome:
        image = decode_image(data)
        width, height = image.size
        if image.mode not in ("L", "LA", "RGB", "RGBA"):
            return crash(f"decoded in mode {image.mode}")
        if not 0 < width * height <= MAX_IMAGE_PIXELS:
            return crash(f"decoded {width}×{height} pixels")
        return result()

    return _measured(call)


TARGETS = (
    Target("upload fashion_mnist", "upload bytes → preprocess(…, 'fashion_mnist', switches)",
           lambda: st.tuples(uploads(), switches()),
           lambda: stateless(lambda example: check_preprocess(example, "fashion_mnist"))),
    Target("upload mnist", "upload bytes → preprocess(…, 'mnist', switches)",
           lambda: st.tuples(uploads(), switches()),
           lambda: stateless(lambda example: check_preprocess(example, "mnist"))),
    Target("decode", "upload bytes → decode_image", uploads, lambda: stateless(check_decode)),
)
