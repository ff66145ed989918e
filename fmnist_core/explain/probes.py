"""Invariance probes: move, turn, scale, blur, spoil one image and watch the prediction.

`transform` applies every change to one (28, 28) uint8 image in a fixed order: the geometry
first (scale and rotation about the centre, then the shift), as one bilinear resampling with
black (the dataset's background) coming in from outside; then blur, noise and inversion;
the erased square last, so it is always black, as in the occlusion map. Pure numpy, about a
millisecond per image.

`sweep` builds the shifted and rotated copies of an image and predicts them all in one
batched call, so a chart of confidence against shift and angle costs one model call: a CNN
with pooling tolerates a few pixels of shift, and no CNN here was taught rotations.

Typical use:

    moved = transform(image, shift=(3, 0), rotate=15)
    result = probe(model, image, shift=(3, 0))     # the moved image and its probabilities
    curves = sweep(model, image, label)            # confidence in `label` per shift, angle
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from fmnist_core.explain.inspection import _check_image

SIZE = 28
CENTRE = (SIZE - 1) / 2  # rotation and scaling turn about the middle of the 28×28 field
SHIFT_LIMIT = 8  # pixels, either way
ROTATE_LIMIT = 180  # degrees, either way
SCALE_RANGE = (0.25, 2.0)
NOISE_LIMIT = 128.0  # standard deviation in grey levels (0–255)
BLUR_LIMIT = 4.0  # standard deviation in pixels


@dataclasses.dataclass(frozen=True)
class Probe:
    """A transformed image and what the model makes of it.

    Attributes:
        image: (28, 28) uint8, the image the model saw.
        probabilities: (num_classes,) float32.
    """

    image: np.ndarray
    probabilities: np.ndarray


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Confidence in one class against horizontal shift, vertical shift and rotation.

    Attributes:
        label: the class whose probability is shown.
        shifts: (m,) int64 pixels; positive is right (x) or down (y).
        angles: (k,) int64 degrees; positive is counter-clockwise.
        shift_x, shift_y: (m,) float32 probability of `label` per shift.
        rotation: (k,) float32 probability of `label` per angle.
        correct_x, correct_y, correct_rotation: bool arrays, whether `label` was the top class.
    """

    label: int
    shifts: np.ndarray
    angles: np.ndarray
    shift_x: np.ndarray
    shift_y: np.ndarray
    rotation: np.ndarray
    correct_x: np.ndarray
    correct_y: np.ndarray
    correct_rotation: np.ndarray


def transform(image: np.ndarray, shift: tuple[int, int] = (0, 0), rotate: float = 0.0,
              scale: float = 1.0, noise: float = 0.0, blur: float = 0.0,
              erase: tuple[int, int, int] | None = None, invert: bool = False,
              seed: int = 0) -> np.ndarray:
    """One image, changed; with the defaults it comes back unchanged.

    Args:
        image: (28, 28) uint8.
        shift: (dx, dy) whole pixels, right and down, within ±8.
        rotate: degrees counter-clockwise about the centre, within ±180.
        scale: size factor about the centre, 0.25 to 2.
        noise: standard deviation of Gaussian noise in grey levels, 0 to 128.
        blur: standard deviation of a Gaussian blur in pixels, 0 to 4.
        erase: (row, col, size): a black square with its top-left corner at (row, col).
        invert: 255 - x, light background and dark garment.
        seed: the noise's seed; the same seed gives the same noise.

    Returns:
        (28, 28) uint8.
    """
    image = _check_image(image)
    dx, dy = _check_shift(shift)
    _check_range("rotate", rotate, -ROTATE_LIMIT, ROTATE_LIMIT)
    _check_range("scale", scale, *SCALE_RANGE)
    _check_range("noise", noise, 0, NOISE_LIMIT)
    _check_range("blur", blur, 0, BLUR_LIMIT)
    if erase is not None:
        erase = _check_erase(erase)
    if not isinstance(invert, (bool, np.bool_)):
        raise ValueError(f"Argument `invert` must be True or False, received {invert!r}.")

    values = image.astype(np.float64)
    if (dx, dy) != (0, 0) or rotate != 0 or scale != 1:
        values = _warp(values, dx, dy, float(rotate), float(scale))
    if blur > 0:
        kernel = _gaussian_matrix(float(blur))
        values = kernel @ values @ kernel.T
    if noise > 0:
        values = values + np.random.default_rng(seed).normal(0.0, float(noise), values.shape)
    values = np.clip(values, 0, 255)
    if invert:
        values = 255 - values
    if erase is not None:
        row, col, size = erase
        values[row:row + size, col:col + size] = 0
    return np.rint(values).astype(np.uint8)


def probe(model, image: np.ndarray, **changes) -> Probe:
    """`transform(image, **changes)` and the model's probabilities for it, in one call."""
    moved = transform(image, **changes)
    return Probe(moved, _predict(model, moved[None])[0])


