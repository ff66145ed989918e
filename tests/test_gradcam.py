"""fmnist_core.explain.gradcam against Grad-CAM worked out by hand in numpy, and on a trained
CNN."""

import keras
import numpy as np
import pytest

from fmnist_core.explain import gradcam
from fmnist_core.explain.inspection import FeatureExtractor
from fmnist_core.nets.model import build_model, compile_model
from fmnist_core.nets.spec import ModelSpec, preset


@pytest.fixture(scope="module")
def noise_image():
    return np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.uint8)


@pytest.fixture(scope="module")
def tanh_cnn():
    """Conv 4 3×3 (tanh) → MaxPool 2 → Dense 8 (tanh) → Dense 10, untrained. Smooth
    activations, so max pooling never meets a tie and the hand-made backprop is exact."""
    keras.utils.set_random_seed(1)
    return build_model(ModelSpec(conv_blocks=1, filters=4, activation="tanh", dense_units=8))


def conv_valid_upsampling(coarse: np.ndarray) -> np.ndarray:
    """A 26×26 map of a 3×3 'valid' conv on the 28×28 pixels: cell i is centred on pixel i+1;
    linear in between, the nearest cell beyond the outermost centres."""
    centres = np.arange(26) + 1.0
    pixels = np.arange(28)
    rows = np.stack([np.interp(pixels, centres, column) for column in coarse.T], axis=1)
    return np.stack([np.interp(pixels, centres, row) for row in rows])


def test_grad_cam_matches_a_hand_made_backprop_through_pooling_and_dense(tanh_cnn,
                                                                         noise_image):
    maps, probs = FeatureExtractor(tanh_cnn)(noise_image)
    a = maps[0].maps.astype(np.float64)  # conv1 after tanh, (26, 26, 4)
    w1, b1 = (np.asarray(v, np.float64) for v in tanh_cnn.get_layer("dense").weights)
    w2 = np.asarray(tanh_cnn.get_layer("output").kernel, np.float64)
    blocks = a.reshape(13, 2, 13, 2, 4).transpose(0, 2, 4, 1, 3).reshape(13, 13, 4, 4)
    hidden = np.tanh(blocks.max(axis=-1).reshape(-1) @ w1 + b1)
    cam_of = gradcam.GradCam(tanh_cnn)
    explained = 0
    for c in range(10):
        d_pooled = (w1 @ (w2[:, c] * (1 - hidden**2))).reshape(13, 13, 4)
        # max pooling routes the gradient to the largest of each 2×2 block
        d_blocks = np.eye(4)[blocks.argmax(axis=-1)] * d_pooled[..., None]
        d_a = d_blocks.reshape(13, 13, 4, 2, 2).transpose(0, 3, 1, 4, 2).reshape(26, 26, 4)
        hires = np.maximum((a * d_a).sum(axis=-1), 0)
        np.testing.assert_allclose(cam_of(noise_image, c, method="hirescam").coarse,
                                   hires / hires.max(), atol=1e-5)
        cam = np.maximum(a @ d_a.mean(axis=(0, 1)), 0)
        result = cam_of(noise_image, c)
        assert result.layer == "conv1" and result.class_index == c
        assert result.method == "grad-cam"
        assert result.coarse.shape == (26, 26) and result.heatmap.shape == (28, 28)
        assert result.coarse.dtype == result.heatmap.dtype == np.float32
        assert result.probability == pytest.approx(float(probs[c]), abs=1e-6)
        if cam.max() == 0:  # no region raises this class: an empty map, not NaN
            assert result.empty and not result.heatmap.any()
            continue
        assert not result.empty
        explained += 1
        heat = conv_valid_upsampling(cam / cam.max())
        np.testing.assert_allclose(result.coarse, cam / cam.max(), atol=1e-5)
        np.testing.assert_allclose(result.heatmap, heat / heat.max(), atol=1e-5)
    assert explained >= 3
    assert cam_of(noise_image).class_index == int(probs.argmax())


