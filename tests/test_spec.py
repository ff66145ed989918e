import json

import pytest

from fmnist_core.nets.spec import ModelSpec, SpecError, preset, presets

BAD_VALUES = [
    ("dataset", "cifar10"),
    ("conv_blocks", 4),
    ("conv_blocks", -1),
    ("filters", (0, 64)),
    ("filters", (64, 64, 64)),
    ("filters", "many"),
    ("convs_per_block", 0),
    ("kernel_size", 0),
    ("kernel_size", 11),
    ("padding", "full"),
    ("activation", "swish2"),
    ("pooling", "median"),
    ("pool_size", 0),
    ("batch_norm", "yes"),
    ("dropout", -0.1),
    ("dropout", 0.95),
    ("dense_units", -1),
    ("optimizer", "lbfgs"),
    ("learning_rate", -0.001),
    ("learning_rate", float("nan")),
    ("batch_size", 0),
    ("epochs", 0),
    ("epochs", 2.5),
    ("target_accuracy", 1.5),
    ("target_accuracy", 0),
    ("validation_split", 0.7),
    ("seed", -1),
    ("augment", "mirror"),
    ("label_smoothing", -0.1),
    ("label_smoothing", 0.9),
    ("test_flip", "yes"),
]


@pytest.mark.parametrize("field,value", BAD_VALUES)
def test_every_field_is_validated_with_a_keras_style_message(field, value):
    with pytest.raises(ValueError) as err:
        ModelSpec(**{field: value})
    text = str(err.value)
    assert f"`{field}`" in text and "received" in text and "\n" not in text


def test_kernel_larger_than_the_feature_map_is_impossible():
    # 28 → conv 9 → 20 → pool 10 → conv 9 → 2 → pool 1 → conv3 meets 1×1
    with pytest.raises(ValueError, match="`kernel_size`.*conv3"):
        ModelSpec(conv_blocks=3, filters=8, kernel_size=9)


def test_pooling_a_one_by_one_map_is_impossible():
    # same padding: 28 → pool 7 → pool 1 → pool3 would pool a 1×1 map
    with pytest.raises(ValueError, match="`pool_size`.*pool3.*1×1"):
        ModelSpec(conv_blocks=3, filters=8, padding="same", pool_size=4)
    with pytest.raises(ValueError, match="`pool_size`.*pool1"):
        # 28 → 20 → 12 → 4 after three 9×9 convs: a 7×7 pool does not fit
        ModelSpec(conv_blocks=1, filters=8, convs_per_block=3, kernel_size=9, pool_size=7)


def test_same_padding_keeps_the_size():
    spec = ModelSpec(padding="same", conv_blocks=3, filters=8)
    assert spec.feature_map_sizes() == [("conv1", 28), ("pool1", 14), ("conv2", 14),
                                        ("pool2", 7), ("conv3", 7), ("pool3", 3)]


def test_seed_cnn_sizes_follow_the_tutorial():
    assert preset("seed-cnn").feature_map_sizes() == [("conv1", 26), ("pool1", 13),
                                                      ("conv2", 11), ("pool2", 5)]


def test_filters_broadcast_and_follow_conv_blocks():
    assert ModelSpec(conv_blocks=3, filters=16).filters == (16, 16, 16)
    assert ModelSpec(conv_blocks=2, filters=[32]).filters == (32, 32)
    assert ModelSpec().replace(conv_blocks=1).filters == (64,)


@pytest.mark.parametrize("blocks", [10**22, 4, -1, "3", 2.5])
def test_an_impossible_conv_blocks_is_refused_before_filters_follow_it(blocks):
    # 10**22 once raised OverflowError from broadcasting the filters (10**9 built 8 GB)
    for make in (lambda: ModelSpec().replace(conv_blocks=blocks),
                 lambda: ModelSpec(conv_blocks=blocks, filters=16)):
        with pytest.raises(SpecError, match="`conv_blocks` must be an integer from 0 to 3"):
            make()


@pytest.mark.parametrize("field,value", [("padding", "\U000711b2" * 4096),
                                         ("epochs", int("9" * 4000)),
                                         ("filters", (64,) * 1000)])
