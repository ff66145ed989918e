"""Tests for fmnist_core.data.decoding: formats, modes, frames, EXIF and the limits of an upload."""

from __future__ import annotations

import ast
import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from corpora import corpus_module, encode, upload_corpus
from PIL import Image, ImageDraw

from fmnist_core.data.decoding import (FORMATS, MAX_DECODED_BYTES, ImageError, bytes_per_pixel,
                                       decode_image, decode_upload)

PREDICT_PAGE = Path(__file__).parents[1] / "pages" / "predict.py"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, bytes]:
    return upload_corpus(tmp_path_factory.mktemp("corpus"))


def test_gif_uses_the_first_frame(corpus):
    decoded = np.asarray(decode_image(corpus["shirt_animated.gif"]).convert("L"), dtype=float)
    shirt = np.asarray(corpus_module.shirt_rgb().convert("L"), dtype=float)

    assert np.abs(decoded - shirt).mean() < 3


def test_decode_normalizes_modes(corpus):
    gray16 = decode_image(corpus["shirt_16bit.png"])
    assert gray16.mode == "L"
    assert sorted(np.unique(np.asarray(gray16))) == [round(12000 / 257), 255]
    assert decode_image(corpus["shirt_cmyk.jpg"]).mode == "RGB"
    assert decode_image(corpus["shirt_palette_transparent.png"]).mode == "RGBA"
    assert decode_image(corpus["shirt_rgba_dark_ink.png"]).mode == "RGBA"


def test_decode_rejects_non_bytes():
    with pytest.raises(ValueError, match=r"^Argument `data` must be bytes, received str\.$"):
        decode_image("shirt.png")


def test_upload_box_accepts_exactly_the_formats_the_sentence_lists(corpus):
    page = ast.parse(PREDICT_PAGE.read_text())
    page_types = next(
        ast.literal_eval(node.value)
        for node in page.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "UPLOAD_TYPES"
    )
    with pytest.raises(ImageError) as caught:
        decode_image(corpus["not_an_image.png"])
    sentence = str(caught.value).upper()

    # The page's file endings are the decoder's formats, every one of them and no other.
    pillow_formats = {extension: Image.registered_extensions()[f".{extension}"]
                      for extension in page_types}
    assert set(pillow_formats.values()) == set(FORMATS)
    for extension, pillow_format in pillow_formats.items():
        assert pillow_format in sentence, extension
        data = encode(corpus_module.shirt_rgb(), pillow_format)
        assert decode_image(data).size == (corpus_module.WIDTH, corpus_module.HEIGHT), extension


def test_a_large_jpeg_is_reduced_while_decoding_and_its_full_size_kept():
    photo = Image.new("RGB", (4000, 3000), (235, 235, 230))
    ImageDraw.Draw(photo).rectangle((1000, 800, 3000, 2200), fill=(40, 50, 90))
    data = encode(photo, "JPEG", quality=80)

    image, full_size = decode_upload(data, max_edge=640)

    assert full_size == (4000, 3000)
    assert image.size == (1000, 750)  # a quarter: the smallest reduction still ≥ 640 across
    with pytest.raises(ImageError, match=r"^The 4000×3000 picture would take 46 MB to read"):
        decode_image(data)  # at full size it would take more than a picture may


def test_a_broken_exif_block_keeps_the_picture_and_is_logged(caplog):
    picture = encode(Image.new("L", (30, 20), 255), "PNG")
    body = b"not a TIFF header"
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(
        ">I", zlib.crc32(b"eXIf" + body))
    # After the 8-byte signature and the 25-byte IHDR chunk.
    data = picture[:33] + chunk + picture[33:]

    with caplog.at_level(logging.WARNING, logger="fmnist_core.data.decoding"):
        image = decode_image(data)

    assert image.size == (30, 20) and image.mode == "L"
    (record,) = [r for r in caplog.records if r.name == "fmnist_core.data.decoding"]
    assert record.levelno == logging.WARNING and record.exc_info is not None
    assert "EXIF" in record.getMessage()


def test_bytes_per_pixel_follows_pillows_modes():
    assert [bytes_per_pixel(mode) for mode in ("1", "L", "P", "I;16", "RGB", "RGBA", "F")] == [
        1, 1, 1, 2, 4, 4, 4]
    assert bytes_per_pixel("RGBA", "WEBP") == 8  # the decoder's own canvas besides
    # The largest RGBA picture that fits is smaller than the 4096×4096 pixel limit.
    assert MAX_DECODED_BYTES // bytes_per_pixel("RGBA") < 4096 * 4096
