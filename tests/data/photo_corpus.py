"""Photo-like pictures made from real Fashion-MNIST images, for the preprocessing tests.

A dataset image is light on dark and fills its 28×28 frame; a user's photo shows a dark or
coloured garment on a light (or, now and then, dark) background, larger, anywhere in the
frame, under uneven light, with sensor noise and JPEG artefacts. `render_photo` makes one
such photo from a dataset image with every one of those knobs explicit; `photo_options`
draws the knobs at random and `photo_corpus` renders many. `empty_pictures` are photos with
no object in them at all, which the preprocessing must refuse. Everything is drawn with
numpy and Pillow from a seed: nothing is downloaded and every run makes the same bytes.

Usage:

    python tests/data/photo_corpus.py [outdir] [count]   # writes PNG/JPEG files to look at
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

# Garment colours (RGB): mostly dark or saturated, a few mid-tones, as in product photos.
INKS = (
    (20, 20, 22), (35, 45, 95), (120, 25, 35), (85, 60, 40), (30, 80, 45), (90, 90, 95),
    (190, 35, 45), (45, 85, 175), (65, 85, 125), (110, 40, 110), (150, 115, 80),
    (130, 135, 140),
)
# Background colours (RGB): white, off-white, light grey and beige paper.
PAPERS = ((255, 255, 255), (246, 244, 240), (235, 235, 235), (240, 232, 215), (225, 228, 232))
# Light garments on a dark table, for the other polarity.
LIGHT_INKS = ((240, 240, 235), (225, 215, 190), (235, 200, 200), (200, 220, 240))
DARK_PAPERS = ((20, 20, 20), (40, 35, 30), (30, 35, 50))


def render_photo(
    image: np.ndarray,
    *,
    size: tuple[int, int] = (300, 300),
    scale: float = 0.8,
    center: tuple[float, float] = (0.5, 0.5),
    ink: tuple[int, int, int] = (30, 30, 30),
    paper: tuple[int, int, int] = (255, 255, 255),
    gradient: float = 0.0,
    angle: float = 0.0,
    vignette: float = 0.0,
    shadow: float = 0.0,
    noise: float = 0.0,
    format: str = "PNG",
    quality: int = 90,
    seed: int = 0,
) -> bytes:
    """Renders a dataset image as the file bytes of a photo of that garment.

    The dataset's intensity says how much of the garment covers each pixel: 0 shows the
    paper, 255 the ink colour. Light falls on paper and garment alike; the shadow is cast by
    the garment onto the paper, down and to the right.

    Args:
        image: `(28, 28) uint8` dataset image, light on dark.
        size: (width, height) of the photo in pixels.
        scale: Side of the upscaled 28×28 frame as a fraction of the photo's shorter side.
        center: Where the garment sits, (0, 0) top-left to (1, 1) bottom-right.
        ink: RGB colour of the garment.
        paper: RGB colour of the background.
        gradient: Light falling off across the photo: 0.2 is 20 % darker on one side.
        angle: Direction of the gradient in radians (0 darkens the left side).
        vignette: Light lost in the corners, as a fraction.
        shadow: Darkness of the garment's soft shadow on the paper, as a fraction.
        noise: Standard deviation of the sensor noise, out of 255, in every channel alike.
        format: "PNG" or "JPEG".
        quality: JPEG quality.
        seed: Seed of the noise.

    Returns:
        The encoded photo.
    """
    width, height = size
    side = max(4, round(scale * min(width, height)))
    garment = Image.fromarray(image).resize((side, side), Image.Resampling.BICUBIC)
    top = round(center[1] * (height - side))
    left = round(center[0] * (width - side))
    cover = np.zeros((height, width), dtype=np.float32)
    cover[top : top + side, left : left + side] = np.asarray(garment, dtype=np.float32) / 255

    light = _light(width, height, gradient, angle, vignette)
    paper_light = light
    if shadow:
        # Cast by the garment's silhouette, blurred and offset by a twentieth of its size.
        silhouette = Image.fromarray(np.uint8(np.minimum(cover * 4, 1) * 255))
        blurred = silhouette.filter(ImageFilter.GaussianBlur(side / 15))
        offset = max(1, side // 20)
        cast = np.zeros_like(cover)
        cast[offset:, offset:] = np.asarray(blurred, dtype=np.float32)[:-offset, :-offset] / 255
        paper_light = light * (1 - shadow * cast)
    pixels = (
        np.asarray(paper, np.float32) * (paper_light * (1 - cover))[..., None]
        + np.asarray(ink, np.float32) * (light * cover)[..., None]
    )
    return _finish(pixels, noise, format, quality, seed)


def photo_options(rng: np.random.Generator) -> dict:
    """Draws the keyword arguments of `render_photo` for one random photo.

    Args:
        rng: The random generator to draw from.

    Returns:
        Keyword arguments for `render_photo` (everything but the image).
    """
    width = int(rng.integers(150, 401))
    height = width if rng.random() < 0.5 else int(rng.integers(150, 401))
    dark_table = rng.random() < 0.15
    inks, papers = (LIGHT_INKS, DARK_PAPERS) if dark_table else (INKS, PAPERS)
    jpeg = rng.random() < 0.6
    return {
        "size": (width, height),
        "scale": float(rng.uniform(0.33, 0.95)),
        "center": (float(rng.random()), float(rng.random())),
        "ink": inks[rng.integers(len(inks))],
        "paper": papers[rng.integers(len(papers))],
        "gradient": float(rng.uniform(0, 0.3)) if rng.random() < 0.5 else 0.0,
        "angle": float(rng.uniform(0, 2 * np.pi)),
        "vignette": float(rng.uniform(0, 0.35)) if rng.random() < 0.4 else 0.0,
        "shadow": float(rng.uniform(0.05, 0.25)) if rng.random() < 0.4 else 0.0,
        "noise": float(rng.choice([0, 2, 4, 8, 12])),
        "format": "JPEG" if jpeg else "PNG",
        "quality": int(rng.integers(30, 96)),
        "seed": int(rng.integers(2**31)),
    }


def photo_corpus(images: np.ndarray, seed: int = 0) -> list[bytes]:
    """Renders every dataset image as a random photo.

    Args:
        images: `(n, 28, 28) uint8` dataset images.
        seed: Seed of the random choices; the same seed gives the same bytes.

    Returns:
        n encoded photos, in the order of `images`.
    """
    rng = np.random.default_rng(seed)
    return [render_photo(image, **photo_options(rng)) for image in images]


def empty_pictures(seed: int = 0) -> dict[str, bytes]:
    """Photos without any object in them: walls, paper, shadows, noise.

    Args:
        seed: Seed of the noise.

    Returns:
        Encoded pictures keyed by a file name that says what they show.
    """
    teal, white, grey, beige = (0, 128, 128), (250, 250, 250), (128, 128, 128), (240, 230, 210)
    flat = {"size": (300, 240), "seed": seed}
    pictures = {
        "teal.png": _plain(teal, **flat),
        "teal_noisy.jpg": _plain(teal, noise=3, format="JPEG", quality=85, **flat),
        "white_blank.jpg": _plain(white, format="JPEG", quality=30, **flat),
        "white_noisy_blank.jpg": _plain(white, noise=8, format="JPEG", quality=40, **flat),
        "grey_noise.png": _plain(grey, noise=12, **flat),
        "beige_noise.png": _plain(beige, noise=20, **flat),
        "grey_gradient.png": _plain(grey, gradient=0.6, angle=0.7, **flat),
        "teal_gradient.jpg": _plain(teal, gradient=0.4, angle=2.0, format="JPEG", **flat),
        "white_vignette.png": _plain(white, vignette=0.5, noise=4, **flat),
        "dark_gradient.png": _plain((45, 40, 38), gradient=0.5, angle=4.0, noise=3, **flat),
        "shadowed_paper.jpg": _plain(
            beige, gradient=0.2, vignette=0.3, blob=0.35, noise=5, format="JPEG", **flat
        ),
        "shadowed_white.png": _plain(white, blob=0.3, noise=2, **flat),
        "shadowed_grainy.jpg": _plain(
            beige, gradient=0.2, vignette=0.3, blob=0.5, noise=12, format="JPEG", quality=60,
            **flat,
        ),
    }
    return pictures


def _plain(
    colour: tuple[int, int, int],
    *,
    size: tuple[int, int],
    gradient: float = 0.0,
    angle: float = 0.0,
    vignette: float = 0.0,
    blob: float = 0.0,
    noise: float = 0.0,
    format: str = "PNG",
    quality: int = 75,
    seed: int = 0,
) -> bytes:
    """Encodes a photo of an empty background, lit unevenly, with an optional soft shadow."""
    width, height = size
    light = _light(width, height, gradient, angle, vignette)
    if blob:
        # A soft shadow, say of the photographer's hand, a third of the frame across.
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        radius = min(width, height) / 3
        distance = np.hypot(rows - 0.6 * height, cols - 0.35 * width)
        light = light * (1 - blob * np.exp(-((distance / radius) ** 2)))
    pixels = np.asarray(colour, np.float32) * light[..., None]
    return _finish(pixels, noise, format, quality, seed)


def _light(width: int, height: int, gradient: float, angle: float, vignette: float) -> np.ndarray:
    """Returns the `(height, width) float32` light falling on the scene, 1 at most."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    # Coordinates from -1 to 1 across the photo.
    x = 2 * cols / max(width - 1, 1) - 1
    y = 2 * rows / max(height - 1, 1) - 1
    along = (np.cos(angle) * x + np.sin(angle) * y) / np.sqrt(2)
    light = 1 - gradient * (1 - along) / 2
    return light * (1 - vignette * (x * x + y * y) / 2)


