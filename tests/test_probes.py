"""fmnist_core.explain.probes on synthetic images whose transforms can be worked out by hand."""

import numpy as np
import pytest

from fmnist_core.explain import probes
from fmnist_core.nets.model import build_model
from fmnist_core.nets.spec import ModelSpec


@pytest.fixture(scope="module")
def noise_image():
    return np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.uint8)


def square(top=10, left=5, size=4, value=200):
    image = np.zeros((28, 28), np.uint8)
    image[max(top, 0):max(top + size, 0), max(left, 0):max(left + size, 0)] = value
    return image


def test_the_defaults_and_neutral_values_change_nothing(noise_image):
    assert np.array_equal(probes.transform(noise_image), noise_image)
    same = probes.transform(noise_image, shift=(0, 0), rotate=0, scale=1, noise=0, blur=0,
                            erase=None, invert=False, seed=5)
    assert same.dtype == np.uint8 and np.array_equal(same, noise_image)


@pytest.mark.parametrize("dx, dy", [(3, -2), (-8, 0), (0, 8), (8, 8)])
def test_a_shifted_square_lands_where_expected(dx, dy):
    moved = probes.transform(square(), shift=(dx, dy))
    assert np.array_equal(moved, square(10 + dy, 5 + dx))


def test_shifting_past_the_edge_brings_in_black():
    moved = probes.transform(square(top=0, left=0, size=28), shift=(-8, 3))
    assert not moved[:3].any() and not moved[:, 20:].any()
    assert (moved[3:, :20] == 200).all()


def test_rotations_are_exact_quarter_turns_counter_clockwise(noise_image):
    turn = probes.transform(noise_image, rotate=90)
    assert np.array_equal(turn, np.rot90(noise_image))  # numpy turns counter-clockwise too
    assert np.array_equal(probes.transform(turn, rotate=90),
                          probes.transform(noise_image, rotate=180))
    assert np.array_equal(probes.transform(noise_image, rotate=180), noise_image[::-1, ::-1])
    assert np.array_equal(probes.transform(noise_image, rotate=-90), np.rot90(noise_image, -1))


def test_rotation_turns_about_the_centre():
    turned = probes.transform(square(top=12, left=12, size=4), rotate=45)
    rows, cols = np.nonzero(turned)
    weights = turned[rows, cols].astype(float)
    assert np.average(rows, weights=weights) == pytest.approx(13.5, abs=1e-6)
    assert np.average(cols, weights=weights) == pytest.approx(13.5, abs=1e-6)


def test_scale_grows_and_shrinks_about_the_centre():
    grown = probes.transform(square(top=12, left=12, size=4), scale=2)
    # output pixel y samples the source at (y - 13.5) / 2 + 13.5
    assert (grown[11:17, 11:17] == 200).all()
    assert grown[10, 13] == grown[17, 13] == 150 and grown[9, 13] == grown[18, 13] == 50
    assert not grown[:9].any() and not grown[19:].any()
    shrunk = probes.transform(square(top=4, left=4, size=20), scale=0.5)
    assert (shrunk[9:19, 9:19] == 200).all() and not shrunk[:8].any()


def test_noise_is_seeded_and_has_the_asked_spread():
    grey = np.full((28, 28), 128, np.uint8)
    first = probes.transform(grey, noise=20, seed=1)
    assert np.array_equal(first, probes.transform(grey, noise=20, seed=1))
    assert not np.array_equal(first, probes.transform(grey, noise=20, seed=2))
    assert first.astype(float).std() == pytest.approx(20, rel=0.15)
    assert first.astype(float).mean() == pytest.approx(128, abs=3)


def test_blur_spreads_a_point_as_a_gaussian():
    point = np.zeros((28, 28), np.uint8)
    point[14, 14] = 255
    blurred = probes.transform(point, blur=1.0).astype(float)
    assert blurred.sum() == pytest.approx(255, abs=10)  # nothing lost away from the edges
    assert blurred[14, 15] / blurred[14, 14] == pytest.approx(np.exp(-0.5), abs=0.04)
    around = blurred[1:, 1:]  # pixel 14 in the middle of rows and columns 1…27
    assert np.array_equal(around, around.T) and np.array_equal(around, around[::-1, ::-1])


