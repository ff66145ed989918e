"""Tests for fmnist_core.preprocessing: every awkward upload, the canvas, both datasets."""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fmnist_core.preprocessing import (
    MAX_UPLOAD_BYTES,
    ImageError,
    Preprocessed,
    canvas_to_image,
    decode_image,
    preprocess,
)

FASHION_TEST_IMAGES = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")

# The corpus generator is a script in tests/data, not a package, so it is loaded by path.
_spec = importlib.util.spec_from_file_location(
    "make_corpus", Path(__file__).parent / "data" / "make_corpus.py"
)
corpus_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus_module)

SHIRTS = [
    "shirt.png",
    "shirt.jpg",
    "shirt.webp",
    "shirt_animated.gif",
    "shirt.bmp",
    "shirt.tiff",
    "shirt_16bit.png",
    "shirt_cmyk.jpg",
    "shirt_palette_transparent.png",
    "shirt_rgba_dark_ink.png",
    "shirt_rgba_light_ink.png",
    "shirt_exif_rotated.jpg",
]
GOOD = [*SHIRTS, "thin_1x500.png"]
# File name -> a piece of the sentence the user must see.
BAD = {
    "tiny_1x1.png": "The image is blank",
    "blank_white.png": "The image is blank",
    "blank_black.png": "The image is blank",
    "empty.png": "The file is empty.",
    "not_an_image.png": "not a PNG, JPEG, WebP, GIF, BMP or TIFF image",
    "truncated.png": "damaged or incomplete",
    "truncated.jpg": "damaged or incomplete",
    "bomb_20000x20000.png": "4096×4096 limit",
    "bomb_5000x5000.png": "5000×5000 pixels",
    "oversized.bmp": "MB limit",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, bytes]:
    paths = corpus_module.make_corpus(tmp_path_factory.mktemp("corpus"))
    return {name: path.read_bytes() for name, path in paths.items()}


@pytest.fixture(scope="module")
def shirt_reference(corpus) -> np.ndarray:
    return preprocess(corpus["shirt.png"]).image


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def border_mean(image: np.ndarray) -> float:
    return float(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).mean())


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    weights = image.astype(float)
    rows, cols = np.indices(image.shape)
    return (rows * weights).sum() / weights.sum(), (cols * weights).sum() / weights.sum()


def assert_one_sentence(message: str) -> None:
    assert message.endswith("."), message
    assert "\n" not in message and "Traceback" not in message, message
    assert ". " not in message, message  # a second sentence would start after ". "
    assert message[0].isupper(), message


def names(result: Preprocessed) -> list[str]:
    return [step.name for step in result.steps]


def test_corpus_covers_every_file(corpus):
    assert set(corpus) == set(GOOD) | set(BAD)
    assert len(corpus["oversized.bmp"]) > MAX_UPLOAD_BYTES
    assert len(corpus["bomb_20000x20000.png"]) < 100_000


@pytest.mark.parametrize("name", GOOD)
def test_good_uploads_give_light_ink_on_dark(corpus, name):
    result = preprocess(corpus[name])

    assert isinstance(result, Preprocessed)
    assert result.image.shape == (28, 28) and result.image.dtype == np.uint8
    assert result.image.max() > 100, "ink should be present"
    assert border_mean(result.image) < result.image[9:19, 9:19].mean()
    assert result.steps[-1].image is result.image
    for step in result.steps:
        assert step.image.dtype == np.uint8 and step.image.ndim == 2
        assert_one_sentence(step.note)


@pytest.mark.parametrize("name", SHIRTS)
def test_every_format_gives_the_same_shirt(corpus, shirt_reference, name):
    assert correlation(preprocess(corpus[name]).image, shirt_reference) > 0.95


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_uploads_raise_one_sentence(corpus, name):
    with pytest.raises(ImageError) as caught:
        preprocess(corpus[name])

    message = str(caught.value)
    assert BAD[name] in message
    assert_one_sentence(message)


def test_exif_rotation_is_applied(corpus, shirt_reference):
    stored = Image.open(io.BytesIO(corpus["shirt_exif_rotated.jpg"]))
    decoded = decode_image(corpus["shirt_exif_rotated.jpg"])
    sideways = preprocess(corpus_module.shirt_rgb().transpose(Image.Transpose.ROTATE_90)).image

    assert stored.size == (corpus_module.HEIGHT, corpus_module.WIDTH)
    assert decoded.size == (corpus_module.WIDTH, corpus_module.HEIGHT)
    result = preprocess(corpus["shirt_exif_rotated.jpg"]).image
    assert correlation(result, shirt_reference) > 0.95
    assert correlation(result, sideways) < 0.8


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


def test_transparent_background_is_filled_opposite_to_the_ink(corpus):
    dark = preprocess(corpus["shirt_rgba_dark_ink.png"]).steps[0]
    light = preprocess(corpus["shirt_rgba_light_ink.png"]).steps[0]

    assert dark.image[0, 0] == 255 and "white" in dark.note
    assert light.image[0, 0] == 0 and "black" in light.note
    assert names(preprocess(corpus["shirt_rgba_light_ink.png"]))[1] == (
        "Not inverted (already light on dark)"
    )


def test_decode_rejects_non_bytes():
    with pytest.raises(ValueError, match="`data`"):
        decode_image("shirt.png")


