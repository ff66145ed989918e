"""fmnist_core.explain.inspection on freshly built (untrained) models and hand-made arrays."""

import numpy as np
import pytest

from fmnist_core.explain import inspection
from fmnist_core.nets.model import build_model
from fmnist_core.nets.spec import ModelSpec, preset


@pytest.fixture(scope="module")
def seed_cnn():
    return build_model(preset("seed-cnn"))


@pytest.fixture(scope="module")
def dense():
    return build_model(preset("dense"))


@pytest.fixture(scope="module")
def boot():
    """A (28, 28) uint8 blob: light object on a dark background, like the data."""
    image = np.zeros((28, 28), np.uint8)
    image[8:22, 6:24] = 200
    return image


def test_feature_maps_of_seed_cnn(seed_cnn, boot):
    maps, probs = inspection.FeatureExtractor(seed_cnn)(boot)
    assert [(m.name, m.kind, m.shape) for m in maps] == [
        ("conv1", "conv", (26, 26, 64)), ("pool1", "pool", (13, 13, 64)),
        ("conv2", "conv", (11, 11, 64)), ("pool2", "pool", (5, 5, 64)),
    ]
    assert all(m.maps.dtype == np.float32 for m in maps)
    assert probs.shape == (10,) and probs.dtype == np.float32
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_max_pooling_keeps_the_strongest_response_of_each_block(seed_cnn, boot):
    maps, _ = inspection.FeatureExtractor(seed_cnn)(boot)
    conv1, pool1 = maps[0].maps, maps[1].maps
    expected = conv1[:26, :26].reshape(13, 2, 13, 2, 64).max(axis=(1, 3))
    np.testing.assert_allclose(pool1, expected, rtol=1e-6)


def test_batch_norm_maps_are_taken_after_the_activation(boot):
    spec = ModelSpec(conv_blocks=1, filters=4, convs_per_block=2, padding="same",
                     batch_norm=True, dense_units=0)
    maps, _ = inspection.FeatureExtractor(build_model(spec))(boot)
    assert [(m.name, m.shape) for m in maps] == [
        ("conv1a_relu", (28, 28, 4)), ("conv1b_relu", (28, 28, 4)), ("pool1", (14, 14, 4)),
    ]
    assert min(m.maps.min() for m in maps) >= 0  # post-ReLU


def test_dense_baseline_has_no_maps_but_still_predicts(dense, boot):
    maps, probs = inspection.FeatureExtractor(dense)(boot)
    assert maps == []
    assert probs.shape == (10,)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_predict_proba_rows_sum_to_one(seed_cnn, boot):
    images = np.stack([boot, np.zeros_like(boot), np.full_like(boot, 255)])
    probs = inspection.predict_proba(seed_cnn, images, batch_size=2)
    assert probs.shape == (3, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert inspection.predict_proba(seed_cnn, images[:0]).shape == (0, 10)


def test_filters(seed_cnn):
    assert inspection.conv_layers(seed_cnn) == ["conv1", "conv2"]
    kernel = inspection.filters(seed_cnn)
    assert kernel.shape == (3, 3, 1, 64) and kernel.dtype == np.float32
    assert inspection.filters(seed_cnn, "conv2").shape == (3, 3, 64, 64)
    with pytest.raises(ValueError, match="`layer_name` must be one of"):
        inspection.filters(seed_cnn, "dense")


def test_dense_baseline_has_no_filters(dense):
    assert inspection.conv_layers(dense) == []
    with pytest.raises(ValueError, match=r"^This model has no convolution layer.*\.$"):
        inspection.filters(dense)


def test_confusion_matrix_on_hand_made_labels():
    y_true = np.array([0, 0, 1, 1, 1, 2], np.uint8)
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    matrix = inspection.confusion_matrix(y_true, y_pred, num_classes=3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [1, 2, 0], [0, 0, 1]])
    assert matrix.dtype == np.int64 and matrix.sum() == len(y_true)


