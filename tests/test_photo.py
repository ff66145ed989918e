"""Tests for fmnist_core.data.photo: noise level, background surface, flattening, the object box."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from fmnist_core.data.photo import (
                                    MIN_SHARPNESS,
                                    Background,
                                    estimate_background,
                                    find_object,
                                    flatten,
                                    noise_level,
                                    sharpness,
                                    shrink,
                                    )

HEIGHT, WIDTH = 240, 320
# The object of most tests: a dark rectangle, rows 60..180 and columns 100..220.
BOX = (60, 180, 100, 220)


def lighting() -> np.ndarray:
    """`(HEIGHT, WIDTH) float` light: a gradient to the right and a vignette, 0.6 to 1."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    x = 2 * cols / (WIDTH - 1) - 1
    y = 2 * rows / (HEIGHT - 1) - 1
    return (0.9 + 0.1 * x) * (1 - 0.15 * (x * x + y * y))


def scene(noise: float = 0.0, light: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """`(HEIGHT, WIDTH) uint8`: the dark rectangle on paper of 240, lit by `light`."""
    reflectance = np.full((HEIGHT, WIDTH), 240.0)
    top, bottom, left, right = BOX
    reflectance[top:bottom, left:right] = 40
    pixels = reflectance * (1.0 if light is None else light)
    pixels = pixels + np.random.default_rng(seed).normal(0, noise, pixels.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def soft_blob(depth: float = 0.35) -> np.ndarray:
    """`(HEIGHT, WIDTH) uint8`: white paper with a soft shadow, no object."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    distance = np.hypot(rows - 130, cols - 140) / 80
    pixels = 250 * (1 - depth * np.exp(-(distance**2)))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [3.0, 8.0, 15.0])
def test_noise_level_measures_gaussian_noise(sigma):
    gray = scene(noise=sigma, light=lighting())

    assert noise_level(gray) == pytest.approx(sigma, rel=0.15)


def test_noise_level_of_clean_and_tiny_pictures_is_zero():
    assert noise_level(scene()) == 0
    assert noise_level(np.array([[0, 255]], dtype=np.uint8)) == 0


def test_background_follows_gradient_and_vignette():
    light = lighting()
    background = estimate_background(scene(noise=4, light=light), light=True)

    assert background.level.shape == (HEIGHT, WIDTH) and background.level.dtype == np.float32
    # Everywhere, also behind the object, which the surface never saw.
    assert np.abs(background.level - 240 * light).max() < 3
    assert background.noise == pytest.approx(4, rel=0.25)
    assert not background.even


def test_background_ignores_an_object_that_touches_the_border():
    gray = scene(light=lighting())
    gray[:, 150:190] = 30  # a strap running from top to bottom

    background = estimate_background(gray, light=True)

    assert np.abs(background.level - 240 * lighting()).max() < 3


def test_clean_white_background_is_even():
    gray = np.full((100, 80), 255, dtype=np.uint8)
    gray[20:70, 30:50] = 0

    background = estimate_background(gray, light=True)

    assert background.even and background.noise == 0
    assert np.all(background.level == 255)


def test_flatten_makes_the_background_white_and_keeps_the_object():
    light = lighting()
    background = estimate_background(scene(noise=4, light=light), light=True)

    flat = flatten(scene(noise=4, light=light), background)

    assert flat.dtype == np.uint8
    outside = np.ones(flat.shape, dtype=bool)
    top, bottom, left, right = BOX
    outside[top - 5 : bottom + 5, left - 5 : right + 5] = False
    assert np.mean(flat[outside] == 255) > 0.99
    # Dividing by the light gives the object the same level in shade and in full light.
    inside = flat[top + 5 : bottom - 5, left + 5 : right - 5].astype(float)
    assert inside[:, :10].mean() == pytest.approx(inside[:, -10:].mean(), abs=4)


def test_flatten_of_a_dark_background_makes_it_black():
    gray = 255 - scene(noise=3, light=lighting())
    background = estimate_background(gray, light=False)

    flat = flatten(gray, background)

    assert np.mean(flat[:40] == 0) > 0.99
    assert flat[100:140, 140:180].mean() > 180


@pytest.mark.parametrize("noise", [0.0, 8.0, 20.0])
def test_find_object_gives_the_box_despite_noise(noise):
    gray = scene(noise=noise, light=lighting())
    background = estimate_background(gray, light=True)

    box = find_object(gray, background)

    assert box is not None
    assert np.abs(np.subtract(box, BOX)).max() <= 2


@pytest.mark.parametrize(
    "gray",
    [
        scene(noise=20)[:, :90],  # paper and noise, left of the object
        np.clip(np.rint(240 * lighting()), 0, 255).astype(np.uint8),
        soft_blob(),
    ],
    ids=["noise", "shading", "soft shadow"],
)
def test_find_object_sees_nothing_without_an_object(gray):
    background = estimate_background(gray, light=True)

    assert find_object(gray, background) is None


def test_a_single_speck_of_noise_is_not_an_object():
    gray = np.full((200, 200), 250, dtype=np.uint8)
    gray[50, 50] = 0
    gray += np.random.default_rng(0).integers(0, 3, gray.shape, dtype=np.uint8)
    background = estimate_background(gray, light=True)

    assert find_object(gray, background) is None


def test_sharpness_tells_an_edge_from_a_shading():
    square = np.zeros((200, 200), dtype=np.uint8)
    square[50:150, 50:150] = 200
    blurred = np.asarray(Image.fromarray(square).filter(ImageFilter.GaussianBlur(30)))
    noisy = blurred + np.random.default_rng(0).normal(0, 20, blurred.shape)
    box = (50, 150, 50, 150)

    assert sharpness(square.astype(float), box) > 0.3
    assert sharpness(blurred.astype(float), box) < MIN_SHARPNESS / 2
    assert sharpness(noisy, box) < MIN_SHARPNESS


def test_tiny_pictures_work():
    for gray in (np.array([[0, 255]], dtype=np.uint8), np.full((500, 1), 200, np.uint8)):
        background = estimate_background(gray, light=True)
        assert isinstance(background, Background)
        assert flatten(gray, background).shape == gray.shape


def test_shrink_reduces_large_pictures_only():
    large = Image.new("RGB", (1000, 750))
    small = Image.new("RGB", (300, 200))

    reduced, full = shrink(large, large.size)
    assert reduced.size == (640, 480) and full == (750, 1000)
    # A JPEG decoded at a quarter of its size still tells its full size.
    assert shrink(small, (1200, 800)) == (small, (800, 1200))
    assert shrink(small, small.size) == (small, None)


def test_note_says_what_flattening_does():
    light = estimate_background(scene(noise=4, light=lighting()), light=True)
    dark = estimate_background(255 - scene(light=lighting()), light=False)

    assert light.note.startswith("The background (levels 1") and "noise ±4" in light.note
    assert "white, so it turns black after inversion" in light.note
    assert dark.note.endswith("was evened out to black.")