def draw_canvas(opaque: bool) -> np.ndarray:
    """A 200×200 canvas with a black stroke, as the drawing widget returns it."""
    canvas = np.zeros((200, 200, 4), dtype=np.uint8)
    if opaque:
        canvas[...] = 255
    image = Image.fromarray(canvas)
    ImageDraw.Draw(image).line([(40, 150), (100, 40), (160, 150)], fill=(0, 0, 0, 255), width=12)
    return np.asarray(image).copy()


@pytest.mark.parametrize("opaque", [False, True], ids=["transparent", "opaque"])
def test_canvas_gives_white_ink_on_black(opaque):
    canvas = draw_canvas(opaque)
    if not opaque:
        assert not canvas[..., :3].any(), "the ink should be only in the alpha channel"

    ink = np.asarray(canvas_to_image(canvas))
    result = preprocess(canvas)

    assert ink.shape == (200, 200) and ink[0, 0] == 0 and ink[95, 70] == 255
    assert result.image.shape == (28, 28) and result.image.max() > 200
    assert border_mean(result.image) < result.image[9:19, 9:19].mean()


@pytest.mark.parametrize("opaque", [False, True], ids=["transparent", "opaque"])
def test_empty_canvas_asks_to_draw(opaque):
    canvas = np.full((200, 200, 4), 255 if opaque else 0, dtype=np.uint8)

    with pytest.raises(ImageError, match=r"^The canvas is empty: draw something first\.$"):
        preprocess(canvas)


@pytest.mark.parametrize(
    "bad", [np.zeros((20, 20, 3), np.float32), np.zeros((20, 20), np.uint8), "canvas"]
)
def test_canvas_rejects_wrong_arrays(bad):
    with pytest.raises(ValueError, match=r"`rgba`.*\(h, w, 4\) uint8"):
        canvas_to_image(bad)


def read_fashion_images(count: int) -> np.ndarray:
    if not FASHION_TEST_IMAGES.exists():
        pytest.skip(f"{FASHION_TEST_IMAGES} is not installed")
    with gzip.open(FASHION_TEST_IMAGES) as file:
        raw = file.read(16 + count * 28 * 28)  # 16-byte IDX header, then 28×28 uint8 images
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 28, 28)


def test_fashion_pipeline_recovers_real_dataset_images():
    for original in read_fashion_images(16):
        photo = Image.fromarray(255 - original).resize((200, 200), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        photo.save(buffer, format="PNG")

        result = preprocess(buffer.getvalue(), "fashion_mnist")

        assert result.steps[1].name == "Inverted (dataset is light on dark)"
        assert correlation(result.image, original) > 0.8


def test_mnist_puts_the_centre_of_mass_in_the_middle():
    page = Image.new("L", (300, 200), 255)
    # A lopsided "7" near the top-left corner.
    ImageDraw.Draw(page).line([(20, 20), (110, 20), (50, 150)], fill=0, width=14)

    result = preprocess(np.asarray(page), "mnist")

    assert names(result)[3:] == [
        "Fit into 20×20",
        "Centre of mass to the middle",
    ]
    assert max(result.steps[3].image.shape) == 20
    row, col = center_of_mass(result.image)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1


def test_step_toggles_change_the_steps(corpus):
    data = corpus["shirt.png"]

    full = preprocess(data)
    assert names(full) == [
        "Grayscale",
        "Inverted (dataset is light on dark)",
        "Trimmed background",
        "Longest edge to 28",
        "Centred on 28×28",
    ]
    assert "Trimmed background" not in names(preprocess(data, trim=False))
    assert names(preprocess(data, invert=False))[1] == "Not inverted"

    stretched = preprocess(data, fit=False)
    assert "Stretched to 28×28" in names(stretched)
    assert "aspect ratio" in stretched.steps[3].note
    assert stretched.image.shape == (28, 28)

    corner = preprocess(data, center=False)
    assert names(corner)[-1] == "Top-left on 28×28"
    assert corner.image[:, 0].any() and corner.image[0].any()
    assert not corner.image[:, -1].any(), "the narrow shirt should leave the right edge empty"


def test_tiny_and_thin_arrays_work():
    assert preprocess(np.array([[0, 255]], dtype=np.uint8)).image.shape == (28, 28)
    thin = np.full((1, 500), 255, dtype=np.uint8)
    thin[0, 100:400] = 0
    for dataset in ("fashion_mnist", "mnist"):
        result = preprocess(thin, dataset)
        assert result.image.shape == (28, 28) and result.image.max() > 100


def test_outputs_are_read_only(corpus):
    result = preprocess(corpus["shirt.png"])

    with pytest.raises(ValueError):
        result.image[0, 0] = 1


def test_pil_image_source_matches_bytes(corpus, shirt_reference):
    assert np.array_equal(preprocess(corpus_module.shirt_rgb()).image, shirt_reference)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"dataset": "cifar10"}, "`dataset`"),
        ({"invert": "yes"}, "`invert`"),
        ({"trim": 1}, "`trim`"),
        ({"source": 42}, "`source`"),
        ({"source": np.zeros((5, 5), np.float64)}, "`source`"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, argument):
    kwargs = {"source": np.eye(5, dtype=np.uint8) * 255, **kwargs}
    with pytest.raises(ValueError, match=argument) as caught:
        preprocess(**kwargs)
    assert not isinstance(caught.value, ImageError)
