"""Pictures the tests of the data package share: the awkward upload corpus
(tests/data/make_corpus.py), photo renders (tests/data/photo_corpus.py), a drawn canvas."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def load_script(name: str):
    """Loads a generator script from tests/data, which is not a package, by its path."""
    path = Path(__file__).parent / "data" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus_module = load_script("make_corpus")
photos = load_script("photo_corpus")


def upload_corpus(folder: Path) -> dict[str, bytes]:
    """Writes the upload corpus into `folder` and returns each file's bytes by name."""
    paths = corpus_module.make_corpus(folder)
    return {name: path.read_bytes() for name, path in paths.items()}


def draw_canvas(opaque: bool) -> np.ndarray:
    """A 200×200 canvas with a black stroke, as the drawing widget returns it."""
    canvas = np.zeros((200, 200, 4), dtype=np.uint8)
    if opaque:
        canvas[...] = 255
    image = Image.fromarray(canvas)
    ImageDraw.Draw(image).line([(40, 150), (100, 40), (160, 150)], fill=(0, 0, 0, 255), width=12)
    return np.asarray(image).copy()


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def border_mean(image: np.ndarray) -> float:
    return float(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).mean())
