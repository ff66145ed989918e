import numpy as np
import pytest

from fmnist_core.nets.anatomy import describe
from fmnist_core.nets.model import (batch_norm_momentum, build_model, compile_model,
                                    feature_layer_names)
from fmnist_core.nets.spec import ModelSpec, preset


def test_seed_cnn_has_exactly_862410_params():
    info = describe(preset("seed-cnn"))
    assert info["total_params"] == 862_410 == info["trainable_params"]
    # ≈33.3 MFLOP per training image, 2.0 TFLOP per 60,000-image epoch
    assert round(info["train_flops_per_image"] / 1e6, 1) == 33.3
    assert round(describe(preset("seed-cnn"), train_images=60_000)
                 ["train_flops_per_epoch"] / 1e12, 1) == 2.0


def test_dense_baseline_is_flatten_dense128_dense10():
    info = describe(preset("dense"))
    types = [row["type"] for row in info["layers"]]
    assert types == ["Rescaling", "Reshape", "Flatten", "Dense", "Dense"]
    assert info["total_params"] == 784 * 128 + 128 + 128 * 10 + 10


@pytest.mark.parametrize("spec,expected", [
    (preset("seed-cnn"), {"conv1": [26, 26, 64], "pool1": [13, 13, 64], "conv2": [11, 11, 64],
                          "pool2": [5, 5, 64], "flatten": [1600], "dense": [512],
                          "output": [10]}),
    (ModelSpec(conv_blocks=1, filters=8, kernel_size=5, pooling="avg", pool_size=3,
               dense_units=0), {"conv1": [24, 24, 8], "pool1": [8, 8, 8], "flatten": [512]}),
    (ModelSpec(conv_blocks=3, filters=(4, 8, 16), padding="same", pooling="none",
               dense_units=0), {"conv3": [28, 28, 16], "flatten": [28 * 28 * 16]}),
    (ModelSpec(conv_blocks=2, filters=(8, 16), convs_per_block=2, padding="same",
               batch_norm=True, dropout=0.3, dense_units=32),
     {"conv1a": [28, 28, 8], "conv1b_relu": [28, 28, 8], "pool2": [7, 7, 16],
      "dropout": [32]}),
])
def test_every_layer_shape(spec, expected):
    shapes = {row["name"]: row["output_shape"] for row in describe(spec)["layers"]}
    for name, shape in expected.items():
        assert shapes[name] == shape, name
    assert describe(spec)["layers"][0]["type"] == "Rescaling"