def test_a_huge_refused_value_is_repeated_in_a_few_words(field, value):
    # once repeated whole: 4 KB of unprintable characters made a sentence of 40 KB
    blocks = {"conv_blocks": 3} if field == "filters" else {}
    with pytest.raises(SpecError) as err:
        ModelSpec(**blocks, **{field: value})
    for text in (str(err.value), err.value.student):
        assert len(text) < 200 and "…." in text and f"{repr(value)[:20]}" in text


def test_json_round_trip_and_frozen():
    spec = preset("best")
    assert ModelSpec.from_json(spec.to_json()) == spec
    with pytest.raises(AttributeError):
        spec.epochs = 3
    with pytest.raises(ValueError, match="Unknown spec field"):
        ModelSpec.from_dict({"epochz": 3})


def test_presets_are_valid_and_named():
    table = presets()
    assert set(table) == {"dense", "seed-cnn", "quick", "best"}
    assert table["dense"].conv_blocks == 0 and table["dense"].dense_units == 128
    with pytest.raises(ValueError, match="`preset`"):
        preset("huge")


def test_summary_reads_like_the_architecture():
    assert preset("seed-cnn").summary() == (
        "Conv 64 3×3 → MaxPool 2 → Conv 64 3×3 → MaxPool 2 → Dense 512")
    assert preset("dense").summary() == "Dense 128"


def test_lr_schedule_is_validated_and_survives_json():
    spec = ModelSpec(lr_schedule="cosine")
    assert ModelSpec.from_json(spec.to_json()).lr_schedule == "cosine"
    with pytest.raises(ValueError, match="`lr_schedule`"):
        ModelSpec(lr_schedule="step")
    # runs stored before the field existed still load
    old = json.loads(ModelSpec().to_json())
    del old["lr_schedule"]
    assert ModelSpec.from_dict(old).lr_schedule == "constant"


def test_augmentation_and_label_smoothing_are_validated_and_read_in_the_summary():
    spec = preset("seed-cnn").replace(augment="flip", label_smoothing=0.1)
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert spec.summary() == ("Conv 64 3×3 → MaxPool 2 → Conv 64 3×3 → MaxPool 2 → Dense 512"
                              " · flip augmentation · label smoothing 0.1")
    with pytest.raises(ValueError, match="`augment`"):
        ModelSpec(augment="rotate")
    with pytest.raises(ValueError, match="`label_smoothing`"):
        ModelSpec(label_smoothing=0.6)
    # a mirrored digit is no digit: flip is refused for MNIST, in a sentence for the form
    with pytest.raises(SpecError, match="`augment`") as err:
        spec.replace(dataset="mnist")
    assert err.value.field == "augment" and "mirrored 2" in err.value.student
    assert spec.replace(dataset="mnist", augment="none").dataset == "mnist"
    assert spec.summary(with_output=True) == (
        "Conv 64 3×3 → MaxPool 2 → Conv 64 3×3 → MaxPool 2 → Dense 512 → Dense 10 (softmax)"
        " · flip augmentation · label smoothing 0.1")
    assert preset("dense").replace(dense_units=0).summary(with_output=True) == (
        "Dense 10 (logistic regression)")
    # the test-time flip needs flip augmentation
    assert spec.replace(test_flip=True).summary().endswith(
        " · flip augmentation · test-time flip · label smoothing 0.1")
    with pytest.raises(SpecError, match="`test_flip`") as err:
        spec.replace(augment="none", test_flip=True)
    assert "never saw a mirrored picture" in err.value.student
    # runs stored before the fields existed still load
    old = json.loads(ModelSpec().to_json())
    del old["augment"], old["label_smoothing"], old["test_flip"]
    assert ModelSpec.from_dict(old) == ModelSpec()


def test_train_images_limits_a_run_and_the_server_limit_still_holds():
    spec = ModelSpec(train_images=12_000)
    assert spec.images(60_000) == 12_000 and spec.images(2_000) == 2_000
    assert spec.images(60_000, server_limit=5_000) == 5_000
    assert spec.train_limit() == 12_000 and ModelSpec().train_limit() is None
    assert ModelSpec().images(60_000, server_limit=None) == 60_000
    assert ModelSpec.from_json(spec.to_json()) == spec  # stored with the run
    for wrong in (99, 60_001, 1.5, True):
        with pytest.raises(SpecError) as err:
            ModelSpec(train_images=wrong)
        assert err.value.field == "train_images" and "Training images" in err.value.student