def test_grad_cam_matches_the_analytic_gradient_of_a_dense_head(noise_image):
    """Conv → Flatten → Dense 10: the score's gradient is the output kernel's column."""
    keras.utils.set_random_seed(2)
    model = build_model(ModelSpec(conv_blocks=1, filters=3, pooling="none", dense_units=0))
    maps, probs = FeatureExtractor(model)(noise_image)
    a = maps[0].maps.astype(np.float64)
    kernel = np.asarray(model.get_layer("output").kernel, np.float64)
    cam_of = gradcam.GradCam(model)
    assert cam_of(noise_image).class_index == int(probs.argmax())
    explained = 0
    for c in range(10):
        cam = np.maximum(a @ kernel[:, c].reshape(26, 26, 3).mean(axis=(0, 1)), 0)
        if cam.max() > 0:
            explained += 1
            np.testing.assert_allclose(cam_of(noise_image, c).coarse, cam / cam.max(),
                                       atol=1e-5)
    assert explained >= 3


def test_layer_choice_and_cell_centres():
    model = build_model(preset("seed-cnn"))
    cam = gradcam.GradCam(model)
    assert cam.layer_names == ["conv1", "conv2"]
    # conv2 (11×11) sits behind conv1 (3×3 valid) and pool1 (2×2): cell i covers input
    # pixels 2i…2i+7, centred on 2i + 3.5
    rows, cols = gradcam.upsampling_matrices(model, "conv2")
    assert rows.shape == cols.shape == (28, 11)
    np.testing.assert_allclose(rows.sum(axis=1), 1)
    np.testing.assert_allclose(rows @ np.arange(11), np.clip((np.arange(28) - 3.5) / 2, 0, 10))
    rows, _ = gradcam.upsampling_matrices(model, "pool2")
    np.testing.assert_allclose(rows @ np.arange(5), np.clip((np.arange(28) - 4.5) / 4, 0, 4))


def test_same_padding_and_batch_norm_layers_are_explained_after_the_activation(noise_image):
    spec = ModelSpec(conv_blocks=2, filters=4, convs_per_block=2, padding="same",
                     batch_norm=True, dense_units=0)
    cam = gradcam.GradCam(build_model(spec))
    assert cam.layer_names == ["conv1a_relu", "conv1b_relu", "conv2a_relu", "conv2b_relu"]
    result = cam(noise_image, class_index=0, layer_name="conv1a_relu")
    assert result.coarse.shape == (28, 28)
    assert cam(noise_image).coarse.shape == (14, 14)
    for values in (result.coarse, result.heatmap):
        assert 0 <= values.min() and values.max() <= 1


def test_bad_arguments_say_what_was_wrong(noise_image):
    with pytest.raises(ValueError, match="`model`.*convolution"):
        gradcam.GradCam(build_model(preset("dense")))
    cam = gradcam.GradCam(build_model(ModelSpec(conv_blocks=1, filters=2, dense_units=0)))
    with pytest.raises(ValueError, match="`layer_name`.*'pool1'"):
        cam(noise_image, layer_name="pool1")
    with pytest.raises(ValueError, match="`class_index`.*received 10"):
        cam(noise_image, class_index=10)
    with pytest.raises(ValueError, match="`method`.*'cam'"):
        cam(noise_image, method="cam")
    with pytest.raises(ValueError, match="`image`.*uint8"):
        cam(noise_image.astype(np.float32))


@pytest.fixture(scope="module")
def trained_quick(small_data):
    """The quick preset, 2 epochs on 2,000 real training images (a few seconds)."""
    spec = preset("quick")
    keras.utils.set_random_seed(spec.seed)
    model = compile_model(build_model(spec), spec, steps_per_epoch=16)
    model.fit(small_data.x_train, small_data.y_train, batch_size=spec.batch_size,
              epochs=2, verbose=0)
    return model


def test_heat_falls_on_the_garment_rather_than_the_background(trained_quick, small_data):
    """Behind the quick preset's Flatten → Dense head, Grad-CAM's averaged gradients leave
    some maps empty and others on the empty space above a shoe; HiResCAM's cell-by-cell
    weights land on the garment almost always."""
    cam = gradcam.GradCam(trained_quick)
    for method, share in (("grad-cam", 0.6), ("hirescam", 0.9)):
        hotter, empty = [], 0
        for image in small_data.x_test[:100]:
            result = cam(image, method=method)
            heat = result.heatmap
            if result.empty:
                empty += 1
                continue
            hotter.append(heat[image > 32].mean() > heat[image == 0].mean())
        assert empty <= 30 and np.mean(hotter) >= share, (method, empty, np.mean(hotter))
