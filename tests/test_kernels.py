"""Tests for fmnist_core.explain.kernels: the numpy engine of the "convolution by hand" lab."""


import numpy as np
import pytest

from fmnist_core.explain.kernels import (
                                         KERNEL_NOTES,
                                         KERNELS,
                                         MAX_WEIGHT,
                                         clip_to_uint8,
                                         clip_weight,
                                         common_denominator,
                                         convolve2d,
                                         explain_pixel,
                                         explain_pool,
                                         normalize_for_display,
                                         output_shape,
                                         parse_kernel,
                                         pool2d,
                                         readable_weights,
                                         )

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


def test_explain_pool_matches_pool2d():
    rng = np.random.default_rng(1)
    feature_map = rng.normal(size=(7, 9))
    for mode in ("max", "avg"):
        pooled = pool2d(feature_map, 2, mode=mode)
        window, value = explain_pool(feature_map, 2, 3, pool_size=2, mode=mode)
        assert window.shape == (2, 2) and window.dtype == np.float32
        np.testing.assert_allclose(window, feature_map[4:6, 6:8], rtol=1e-6)
        assert value == pooled[2, 3]


def test_clip_to_uint8_and_normalize_for_display():
    image = np.array([[-50.0, 0.4, 127.6], [255.0, 300.0, 2040.0]])
    np.testing.assert_array_equal(clip_to_uint8(image), [[0, 0, 128], [255, 255, 255]])
    assert clip_to_uint8(image).dtype == np.uint8
    normalized = normalize_for_display(np.array([[-10.0, 0.0], [10.0, 5.0]]))
    np.testing.assert_array_equal(normalized, [[0, 128], [255, 191]])
    assert normalized.dtype == np.uint8
    constant = normalize_for_display(np.full((3, 4), 7.5))
    np.testing.assert_array_equal(constant, np.zeros((3, 4), np.uint8))


def test_explain_pixel_hand_made():
    patch = np.array([[0, 12, 0], [3, 20, 0], [0, 0, 50]], dtype=np.uint8)
    explanation = explain_pixel(patch, EDGE, 0, 0)
    assert explanation.total == 8 * 20 - 12 - 3 - 50 == 95
    assert explanation.formula.startswith("(-1×0) + (-1×12) + (-1×0) + (-1×3) + (8×20)")
    assert explanation.formula.endswith("= 95")
    np.testing.assert_array_equal(explanation.products, EDGE * patch)
    assert explanation.products.sum() == explanation.total


@pytest.mark.parametrize("name", list(KERNELS))
def test_explain_pixel_total_equals_the_convolution(fashion_image, name):
    kernel = KERNELS[name]
    feature_map = convolve2d(fashion_image, kernel)
    for row, col in [(0, 0), (10, 12), (25, 25), (13, 4)]:
        explanation = explain_pixel(fashion_image, kernel, row, col)
        assert explanation.total == feature_map[row, col]
        expected_patch = fashion_image[row : row + 3, col : col + 3]
        np.testing.assert_array_equal(explanation.patch, expected_patch)
        assert explanation.patch.dtype == np.float32 and explanation.patch.shape == (3, 3)
        np.testing.assert_allclose(
            explanation.products.sum(), explanation.total, rtol=1e-5, atol=1e-4
        )
        shown_total = explanation.formula.rsplit("= ", 1)[1]
        assert float(shown_total) == pytest.approx(explanation.total, abs=1e-4)
        assert explanation.formula.count("×") == 9


def test_explain_pixel_formula_parenthesises_negative_pixels():
    image = np.array([[-2.0]])
    explanation = explain_pixel(image, [[0.5]], 0, 0)
    assert explanation.formula == "(0.5×(-2)) = -1"