def sweep(model, image: np.ndarray, label: int, shifts=range(-8, 9),
          angles=range(-45, 46, 5)) -> Sweep:
    """Confidence in `label` for every shift along x, along y, and every angle.

    All (2 × len(shifts) + len(angles)) images go to the model in one batch.

    Args:
        model: a Keras model mapping (n, 28, 28) uint8 to (n, num_classes) probabilities.
        image: (28, 28) uint8.
        label: the class to follow, usually the true one.
        shifts: whole pixels, each within ±8.
        angles: degrees, each within ±180.
    """
    image = _check_image(image)
    shifts = np.asarray(list(shifts), np.int64)
    angles = np.asarray(list(angles), np.int64)
    num_classes = int(model.outputs[0].shape[-1])
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not (
            0 <= label < num_classes):
        raise ValueError(f"Argument `label` must be a class from 0 to {num_classes - 1}, "
                         f"received {label!r}.")
    batch = ([transform(image, shift=(int(s), 0)) for s in shifts]
             + [transform(image, shift=(0, int(s))) for s in shifts]
             + [transform(image, rotate=float(a)) for a in angles])
    probs = _predict(model, np.stack(batch)) if batch else np.zeros((0, num_classes))
    confidence = probs[:, label]
    correct = probs.argmax(axis=1) == label if len(probs) else np.zeros(0, bool)
    m = len(shifts)
    return Sweep(int(label), shifts, angles, confidence[:m], confidence[m:2 * m],
                 confidence[2 * m:], correct[:m], correct[m:2 * m], correct[2 * m:])


def _predict(model, images: np.ndarray) -> np.ndarray:
    """(n, num_classes) float32 in one call of the model's compiled predict step, without
    `predict`'s per-call set-up (over 100 ms on a 2-core CPU, when a slider moves)."""
    return np.asarray(model.predict_on_batch(images), np.float32)


def _warp(values: np.ndarray, dx: int, dy: int, angle: float, scale: float) -> np.ndarray:
    """Bilinear resampling of (28, 28) float64: each output pixel looks up where it came
    from (shift undone, then rotation and scale undone about the centre); zeros outside."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    x, y = xs - dx - CENTRE, ys - dy - CENTRE
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    # y points down, so a counter-clockwise turn on screen maps (x, y) to
    # (x cos + y sin, -x sin + y cos); the source is found with the inverse turn.
    src_x = (cos * x - sin * y) / scale + CENTRE
    src_y = (sin * x + cos * y) / scale + CENTRE
    padded = np.pad(values, 1)  # one ring of black so edge pixels fade to the background
    src_x = np.clip(src_x + 1, 0, SIZE + 1)
    src_y = np.clip(src_y + 1, 0, SIZE + 1)
    x0 = np.minimum(np.floor(src_x).astype(int), SIZE)
    y0 = np.minimum(np.floor(src_y).astype(int), SIZE)
    fx, fy = src_x - x0, src_y - y0
    return ((1 - fy) * ((1 - fx) * padded[y0, x0] + fx * padded[y0, x0 + 1])
            + fy * ((1 - fx) * padded[y0 + 1, x0] + fx * padded[y0 + 1, x0 + 1]))


def _gaussian_matrix(sigma: float) -> np.ndarray:
    """(28, 28) float64: row i holds the Gaussian weights around pixel i, black beyond the
    edges, so `K @ image @ K.T` is the blurred image."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-offsets**2 / (2 * sigma**2))
    weights /= weights.sum()
    matrix = np.zeros((SIZE, SIZE))
    for offset, weight in zip(offsets, weights):
        matrix += weight * np.eye(SIZE, k=int(offset))
    return matrix


def _check_shift(shift) -> tuple[int, int]:
    try:
        dx, dy = shift
    except (TypeError, ValueError):
        dx = dy = None
    for value in (dx, dy):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
                -SHIFT_LIMIT <= value <= SHIFT_LIMIT):
            raise ValueError(f"Argument `shift` must be (dx, dy) whole pixels within "
                             f"±{SHIFT_LIMIT}, received {shift!r}.")
    return int(dx), int(dy)


def _check_range(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"Argument `{name}` must be a number from {low:g} to {high:g}, "
                         f"received {value!r}.")


def _check_erase(erase) -> tuple[int, int, int]:
    values = tuple(erase) if isinstance(erase, (tuple, list)) else ()
    ok = len(values) == 3 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    if ok:
        row, col, size = (int(v) for v in values)
        ok = 0 <= row < SIZE and 0 <= col < SIZE and 1 <= size <= SIZE
    if not ok:
        raise ValueError(f"Argument `erase` must be (row, col, size) whole pixels with row and "
                         f"col from 0 to {SIZE - 1} and size from 1 to {SIZE}, received "
                         f"{erase!r}.")
    return row, col, size
