"""The Predict page's drawing canvas: read only as the canvas's own picture, named for a
screen reader, and out of the keyboard's way.

The canvas's value comes from the browser as a data URL, so a client can send anything in its
place: another format, or a small file that decodes to a huge picture. It is taken only as a
PNG of the canvas's own size, through the same decoder as uploads; anything else is one
sentence. The canvas component's toolbar (update, edit, reset) duplicates the page's own
"Clear the canvas" and took three Tabs, so a small script takes it out of the tab order and
names the canvas.
"""

from __future__ import annotations

import binascii
import io

import numpy as np
import streamlit as st
from PIL import Image

from fmnist_core.data.decoding import ImageError, decode_image

SIZE = 280
# A 280×280 RGBA PNG is at most about 314 KB even incompressible: room for it, no more.
MAX_PNG_BYTES = 400 * 1024
NAME = ("Drawing canvas, 280 by 280 pixels: draw one piece of clothing with the mouse, a "
        "pen or a finger. Without a pointer, choose Upload above to give a picture instead.")
UNREADABLE = "The drawing could not be read: clear the canvas and draw again."

_A11Y_JS = """
export default function (component) {
  const { data } = component;
  // the canvas lives in a shadow root, perhaps inside another one
  const roots = (root, found = []) => {
    for (const e of root.querySelectorAll('*')) {
      if (e.shadowRoot) { found.push(e.shadowRoot); roots(e.shadowRoot, found); }
    }
    return found;
  };
  const tidy = () => {
    const hosts = roots(document).filter(r => r.querySelector('canvas.upper-canvas'));
    for (const root of hosts) {
      root.querySelectorAll('.dc-toolbar-card button, .dc-toolbar-contextual button')
        .forEach(b => b.setAttribute('tabindex', '-1'));
      const canvas = root.querySelector('canvas.upper-canvas');
      if (canvas && canvas.getAttribute('aria-label') !== data.name) {
        canvas.setAttribute('role', 'img');
        canvas.setAttribute('aria-label', data.name);
      }
    }
    return hosts.length;
  };
  // the canvas is drawn inside shadow roots, which no observer of the page sees change:
  // look again every quarter second until it is there (30 s at most)
  let tries = 0;
  const again = setInterval(() => {
    if (tidy() || ++tries > 120) clearInterval(again);
  }, 250);
}
"""
_tidy = st.components.v2.component("studio_canvas_a11y", js=_A11Y_JS)


def canvas(stroke_width: int, key: str) -> np.ndarray | None:
    """Draws the canvas; returns what is drawn as a `(280, 280, 4) uint8` RGBA array, or
    None while nothing is.

    Raises:
        ImageError: the value the browser sent is not the canvas's own picture.
    """
    st.caption(NAME)
    result = component(stroke_width=stroke_width, stroke_color="#FFFFFF",
                       background_color="#000000", height=SIZE, width=SIZE,
                       return_image_data=True, key=key)
    _tidy(data={"name": NAME}, key=f"{key}_a11y", height=0)
    if not (result.json_data or {}).get("objects"):
        return None
    try:
        data = result.image_bytes
    except (ValueError, binascii.Error):  # not a base64 data URL
        raise ImageError(UNREADABLE) from None
    return read(data)


def component(**kwargs):
    """`streamlit_drawable_canvas.st_canvas`, imported when first drawn: the package registers
    its component on import, which needs a running Streamlit."""
    from streamlit_drawable_canvas import st_canvas

    return st_canvas(**kwargs)


def read(data: bytes | None) -> np.ndarray | None:
    """The canvas's PNG as a `(280, 280, 4) uint8` RGBA array; None for none.

    Raises:
        ImageError: not a PNG of 280×280 pixels, or larger than one can be.
    """
    if data is None:
        return None
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_PNG_BYTES:
        raise ImageError(UNREADABLE)
    try:
        # the size from the header, before a single pixel is decoded
        with Image.open(io.BytesIO(data), formats=("PNG",)) as header:
            if header.size != (SIZE, SIZE):
                raise ImageError(UNREADABLE)
        image = decode_image(bytes(data), formats=("PNG",))
    except (ImageError, OSError, SyntaxError, ValueError):
        raise ImageError(UNREADABLE) from None
    return np.asarray(image.convert("RGBA"), dtype=np.uint8)