@pytest.mark.parametrize(
    "text",
    [
        "−1 −1 −1 / −1 8 −1 / −1 −1 −1",
        "-1 -1 -1\n-1 8 -1\n-1 -1 -1",
        "-1, -1, -1\r\n-1, 8, -1\r\n-1, -1, -1\r\n",
        "  -1,-1,-1 ; -1,8,-1 ; -1,-1,-1  ",
        "[[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]",
        [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
        ("-1 -1 -1", "-1 8 -1", "−1 −1 −1"),
        np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    ],
)
def test_parse_kernel_accepts_the_edge_kernel_in_every_form(text):
    kernel = parse_kernel(text)
    assert kernel.dtype == np.float32
    np.testing.assert_array_equal(kernel, EDGE)


def test_parse_kernel_sizes_and_decimals():
    assert parse_kernel("0.5").shape == (1, 1)
    five = parse_kernel("\n".join(["1 2 3 4 5"] * 5))
    assert five.shape == (5, 5)
    decimals = parse_kernel("0.25 .5 1e-1 / 0 0 0 / 0 0 −2.5")
    np.testing.assert_allclose(decimals[[0, 0, 2], [0, 2, 2]], [0.25, 0.1, -2.5])


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("1 2 x / 1 2 3 / 1 2 3", "only numbers"),
        ([[1, 2, "a"], [1, 2, 3], [1, 2, 3]], "only numbers"),
        ([[1, 2, None], [1, 2, 3], [1, 2, 3]], "only numbers"),
        ("1 2 3 / 1 2 / 1 2 3", "same number of values"),
        ("1 2 3 / 1 2 3", "square"),
        ("1 2 / 3 4", "odd size"),
        ("\n".join(["1 " * 9] * 9), "odd size"),
        ("nan 1 1 / 1 1 1 / 1 1 1", "finite"),
        ([[1, 1, 1], [1, float("inf"), 1], [1, 1, 1]], "finite"),
        ("", "at least one row"),
        ("  / \n ", "at least one row"),
        (42, "text or a list of rows"),
        (None, "text or a list of rows"),
        ([1, 2, 3], "list of rows"),
    ],
)
def test_parse_kernel_rejects_bad_input(bad, fragment):
    with pytest.raises(ValueError, match=r"^Argument `text_or_rows` must") as info:
        parse_kernel(bad)
    assert fragment in str(info.value)
    assert str(info.value).endswith(".")


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
        (lambda: explain_pixel(IMAGE, EDGE, 4, 0), "row"),
        (lambda: explain_pixel(IMAGE, EDGE, -1, 0), "row"),
        (lambda: explain_pixel(IMAGE, EDGE, 0, 4), "col"),
        (lambda: explain_pixel(IMAGE, EDGE, 0, 1.0), "col"),
        (lambda: explain_pixel(IMAGE, np.ones((9, 9)), 0, 0), "kernel"),
        (lambda: explain_pool(IMAGE, 3, 0), "row"),
        (lambda: explain_pool(IMAGE, 0, 3), "col"),
        (lambda: explain_pool(IMAGE, 0, 0, pool_size=7), "pool_size"),
        (lambda: explain_pool(IMAGE, 0, 0, mode="median"), "mode"),
        (lambda: explain_pool(np.zeros(6), 0, 0), "feature_map"),
        (lambda: output_shape(3, 5), "kernel_size"),
        (lambda: output_shape(28, 0), "kernel_size"),
        (lambda: output_shape(0, 3), "input_size"),
        (lambda: output_shape(4, 3, 3), "pool_size"),
        (lambda: output_shape(28, 3, 0), "pool_size"),
        (lambda: output_shape(28, 3, 2, padding="causal"), "padding"),
        (lambda: readable_weights(np.ones((2, 2))), "kernel"),
        (lambda: readable_weights(EDGE, digits=0), "digits"),
        (lambda: common_denominator(EDGE, limit=0), "limit"),
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


def test_kernels_cannot_be_mutated():
    with pytest.raises(TypeError):
        KERNELS["Mine"] = np.eye(3)
    with pytest.raises(TypeError):
        del KERNELS["Identity"]
    with pytest.raises(TypeError):
        KERNEL_NOTES["Identity"] = "changed"
    with pytest.raises(ValueError):
        KERNELS["Edge detection (8 / −1)"][1, 1] = 9
    np.testing.assert_array_equal(EDGE, [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])


def test_kernels_catalogue():
    assert list(KERNEL_NOTES) == list(KERNELS)
    assert len(KERNELS) == 10
    for name, kernel in KERNELS.items():
        assert kernel.shape == (3, 3) and kernel.dtype == np.float32, name
        assert KERNEL_NOTES[name].endswith("."), name
    # Edge detectors ignore flat regions; smoothing and sharpening keep the brightness.
    zero_sum = ("Edge detection (8 / −1)", "Sobel x (vertical edges)",
                "Sobel y (horizontal edges)", "Vertical lines", "Horizontal lines")
    for name in zero_sum:
        assert KERNELS[name].sum() == 0, name
    for name in ("Sharpen", "Box blur", "Gaussian blur", "Identity", "Emboss"):
        assert KERNELS[name].sum() == pytest.approx(1.0), name
    np.testing.assert_array_equal(KERNELS["Sharpen"], [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_allclose(KERNELS["Gaussian blur"] * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_explanation_arrays_are_read_only():
    explanation = explain_pixel(IMAGE, EDGE, 0, 0)
    with pytest.raises(ValueError):
        explanation.products[0, 0] = 1


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


def test_readable_weights_round_for_reading():
    box = readable_weights(KERNELS["Box blur"])
    assert box.dtype == np.float64 and repr(float(box[0, 0])) == "0.111"
    np.testing.assert_array_equal(readable_weights(KERNELS["Gaussian blur"]) * 16,
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(readable_weights(EDGE), EDGE)
    assert readable_weights([[1234.5678]])[0, 0] == 1230
    assert readable_weights([[1 / 3]], digits=2)[0, 0] == 0.33


def test_common_denominator_names_the_fraction_of_each_catalogue_kernel():
    assert common_denominator(KERNELS["Box blur"]) == 9
    assert common_denominator(KERNELS["Gaussian blur"]) == 16
    assert common_denominator(EDGE) == 1
    assert common_denominator([[0.3183]]) is None


@pytest.mark.parametrize("typed, kept, says", [
    (3, 3.0, None),
    (-MAX_WEIGHT, -MAX_WEIGHT, None),
    (0.125, 0.125, None),
    (300, 255.0, "A weight goes from -255 to 255, so 300 became 255."),
    (-1000.5, -255.0, "A weight goes from -255 to 255, so -1000.5 became -255."),
    (None, 0.0, "An empty weight counts as 0."),
    (float("nan"), 0.0, "An empty weight counts as 0."),
    (float("-inf"), -255.0, "A weight goes from -255 to 255, so -inf became -255."),
])
def test_clip_weight_keeps_the_range_and_says_so(typed, kept, says):
    assert clip_weight(typed) == (kept, says)
