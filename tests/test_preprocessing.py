"""Tests for fmnist_core.data.preprocessing: every awkward upload, drawings, both datasets, and
photos (noise, JPEG, uneven light, pictures without an object), each step to 28×28."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from corpora import border_mean, corpus_module, draw_canvas, encode, photos, upload_corpus
from fuzz_images import LARGEST, largest_picture
from fuzzing import MAX_DECODE_MB, PeakMemory
from PIL import Image, ImageDraw

from fmnist_core.data.decoding import MAX_UPLOAD_BYTES, ImageError, decode_image
from fmnist_core.data.preprocessing import Preprocessed, preprocess

NO_OBJECT = "No object found in the picture:"

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
    return upload_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def shirt_reference(corpus) -> np.ndarray:
    return preprocess(corpus["shirt.png"]).image


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


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


def test_transparent_background_is_filled_opposite_to_the_ink(corpus):
    dark = preprocess(corpus["shirt_rgba_dark_ink.png"]).steps[0]
    light = preprocess(corpus["shirt_rgba_light_ink.png"]).steps[0]

    assert dark.image[0, 0] == 255 and "white" in dark.note
    assert light.image[0, 0] == 0 and "black" in light.note
    assert names(preprocess(corpus["shirt_rgba_light_ink.png"]))[1] == (
        "Not inverted (already light on dark)"
    )


def test_fashion_pipeline_recovers_real_dataset_images(fashion):
    for original in fashion.x_test[:16]:
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
        "Contrast stretched",  # the navy shirt inverts to 205 at most
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
    pattern = rf"^Argument {argument} must .*, received .*\.$"
    with pytest.raises(ValueError, match=pattern) as caught:
        preprocess(**kwargs)
    assert not isinstance(caught.value, ImageError)


@pytest.fixture(scope="module")
def boot(fashion) -> np.ndarray:
    """An ankle boot from the test set, `(28, 28) uint8`."""
    return fashion.x_test[0]


@pytest.mark.parametrize("format", ["PNG", "JPEG"])
def test_noise_does_not_stop_the_trimming(boot, format):
    clean = preprocess(photos.render_photo(boot, size=(300, 300), format=format))
    noisy = preprocess(photos.render_photo(boot, size=(300, 300), noise=8, format=format))

    trimmed = {step.name: step.image.shape for step in noisy.steps}["Trimmed background"]
    expected = {step.name: step.image.shape for step in clean.steps}["Trimmed background"]
    assert np.abs(np.subtract(trimmed, expected)).max() <= 4, (trimmed, expected)
    assert correlation(noisy.image, clean.image) > 0.97
    assert correlation(noisy.image, boot) > 0.9


@pytest.mark.parametrize(
    "light",
    [
        {"gradient": 0.35, "angle": 0.5},
        {"vignette": 0.45},
        {"gradient": 0.3, "angle": 2.5, "vignette": 0.3, "shadow": 0.2},
    ],
    ids=["gradient", "vignette", "gradient-vignette-shadow"],
)
def test_uneven_background_is_flattened_before_inverting(boot, light):
    data = photos.render_photo(boot, paper=(225, 225, 230), noise=4, format="JPEG", **light)

    result = preprocess(data)

    assert names(result)[1:3] == ["Background flattened", "Inverted (dataset is light on dark)"]
    assert_one_sentence(result.steps[1].note)
    inverted = result.steps[2].image
    assert np.percentile(inverted[:40], 99) <= 8 and np.percentile(inverted[-40:], 99) <= 8
    # The boot is 15 rows high in the middle of the 28×28 result: the rest is background.
    assert result.image[:6].max() <= 8 and result.image[-6:].max() <= 8
    assert correlation(result.image, boot) > 0.85  # a shadow leaves a faint halo


@pytest.mark.parametrize("name", sorted(photos.empty_pictures()))
def test_picture_without_an_object_is_refused(name):
    data = photos.empty_pictures()[name]

    with pytest.raises(ImageError) as caught:
        preprocess(data)

    message = str(caught.value)
    assert_one_sentence(message)
    assert message.startswith(NO_OBJECT) or message.startswith("The image is blank")
    for step_switches in ({"trim": False}, {"invert": False}, {"fit": False, "center": False}):
        with pytest.raises(ImageError):
            preprocess(data, **step_switches)


def test_a_slightly_uneven_plain_picture_says_no_object_found():
    # A teal wall photographed: not one flat colour, so not "blank", but nothing on it.
    data = photos.empty_pictures()["teal_noisy.jpg"]

    with pytest.raises(ImageError, match=f"^{NO_OBJECT} .*background"):
        preprocess(data)


GARMENTS = {
    "black on white": {"ink": (20, 20, 22)},
    "light grey on white": {"ink": (185, 185, 185), "noise": 4},
    "beige on white": {"ink": (200, 180, 150), "format": "JPEG", "quality": 60},
    "red on white": {"ink": (190, 35, 45), "noise": 8},
    "white on a dark table": {"ink": (240, 240, 235), "paper": (30, 30, 30), "noise": 6},
    "small, off-centre": {"scale": 0.33, "center": (0.05, 0.9), "noise": 8},
    "filling the frame": {"scale": 1.0, "gradient": 0.2},
    "in a dim, noisy corner": {"center": (1, 0), "scale": 0.5, "vignette": 0.4, "noise": 12},
}


@pytest.mark.parametrize("garment", sorted(GARMENTS))
def test_real_garments_are_never_refused(garment, fashion):
    images = fashion.x_test[:10]
    pictures = [
        photos.render_photo(image, size=(320, 240), seed=index, **GARMENTS[garment])
        for index, image in enumerate(images)
    ]

    results = [preprocess(data).image for data in pictures]

    # A busy pattern shifted by a pixel correlates poorly, so the mean says more.
    correlations = [correlation(result, image) for result, image in zip(results, images)]
    assert np.mean(correlations) > 0.85 and min(correlations) > 0.5, np.round(correlations, 2)


def test_clean_drawings_get_no_photo_steps():
    canvas = draw_canvas(opaque=False)

    result = preprocess(canvas)

    assert names(result) == [
        "Grayscale",
        "Not inverted (already light on dark)",
        "Trimmed background",
        "Longest edge to 28",
        "Centred on 28×28",
    ]
    assert result.steps[2].image.shape == (116, 131)  # the stroke's box, to the pixel


def test_a_dim_result_is_stretched_to_full_contrast():
    page = np.full((200, 200), 250, dtype=np.uint8)
    page[50:150, 70:130] = 170  # a pale grey garment: 80 levels after inversion

    result = preprocess(page)

    assert "Contrast stretched" in names(result)
    assert result.image.max() == 255


def test_a_large_photo_is_reduced_while_it_is_decoded():
    # how long it takes is measured in bench/interaction.py (target ≤ 300 ms)
    photo = Image.new("RGB", (4000, 3000), (235, 235, 230))
    ImageDraw.Draw(photo).polygon(
        [(x * 20 + 500, y * 15 + 400) for x, y in corpus_module._SHIRT], fill=(40, 50, 90)
    )
    result = preprocess(encode(photo, "JPEG", quality=90))
    assert max(result.steps[0].image.shape) <= 640
    assert "reducing the 4000×3000 picture" in result.steps[0].note
    assert result.image.max() == 255 and result.image[0, 0] == 0


@pytest.fixture(scope="module")
def photo_model(fashion):
    """The quick preset trained for 3 epochs on 12,000 real images (about 10 s on 2 cores)."""
    import keras

    from fmnist_core.nets.model import build_model, compile_model
    from fmnist_core.nets.spec import preset

    spec = preset("quick").replace(epochs=3)
    x_train, y_train = fashion.x_train[:12000], fashion.y_train[:12000]
    keras.utils.set_random_seed(spec.seed)
    model = compile_model(build_model(spec), spec, -(-len(x_train) // spec.batch_size))
    model.fit(x_train, y_train, batch_size=spec.batch_size, epochs=spec.epochs, verbose=0)
    return model


def test_photos_are_classified_as_well_as_the_raw_images(fashion, photo_model):
    x_test, y_test = fashion.x_test[:400], fashion.y_test[:400]
    pictures = photos.photo_corpus(x_test, seed=0)

    x_photos = np.stack([preprocess(data).image for data in pictures])

    raw = np.mean(photo_model.predict(x_test, verbose=0).argmax(axis=1) == y_test)
    seen = np.mean(photo_model.predict(x_photos, verbose=0).argmax(axis=1) == y_test)
    assert seen >= raw - 0.03, f"accuracy on the raw images {raw:.1%}, on the photos {seen:.1%}"


def test_a_fashion_mnist_image_itself_is_taken_as_it_is(fashion):
    """A 28×28 test image saved as a PNG (light on dark as in the dataset, or inverted), even
    a garment that fills the frame and touches its border, is accepted, the same either way,
    and close to the image it was (centring by mass may shift it by a pixel or two)."""
    import io

    from PIL import Image

    likeness = []
    for image in fashion.x_test[:40]:
        results = []
        for picture in (image, 255 - image):
            data = io.BytesIO()
            Image.fromarray(picture).save(data, "PNG")
            results.append(preprocess(data.getvalue()).image)  # no "No object found"
        assert correlation(results[0], results[1]) > 0.95
        likeness.append(correlation(results[0], image))
    assert np.median(likeness) > 0.9 and min(likeness) > 0.6, likeness


def test_no_official_test_image_is_refused(fashion):
    """Every one of the 10,000 official test images, saved as a 28×28 PNG, is taken: garments
    that fill the frame to its edges (test images 2367, 4115, 4495, 6619, 7899 and 8321 among
    them) included, and with Trim and Invert off as with them on."""
    import io

    from PIL import Image

    refused = []
    for index, image in enumerate(fashion.x_test):
        data = io.BytesIO()
        Image.fromarray(image).save(data, "PNG")
        try:
            preprocess(data.getvalue())
        except ImageError:
            refused.append(index)
    assert refused == []
    for index in (2367, 4115, 4495, 6619, 7899, 8321):
        result = preprocess(fashion.x_test[index], invert=False, trim=False)
        assert np.array_equal(result.image, fashion.x_test[index])


@pytest.mark.parametrize("name", list(LARGEST))
def test_a_picture_one_step_too_large_to_read_is_one_sentence_from_its_header(name):
    from fuzz_images import largest_side

    mode, fmt, _ = LARGEST[name]
    side = largest_side(mode, fmt)
    if side == 4096:
        pytest.skip("only the pixel limit holds for this kind")
    data = largest_picture(name, side + 64)
    with PeakMemory() as memory:
        with pytest.raises(ImageError, match=r"would take \d+ MB to read, more than the 32 MB"):
            preprocess(data)
    assert memory.mb is None or memory.mb < 40  # refused before a pixel is decoded


@pytest.mark.parametrize("name", list(LARGEST))
def test_the_largest_picture_takes_a_bounded_memory(name):
    # a 120 KB float TIFF once took 640 MB (float64 copies of the whole picture), and every
    # picture a copy or two more than it needed; the largest now decode within a budget
    data = largest_picture(name)
    with PeakMemory() as memory:
        result = preprocess(data)
    if memory.mb is None:
        pytest.skip("no peak memory reading on this system (Linux's VmHWM)")
    assert memory.mb <= MAX_DECODE_MB, f"{memory.mb:.0f} MB"
    assert result.image.shape == (28, 28) and result.image.max() == 255