def _finish(pixels: np.ndarray, noise: float, format: str, quality: int, seed: int) -> bytes:
    """Adds sensor noise to `(h, w, 3) float` pixels and encodes them."""
    if noise:
        # Luminance noise, the same in the three channels: a camera's processing removes
        # most of the colour noise and leaves this.
        rng = np.random.default_rng(seed)
        pixels = pixels + noise * rng.standard_normal((*pixels.shape[:2], 1), dtype=np.float32)
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    if format == "JPEG":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG", compress_level=1)  # fast: noise does not compress
    return buffer.getvalue()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's engine
    from fmnist_core.data.datasets import load_dataset

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("photo_corpus")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    target.mkdir(parents=True, exist_ok=True)
    # wherever the data is (FMNIST_DATA_DIR, Debian's package, the Keras cache)
    dataset = load_dataset("fashion_mnist").x_test[:count]
    for index, data in enumerate(photo_corpus(dataset)):
        suffix = "jpg" if data[:2] == b"\xff\xd8" else "png"
        (target / f"photo_{index:03d}.{suffix}").write_bytes(data)
    for name, data in empty_pictures().items():
        (target / f"empty_{name}").write_bytes(data)
    print(f"Wrote {count} photos and {len(empty_pictures())} empty pictures to {target}")
