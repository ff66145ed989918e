"""Tests for ui.drawing: the canvas's value is taken only as the canvas's own picture.

The value comes from the browser, so a client can send anything in its place: these are the
values a crafted websocket message could carry.
"""

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fmnist_core.data.decoding import ImageError
from ui.drawing import SIZE, UNREADABLE, read


def png(size=(SIZE, SIZE), mode="RGBA", fmt="PNG") -> bytes:
    data = io.BytesIO()
    Image.new(mode, size).save(data, fmt)
    return data.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A small PNG whose header claims a huge picture: zeros compress a thousandfold."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    rows = zlib.compress(b"\0" * ((width * 4 + 1) * height), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))


def test_the_canvas_own_png_is_read_as_rgba():
    image = read(png())
    assert image.shape == (SIZE, SIZE, 4) and image.dtype == np.uint8
    assert read(None) is None


@pytest.mark.parametrize("data", [
    png(fmt="GIF", mode="P"), png(fmt="BMP", mode="RGB"), png(fmt="TIFF"),
    png(fmt="JPEG", mode="RGB"),  # another format
    png(size=(281, 280)), png(size=(28, 28)),  # another size
    bomb_png(8190, 4096),  # 138 KB that decodes to 134 MB
    b"\x89PNG\r\n\x1a\n" + b"\0" * 100, b"", b"not a picture",  # damaged or none
    b"\0" * (500 * 1024),  # longer than any 280×280 PNG
    "data:image/png;base64,AAAA",  # not bytes at all
])
def test_anything_else_is_one_sentence_before_it_is_decoded(data):
    with pytest.raises(ImageError) as caught:
        read(data)
    assert str(caught.value) == UNREADABLE


class CraftedResult:
    """What the canvas component returns, carrying a value a client crafted."""

    def __init__(self, url: str):
        self.json_data = {"objects": [{"type": "path"}]}
        self._url = url

    @property
    def image_bytes(self) -> bytes:  # as streamlit_drawable_canvas.CanvasResult reads it
        _, encoded = self._url.split(";base64,", 1)
        return base64.b64decode(encoded)


def test_a_crafted_data_url_on_the_page_is_one_sentence(monkeypatch, trained_run):
    """The page reads the value through the component's result: a value that is no base64
    data URL, or one of another picture, is the sentence and nothing is classified."""
    from pagetools import page_test, page_text
    from ui import drawing

    for url in ("data:image/png;base64,@@@", "no url at all",
                "data:image/png;base64," + base64.b64encode(bomb_png(8190, 4096)).decode()):
        monkeypatch.setattr(drawing, "component", lambda url=url, **kwargs: CraftedResult(url))
        at = page_test("pages/predict.py")
        assert not at.exception
        assert [e.value for e in at.error] == [UNREADABLE]
        assert "The network thinks" not in page_text(at)