@pytest.mark.parametrize("y_true,y_pred,match", [
    ([0, 1], [0], "same shape"),
    ([0, 3], [0, 1], "`y_true` must hold class indices from 0 to 2"),
    ([0, 1], [-1, 1], "`y_pred` must hold class indices from 0 to 2"),
])
def test_confusion_matrix_rejects_bad_labels(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        inspection.confusion_matrix(np.array(y_true), np.array(y_pred), num_classes=3)


def test_per_class_accuracy_is_nan_for_an_empty_class():
    matrix = np.array([[3, 1, 0], [0, 0, 0], [1, 1, 2]])
    acc = inspection.per_class_accuracy(matrix)
    assert acc[0] == pytest.approx(0.75) and acc[2] == pytest.approx(0.5)
    assert np.isnan(acc[1])


def test_cell_examples_are_sorted_by_confidence():
    y_true = np.array([0, 0, 0, 1, 0])
    probs = np.array([
        [0.9, 0.1], [0.3, 0.7], [0.05, 0.95], [0.2, 0.8], [0.4, 0.6],
    ], np.float32)
    idx, confidence = inspection.cell_examples(y_true, probs, true_class=0, predicted_class=1)
    assert idx.tolist() == [2, 1, 4]  # index 3 is a true 1, index 0 was right
    np.testing.assert_allclose(confidence, [0.95, 0.7, 0.6])
    idx, _ = inspection.cell_examples(y_true, probs, true_class=1, predicted_class=0)
    assert idx.size == 0
    with pytest.raises(ValueError, match="`y_true` and `probs`"):
        inspection.cell_examples(y_true[:3], probs, 0, 1)


def test_occlusion_saliency(seed_cnn, boot):
    heat = inspection.occlusion_saliency(seed_cnn, boot, class_index=9)
    assert heat.shape == (28, 28) and heat.dtype == np.float32
    assert np.isfinite(heat).all()
    # Hiding the black background with black changes nothing.
    assert heat[0, 0] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="`class_index`"):
        inspection.occlusion_saliency(seed_cnn, boot, class_index=10)
    with pytest.raises(ValueError, match="`patch` and `stride`"):
        inspection.occlusion_saliency(seed_cnn, boot, class_index=0, stride=0)


@pytest.mark.parametrize("image,match", [
    (np.zeros((28, 28, 1), np.uint8), r"shape \(28, 28\), received \(28, 28, 1\)"),
    (np.zeros((32, 32), np.uint8), r"shape \(28, 28\), received \(32, 32\)"),
    (np.zeros((28, 28), np.float32), "must be uint8.*received float32"),
])
def test_bad_single_images_are_one_sentence(seed_cnn, image, match):
    with pytest.raises(ValueError, match=match):
        inspection.FeatureExtractor(seed_cnn)(image)
    with pytest.raises(ValueError, match=match):
        inspection.occlusion_saliency(seed_cnn, image, class_index=0)


@pytest.mark.parametrize("images,match", [
    (np.zeros((2, 28, 28, 1), np.uint8), r"shape \(n, 28, 28\)"),
    (np.zeros((2, 28, 28), np.float64), "must be uint8.*received float64"),
])
def test_bad_image_batches(seed_cnn, images, match):
    with pytest.raises(ValueError, match=match):
        inspection.predict_proba(seed_cnn, images)


def test_most_common_mistake_ignores_the_diagonal():
    matrix = np.array([[50, 3, 1], [7, 40, 0], [0, 2, 60]])
    assert inspection.most_common_mistake(matrix) == (1, 0)


def test_layer_notes_teach_the_shapes():
    from fmnist_core.nets.spec import preset

    spec = preset("seed-cnn")
    pool = inspection.FeatureMap("pool1", "pool", np.zeros((13, 13, 64), np.float32))
    conv = inspection.FeatureMap("conv1", "conv", np.zeros((26, 26, 64), np.float32))
    assert "from 26×26 to 13×13" in inspection.layer_note(pool, (26, 26, 64), spec)
    assert inspection.layer_note(conv, (28, 28, 1), spec).startswith(
        "64 filters of 3×3 slide over the 28×28×1 input")


def test_class_progress_and_the_classes_learned_last():
    from fmnist_core.explain.inspection import class_progress, learned_last

    history = [{"epoch": 1, "class_accuracy": [0.9, 0.2, float("nan")]},
               {"epoch": 2, "complete": False},  # stopped: no validation
               {"epoch": 3, "class_accuracy": [0.95, 0.6, float("nan")]}]
    matrix, epochs = class_progress(history)
    assert epochs == [1, 3] and matrix.shape == (3, 2)
    np.testing.assert_allclose(matrix[:2], [[0.9, 0.95], [0.2, 0.6]])
    assert learned_last(matrix, ("a", "b", "c")) == [("b", 0.6), ("a", 0.95)]
    empty, none = class_progress([{"epoch": 1}])
    assert empty.size == 0 and none == []
    assert learned_last(np.zeros((0, 0)), ("a",)) == []