def test_model_takes_uint8_and_returns_probabilities():
    model = build_model(preset("quick"))
    x = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    probs = np.asarray(model(x))
    assert probs.shape == (4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.inputs[0].dtype == "uint8"


def test_feature_layers_are_convs_and_pools_in_order():
    assert feature_layer_names(build_model(preset("seed-cnn"))) == [
        "conv1", "pool1", "conv2", "pool2"]
    bn = ModelSpec(conv_blocks=1, filters=4, batch_norm=True, activation="elu")
    assert feature_layer_names(build_model(bn)) == ["conv1_elu", "pool1"]
    assert feature_layer_names(build_model(preset("dense"))) == []


def test_cosine_schedule_glides_to_zero_by_the_last_step():
    from fmnist_core.nets.model import build_model, compile_model

    spec = preset("quick").replace(lr_schedule="cosine", learning_rate=2e-3, epochs=3)
    model = compile_model(build_model(spec), spec, steps_per_epoch=100)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    for step, rate in ((0, 2e-3), (150, 1e-3), (300, 0.0)):
        optimizer.iterations.assign(step)
        assert float(optimizer.learning_rate) == pytest.approx(rate, rel=1e-3, abs=1e-9)
    constant = compile_model(build_model(spec.replace(lr_schedule="constant")), spec.replace(
        lr_schedule="constant"), steps_per_epoch=100)
    assert float(constant.optimizer.learning_rate) == pytest.approx(2e-3)


def test_flip_augmentation_mirrors_only_while_training():
    spec = ModelSpec(conv_blocks=1, filters=4, dense_units=0, augment="flip")
    model = build_model(spec)
    assert [layer.name for layer in model.layers][:4] == ["image", "rescale", "channel", "flip"]
    assert "flip" not in [layer.name for layer in build_model(spec.replace(augment="none")).layers]
    flip = keras_model_part(model, "flip")
    x = np.random.default_rng(1).integers(0, 256, (64, 28, 28), dtype=np.uint8)
    at_inference = np.asarray(flip(x, training=False))[..., 0]
    np.testing.assert_allclose(at_inference, x / 255.0, rtol=1e-6)
    trained = np.asarray(flip(x, training=True))[..., 0]
    mirrored = [np.allclose(t, img[:, ::-1] / 255.0, rtol=1e-6) for t, img in zip(trained, x)]
    kept = [np.allclose(t, img / 255.0, rtol=1e-6) for t, img in zip(trained, x)]
    assert all(m or k for m, k in zip(mirrored, kept))  # each image whole, mirrored or not
    assert 10 <= sum(mirrored) <= 54  # about half of the 64 (p < 1e-6 outside)
    # a plain call (as feature-map sub-models make) is not training: nothing is mirrored
    # (Keras's own RandomFlip would mirror at random here)
    np.testing.assert_allclose(np.asarray(flip(x))[..., 0], x / 255.0, rtol=1e-6)
    probs = [np.asarray(model(x)) for _ in range(3)]
    assert all(np.array_equal(probs[0], p) for p in probs[1:])


def test_a_test_time_flip_averages_two_looks_with_the_same_weights(tmp_path):
    import keras

    from fmnist_core.nets.model import output_layer, with_test_flip

    spec = ModelSpec(conv_blocks=1, filters=4, dense_units=8, augment="flip", test_flip=True)
    model = build_model(spec)
    twice = with_test_flip(model)
    assert twice.count_params() == model.count_params()
    assert [layer.name for layer in twice.layers][-3:] == ["dropout", "output", "test_flip"] \
        or [layer.name for layer in twice.layers][-2:] == ["output", "test_flip"]
    x = np.random.default_rng(3).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    expected = (np.asarray(model(x)) + np.asarray(model(x[:, :, ::-1]))) / 2
    np.testing.assert_allclose(np.asarray(twice(x)), expected, atol=1e-6)
    # saved and loaded, every layer's first output is still the unmirrored image's, so
    # feature maps and Grad-CAM read the picture as it was given
    twice.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), expected, atol=1e-6)
    maps = keras.Model(loaded.inputs[0], loaded.get_layer("conv1").output)(x)
    plain = keras.Model(model.inputs[0], model.get_layer("conv1").output)(x)
    np.testing.assert_allclose(np.asarray(maps), np.asarray(plain), atol=1e-5)
    assert output_layer(loaded).name == "output" and output_layer(model).name == "output"


def keras_model_part(model, last: str):
    import keras

    return keras.Model(model.inputs[0], model.get_layer(last).output)


def test_label_smoothing_trains_on_one_hot_labels_with_a_built_in_loss():
    import keras

    from fmnist_core.nets.model import compile_model, fit_labels

    spec = ModelSpec(conv_blocks=1, filters=4, dense_units=0, label_smoothing=0.1)
    y = np.array([3, 0, 9])
    onehot = fit_labels(spec, y)
    assert onehot.shape == (3, 10) and onehot.dtype == np.float32
    assert onehot.argmax(axis=1).tolist() == [3, 0, 9] and onehot.sum() == 3
    assert fit_labels(spec.replace(label_smoothing=0.0), y) is y
    model = compile_model(build_model(spec), spec, steps_per_epoch=1)
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert model.loss.label_smoothing == pytest.approx(0.1)
    # a perfect prediction still costs something: the target is 0.91 / 0.01, not 1 / 0
    perfect = np.eye(10, dtype="float32")[y]
    assert float(model.loss(onehot, perfect)) > 0.3
    x = np.random.default_rng(2).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    model.fit(x, onehot, epochs=1, verbose=0)
    # "accuracy" compares one-hot rows with the predictions' argmax, as the fit loop reads it
    (accuracy,) = model.metrics[1].metrics
    assert isinstance(accuracy, keras.metrics.CategoricalAccuracy)
    assert accuracy.name == "accuracy"


def test_a_short_epoch_lowers_the_batch_norm_momentum_so_little_of_its_start_is_left():
    assert batch_norm_momentum(None) == batch_norm_momentum(44) == batch_norm_momentum(422) \
        == 0.9
    for steps in (1, 8, 15, 43):
        assert batch_norm_momentum(steps) < 0.9
        assert batch_norm_momentum(steps) ** steps == pytest.approx(0.01)
    spec = ModelSpec(conv_blocks=1, filters=4, batch_norm=True, dense_units=0)
    model = compile_model(build_model(spec), spec, steps_per_epoch=15)
    norms = [layer for layer in model.layers if layer.name.endswith("_bn")]
    assert [layer.momentum for layer in norms] == [pytest.approx(0.01 ** (1 / 15))]
