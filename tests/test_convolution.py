"""Tests for fmnist_core.explain.convolution: the lab's convolution and pooling, computed as
Keras computes them."""


import numpy as np
import pytest

from fmnist_core.explain.convolution import (clip_to_uint8, convolve2d, normalize_for_display,
                                             output_shape, pool2d)
from fmnist_core.explain.kernels import KERNELS

EDGE = KERNELS["Edge detection (8 / −1)"]


@pytest.fixture(scope="module")
def fashion_image(fashion):
    """The first Fashion-MNIST test image, `(28, 28) uint8` (an ankle boot)."""
    return fashion.x_test[0]


def naive_correlate(image, kernel, padding="valid", stride=1):
    """Reference cross-correlation with explicit loops: kernel not flipped."""
    image = np.asarray(image, dtype=np.float64)
    size = kernel.shape[0]
    if padding == "same":
        # Keras / TensorFlow "same": output ceil(side / stride), any odd padding goes after.
        pads = []
        for side in image.shape:
            total = max((-(-side // stride) - 1) * stride + size - side, 0)
            pads.append((total // 2, total - total // 2))
        image = np.pad(image, pads)
    rows = (image.shape[0] - size) // stride + 1
    cols = (image.shape[1] - size) // stride + 1
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            for u in range(size):
                for v in range(size):
                    out[i, j] += kernel[u, v] * image[i * stride + u, j * stride + v]
    return out


def test_edge_kernel_is_zero_on_a_flat_image():
    flat = np.full((10, 12), 137, dtype=np.uint8)
    np.testing.assert_array_equal(convolve2d(flat, EDGE), np.zeros((8, 10), np.float32))


def test_edge_kernel_responds_at_a_step_edge():
    step = np.zeros((6, 8), dtype=np.uint8)
    step[:, 4:] = 100
    out = convolve2d(step, EDGE)
    # Output column j is centred on input column j + 1, so the edge between input columns
    # 3 and 4 shows up at j = 2 (dark side, negative) and j = 3 (bright side, positive).
    np.testing.assert_array_equal(out[:, :2], 0)
    np.testing.assert_array_equal(out[:, 2], -300)
    np.testing.assert_array_equal(out[:, 3], 300)
    np.testing.assert_array_equal(out[:, 4:], 0)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_convolve2d_matches_naive_loops(padding, size, stride):
    rng = np.random.default_rng(size * 10 + stride)
    image = rng.normal(size=(11, 14))
    kernel = rng.normal(size=(size, size))
    out = convolve2d(image, kernel, padding=padding, stride=stride)
    expected = naive_correlate(image, kernel.astype(np.float32), padding, stride)
    assert out.dtype == np.float32
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_same_padding_keeps_the_shape():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    assert convolve2d(image, EDGE, padding="same").shape == (28, 28)
    assert convolve2d(image, EDGE, padding="same", stride=2).shape == (14, 14)


def test_convolve2d_is_cross_correlation_not_flipped():
    image = np.zeros((5, 5))
    image[2, 2] = 1.0
    kernel = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    out = convolve2d(image, kernel)
    # An impulse under a cross-correlation reproduces the kernel rotated by 180°;
    # a true convolution would reproduce it unchanged.
    np.testing.assert_array_equal(out, kernel[::-1, ::-1])
    assert not np.array_equal(out, kernel)


def test_sobel_x_is_positive_where_the_image_gets_brighter_to_the_right():
    ramp = np.tile(np.arange(8, dtype=np.uint8) * 10, (5, 1))
    assert (convolve2d(ramp, KERNELS["Sobel x (vertical edges)"]) > 0).all()


def test_fashion_mnist_shapes_28_26_13(fashion_image):
    feature_map = convolve2d(fashion_image, EDGE)
    assert feature_map.shape == (26, 26)
    assert feature_map.dtype == np.float32
    pooled = pool2d(feature_map, 2, mode="max")
    assert pooled.shape == (13, 13)
    assert pool2d(pooled, 2).shape == (6, 6)
    assert output_shape(28, 3, 2) == (26, 13)
    assert output_shape(13, 3, 2) == (11, 5)
    assert output_shape(28, 3, 2, padding="same") == (28, 14)
    np.testing.assert_array_equal(
        convolve2d(fashion_image, KERNELS["Identity"]), fashion_image[1:-1, 1:-1]
    )


def test_pool2d_on_a_hand_made_4x4():
    image = np.array(
        [
            [1, 2, 5, 6],
            [3, 4, 7, 8],
            [-1, -2, 0, 0],
            [-3, -4, 0, 9],
        ]
    )
    np.testing.assert_array_equal(pool2d(image, 2, mode="max"), [[4, 8], [-1, 9]])
    np.testing.assert_array_equal(pool2d(image, 2, mode="avg"), [[2.5, 6.5], [-2.5, 2.25]])
    assert pool2d(image, 2).dtype == np.float32
    # Floor division like MaxPooling2D(padding="valid"): the last row and column are dropped.
    np.testing.assert_array_equal(pool2d(image[:3, :3], 2), [[4]])
    np.testing.assert_array_equal(pool2d(image, 3), [[7]])


def test_clip_to_uint8_and_normalize_for_display():
    image = np.array([[-50.0, 0.4, 127.6], [255.0, 300.0, 2040.0]])
    np.testing.assert_array_equal(clip_to_uint8(image), [[0, 0, 128], [255, 255, 255]])
    assert clip_to_uint8(image).dtype == np.uint8
    normalized = normalize_for_display(np.array([[-10.0, 0.0], [10.0, 5.0]]))
    np.testing.assert_array_equal(normalized, [[0, 128], [255, 191]])
    assert normalized.dtype == np.uint8
    constant = normalize_for_display(np.full((3, 4), 7.5))
    np.testing.assert_array_equal(constant, np.zeros((3, 4), np.uint8))


IMAGE = np.zeros((6, 6), dtype=np.uint8)


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: convolve2d(np.zeros(6), EDGE), "image"),
        (lambda: convolve2d(np.zeros((2, 6, 6)), EDGE), "image"),
        (lambda: convolve2d(np.zeros((0, 6)), EDGE), "image"),
        (lambda: convolve2d(np.full((6, 6), "a"), EDGE), "image"),
        (lambda: convolve2d(np.full((6, 6), np.nan), EDGE), "image"),
        (lambda: convolve2d([[1, 2], [3]], EDGE), "image"),
        (lambda: convolve2d(IMAGE, np.ones((3, 4))), "kernel"),
        (lambda: convolve2d(IMAGE, np.ones((2, 2))), "kernel"),
        (lambda: convolve2d(IMAGE, np.ones(3)), "kernel"),
        (lambda: convolve2d(IMAGE, np.ones((7, 7))), "kernel"),
        (lambda: convolve2d(IMAGE, np.ones((7, 7)), padding="same"), "kernel"),
        (lambda: convolve2d(IMAGE, EDGE, padding="full"), "padding"),
        (lambda: convolve2d(IMAGE, EDGE, padding=None), "padding"),
        (lambda: convolve2d(IMAGE, EDGE, stride=0), "stride"),
        (lambda: convolve2d(IMAGE, EDGE, stride=1.5), "stride"),
        (lambda: pool2d(IMAGE, 0), "pool_size"),
        (lambda: pool2d(IMAGE, 7), "pool_size"),
        (lambda: pool2d(IMAGE, True), "pool_size"),
        (lambda: pool2d(IMAGE, 2, mode="min"), "mode"),
        (lambda: pool2d(np.zeros((2, 2, 2)), 2), "image"),
        (lambda: clip_to_uint8(np.zeros(3)), "image"),
        (lambda: normalize_for_display(np.zeros((1, 2, 3))), "image"),
        (lambda: output_shape(3, 5), "kernel_size"),
        (lambda: output_shape(28, 0), "kernel_size"),
        (lambda: output_shape(0, 3), "input_size"),
        (lambda: output_shape(4, 3, 3), "pool_size"),
        (lambda: output_shape(28, 3, 0), "pool_size"),
        (lambda: output_shape(28, 3, 2, padding="causal"), "padding"),
    ],
)
def test_every_error_names_its_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^Argument `{argument}` must .*, received .*\.$"):
        call()


def test_kernel_error_message_in_keras_form():
    with pytest.raises(ValueError) as info:
        convolve2d(IMAGE, np.ones((3, 4)))
    assert str(info.value) == (
        "Argument `kernel` must be a square 2-D array with an odd size, received shape (3, 4)."
    )


@pytest.mark.parametrize("padding, stride", [("valid", 1), ("same", 1), ("same", 2)])
def test_convolve2d_agrees_with_keras_conv2d(fashion_image, padding, stride):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(7)
    image = fashion_image.astype(np.float32) / 255.0
    for kernel in (EDGE, KERNELS["Emboss"], rng.normal(size=(5, 5)).astype(np.float32)):
        size = kernel.shape[0]
        layer = keras.layers.Conv2D(1, size, strides=stride, padding=padding, use_bias=False)
        layer.build((1, 28, 28, 1))
        layer.set_weights([kernel.reshape(size, size, 1, 1)])
        batch = image[np.newaxis, :, :, np.newaxis]  # (1, 28, 28, 1), channels last
        expected = keras.ops.convert_to_numpy(layer(batch))[0, :, :, 0]
        out = convolve2d(image, kernel, padding=padding, stride=stride)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, atol=1e-4)