def test_erase_zeroes_the_square_and_nothing_else(noise_image):
    erased = probes.transform(noise_image, erase=(5, 20, 6))
    assert not erased[5:11, 20:26].any()
    mask = np.ones((28, 28), bool)
    mask[5:11, 20:26] = False
    assert np.array_equal(erased[mask], noise_image[mask])
    corner = probes.transform(noise_image, erase=(25, 25, 10))  # clipped at the edge
    assert not corner[25:, 25:].any() and np.array_equal(corner[:25], noise_image[:25])


def test_invert_is_255_minus_x_and_the_erased_square_stays_black(noise_image):
    assert np.array_equal(probes.transform(noise_image, invert=True), 255 - noise_image)
    both = probes.transform(noise_image, invert=True, erase=(0, 0, 3))
    assert not both[:3, :3].any() and both[5, 5] == 255 - noise_image[5, 5]


@pytest.mark.parametrize("changes, argument", [
    ({"shift": (9, 0)}, "shift"), ({"shift": (1.5, 0)}, "shift"), ({"shift": 3}, "shift"),
    ({"rotate": 181}, "rotate"), ({"scale": 0}, "scale"), ({"scale": float("nan")}, "scale"),
    ({"noise": -1}, "noise"), ({"blur": 5}, "blur"), ({"erase": (28, 0, 3)}, "erase"),
    ({"erase": (0, 0, 0)}, "erase"), ({"erase": (0, 0)}, "erase"), ({"invert": "yes"}, "invert"),
])
def test_bad_arguments_name_themselves(noise_image, changes, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*received"):
        probes.transform(noise_image, **changes)


class CentreOfMassModel:
    """Stands in for a Keras model: "class 0" is the image's centre-of-mass column / 27,
    "class 1" its row / 27; counts its calls."""

    def __init__(self):
        self.calls = []
        self.outputs = [np.zeros((1, 10))]

    def predict_on_batch(self, images):
        self.calls.append(images.shape)
        weights = images.astype(float)
        total = weights.sum(axis=(1, 2))
        probs = np.zeros((len(images), 10))
        probs[:, 0] = (weights.sum(axis=1) * np.arange(28)).sum(axis=1) / total / 27
        probs[:, 1] = (weights.sum(axis=2) * np.arange(28)).sum(axis=1) / total / 27
        return probs


def test_sweep_predicts_every_shift_and_angle_in_one_batch():
    model = CentreOfMassModel()
    image = square(top=12, left=12, size=4)
    result = probes.sweep(model, image, label=0)
    assert model.calls == [(17 + 17 + 19, 28, 28)]
    np.testing.assert_array_equal(result.shifts, np.arange(-8, 9))
    np.testing.assert_array_equal(result.angles, np.arange(-45, 46, 5))
    np.testing.assert_allclose(result.shift_x * 27, 13.5 + result.shifts, atol=1e-5)
    np.testing.assert_allclose(result.shift_y * 27, 13.5, atol=1e-5)
    np.testing.assert_allclose(result.rotation * 27, 13.5, atol=1e-5)
    down = probes.sweep(model, image, label=1, shifts=[-2, 0, 5], angles=[])
    np.testing.assert_allclose(down.shift_y * 27, [11.5, 13.5, 18.5], atol=1e-5)
    assert down.rotation.shape == (0,)


def test_sweep_and_probe_on_a_keras_model(noise_image):
    model = build_model(ModelSpec(conv_blocks=1, filters=4, dense_units=0))
    result = probes.sweep(model, noise_image, label=3, shifts=range(-2, 3), angles=[0, 30])
    plain = probes.probe(model, noise_image)
    assert plain.probabilities.shape == (10,) and plain.probabilities.dtype == np.float32
    assert np.array_equal(plain.image, noise_image)
    for unchanged in (result.shift_x[2], result.shift_y[2], result.rotation[0]):
        assert unchanged == pytest.approx(plain.probabilities[3], abs=1e-6)
    assert result.correct_x[2] == (plain.probabilities.argmax() == 3)
    moved = probes.probe(model, noise_image, shift=(1, 0), invert=True)
    assert np.array_equal(moved.image, probes.transform(noise_image, shift=(1, 0),
                                                        invert=True))
    with pytest.raises(ValueError, match="`label`.*received 10"):
        probes.sweep(model, noise_image, label=10)
