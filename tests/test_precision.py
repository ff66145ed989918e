"""Training in bfloat16 (fmnist_core.nets.precision): the choice, the twin models, a whole run.

The rest of the suite trains in float32 (conftest pins STUDIO_PRECISION), so its figures are
the same on every CPU; these tests force bfloat16, which any CPU can compute (emulated where
it has no bfloat16 instructions, natively on one that has).
"""

import keras
import numpy as np
import pytest

from fmnist_core.nets import precision
from fmnist_core.training.validation import split_validation, validate
from fmnist_core.training.job import TrainingJob
from fmnist_core.nets.model import (FusedBatchNormalization, build_model, compile_model,
                                    copy_trained, with_test_flip)
from fmnist_core.nets.spec import ModelSpec, preset

CPU = {"backend": "tensorflow", "device": "CPU", "detail": "2 cores"}


@pytest.mark.parametrize(("value", "native", "info", "expected"), [
    ("float32", True, CPU, "float32"),
    ("bfloat16", False, CPU, "mixed_bfloat16"),
    ("", True, CPU, "mixed_bfloat16"),  # unset means auto
    ("AUTO", False, CPU, "float32"),  # no bfloat16 instructions: emulated, slower
    ("auto", True, {**CPU, "device": "GPU", "detail": "H200"}, "float32"),
    ("auto", True, {**CPU, "backend": "jax"}, "float32"),
])
def test_the_policy_follows_the_setting_and_the_cpu(monkeypatch, value, native, info,
                                                    expected):
    monkeypatch.setenv(precision.ENV, value)
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: native)
    assert precision.training_policy(info) == expected
    assert precision.label(expected) == (", bfloat16 compute" if "bf" in expected else "")


def test_an_unknown_setting_is_one_sentence(monkeypatch):
    monkeypatch.setenv(precision.ENV, "fp8")
    with pytest.raises(ValueError, match=r"^STUDIO_PRECISION must be auto, float32 or "
                                         r"bfloat16, not 'fp8'\.$"):
        precision.training_policy(CPU)


# /proc/cpuinfo as Linux writes it: "processor", ..., "flags" (x86) or "Features" (Arm)
SKYLAKE = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz\n"
           "flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512dq avx512bw avx512vl "
           "avx512_vnni\n\n")
SAPPHIRE_RAPIDS = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
                   "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_fp16 amx_bf16 "
                   "amx_tile amx_int8\n\n")
ZEN4 = ("processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n"
        "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n\n")
FP16_ONLY = "flags\t\t: fpu avx2 avx512f avx512_fp16\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16 i8mm sve\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize(("cpuinfo", "native"), [
    (SKYLAKE, False), (SAPPHIRE_RAPIDS, True), (ZEN4, True), (FP16_ONLY, False),
    (2 * SKYLAKE, False), (ARM, False), ("", False), (None, False),
])
def test_the_cpu_check_reads_the_flags(monkeypatch, cpuinfo, native):
    import io

    def fake_open(path, *args, **kwargs):
        assert path == "/proc/cpuinfo"
        if cpuinfo is None:
            raise FileNotFoundError(path)  # not Linux
        return io.StringIO(cpuinfo)

    monkeypatch.setattr(precision, "open", fake_open, raising=False)
    precision.cpu_has_native_bfloat16.cache_clear()
    try:
        assert precision.cpu_has_native_bfloat16() is native
    finally:
        monkeypatch.undo()
        precision.cpu_has_native_bfloat16.cache_clear()  # this machine's answer again


def test_a_bfloat16_model_computes_in_bfloat16_and_answers_in_float32():
    spec = preset("best")
    model = build_model(spec, dtype=precision.MIXED)
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers[1:]}
    assert policies.pop("output") == "float32"
    assert set(policies.values()) == {"mixed_bfloat16"}
    assert {w.dtype for w in model.weights} == {"float32"}  # the weights stay float32
    x = np.zeros((2, 28, 28), np.uint8)
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float32
    conv = model.get_layer("conv1a")(keras.ops.zeros((1, 28, 28, 1)))
    assert keras.backend.standardize_dtype(conv.dtype) == "bfloat16"
    assert {layer.dtype_policy.name for layer in build_model(spec).layers[1:]} == {"float32"}


def test_the_bfloat16_twin_normalises_with_the_fused_kernel_and_the_same_weights():
    spec = preset("best")
    twin, model = build_model(spec, dtype=precision.MIXED), build_model(spec)
    fused = [layer for layer in twin.layers if isinstance(layer, FusedBatchNormalization)]
    assert [layer.name for layer in fused] == ["conv1a_bn", "conv1b_bn", "conv2a_bn",
                                               "conv2b_bn"]
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in model.layers)
    assert [w.shape for w in twin.weights] == [w.shape for w in model.weights]
    twin.set_weights(model.get_weights())  # the same weights, in the same order


def test_fit_trains_the_twin_through_the_fused_kernel(small_data, monkeypatch):
    import tensorflow as tf

    kernel, calls = tf.raw_ops.FusedBatchNormV3, []

    def counted(**kwargs):
        calls.append(kwargs["is_training"])
        return kernel(**kwargs)

    monkeypatch.setattr(tf.raw_ops, "FusedBatchNormV3", counted)
    spec = ModelSpec(conv_blocks=1, filters=(8,), batch_norm=True, dense_units=16, epochs=1)
    twin = compile_model(build_model(spec, dtype=precision.MIXED), spec, steps_per_epoch=2)
    twin.fit(small_data.x_train[:64], small_data.y_train[:64], batch_size=32, verbose=0)
    assert calls and all(calls)  # traced into the training step, once per batch norm


def test_the_fused_batch_norm_trains_and_predicts_as_keras_own_layer():
    # the same feature maps (bfloat16, as the twin's convolutions hand them over) through
    # both layers with the same weights: outputs, moving statistics and gradients agree
    rng = np.random.default_rng(0)
    x = keras.ops.cast(rng.normal(2.0, 3.0, (16, 7, 7, 8)).astype("float32"), "bfloat16")
    mine = FusedBatchNormalization(momentum=0.6, dtype=precision.MIXED)
    theirs = keras.layers.BatchNormalization(momentum=0.6, dtype=precision.MIXED)
    mine.build(x.shape)
    theirs.build(x.shape)
    start = [rng.uniform(0.5, 2, 8).astype("float32"), rng.normal(0, 1, 8).astype("float32"),
             rng.normal(0, 1, 8).astype("float32"), rng.uniform(0.5, 2, 8).astype("float32")]
    mine.set_weights(start)
    theirs.set_weights(start)
    import tensorflow as tf

    looks = {}
    for name, layer in (("fused", mine), ("keras", theirs)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, "float32") ** 3)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
        looks[name] = ([keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))]
                       + [keras.ops.convert_to_numpy(keras.ops.cast(g, "float32"))
                          for g in grads] + layer.get_weights()[2:])
    out, dx, dgamma, dbeta, mean, variance = looks["fused"]
    k_out, k_dx, k_dgamma, k_dbeta, k_mean, k_variance = looks["keras"]
    np.testing.assert_allclose(out, k_out, atol=0.05)  # bfloat16 outputs, 8-bit mantissas
    np.testing.assert_allclose(mean, k_mean, rtol=1e-5)
    np.testing.assert_allclose(variance, k_variance, rtol=1e-4)
    assert not np.allclose(mean, start[2])  # the moving statistics did move
    for a, b in ((dx, k_dx), (dgamma, k_dgamma), (dbeta, k_dbeta)):
        assert np.abs(a - b).max() <= 0.03 * np.abs(b).max()
    # predicting, it is Keras's layer: the moving statistics, exactly
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine(x, training=False)),
                                  keras.ops.convert_to_numpy(theirs(x, training=False)))


def test_copy_trained_hands_weights_and_optimizer_state_to_the_float32_twin(small_data):
    spec = preset("seed-cnn").replace(epochs=1)
    keras.utils.set_random_seed(0)
    steps = 1000 // spec.batch_size
    trainer = compile_model(build_model(spec, dtype=precision.MIXED), spec, steps)
    model = compile_model(build_model(spec), spec, steps)
    trainer.set_weights(model.get_weights())
    x, y = small_data.x_train[:1000], small_data.y_train[:1000]
    trainer.fit(x, y, batch_size=spec.batch_size, epochs=1, verbose=0)
    copy_trained(trainer, model)
    for mine, theirs in zip(model.get_weights(), trainer.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert int(model.optimizer.iterations) == int(trainer.optimizer.iterations) == 8
    for mine, theirs in zip(model.optimizer.variables, trainer.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine),
                                      keras.ops.convert_to_numpy(theirs))
    test = small_data.x_test[:200]
    float32 = model.predict(test, verbose=0)
    bfloat16 = trainer.predict(test, verbose=0)
    assert float32.dtype == np.float32
    # the same network: bfloat16's 8-bit mantissa moves a probability by a little
    assert np.abs(float32 - bfloat16).max() < 0.1
    assert (float32.argmax(1) == bfloat16.argmax(1)).mean() > 0.9


def test_a_run_in_bfloat16_keeps_a_float32_model_and_checkpoints(store, small_data,
                                                                 monkeypatch):
    monkeypatch.setenv(precision.ENV, "bfloat16")
    spec = ModelSpec(conv_blocks=2, filters=(16, 32), dense_units=64, epochs=2,
                     batch_size=64, augment="flip", test_flip=True, batch_norm=True)
    job = TrainingJob(spec, "alice", store, dataset=small_data)
    job.start()
    assert job.wait(180), "training did not finish in time"
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    run = store.get_run(job.run_id)
    assert run["device"].endswith(", bfloat16 compute)")
    assert snap["test_accuracy"] > 0.55  # chance is 0.10
    assert [row["epoch"] for row in snap["history"]] == [1, 2]
    assert all(0.3 < row["val_accuracy"] <= 1 for row in snap["history"])
    saved = keras.models.load_model(store.model_file(job.run_id))
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    # Keras's own batch norm, its moving statistics the fused twin's
    norms = [layer for layer in saved.layers if "_bn" in layer.name]
    assert {type(layer).__name__ for layer in norms} == {"BatchNormalization"}
    assert all(np.abs(layer.get_weights()[2]).max() > 0 for layer in norms)
    # each epoch was validated in float32 with the weights its checkpoint keeps, and the
    # last checkpoint holds the weights the model file was saved with
    _, (x_val, y_val) = split_validation(small_data.x_train, small_data.y_train, 0.1)
    rows = {row["epoch"]: row for row in store.epochs(job.run_id)}
    checkpoints = store.checkpoints(job.run_id)
    assert list(checkpoints) == [0, 1, 2]
    # epoch 0 is the weights both twins started from, as the spec's seed builds them
    keras.utils.set_random_seed(spec.seed)
    fresh, start = build_model(spec), build_model(spec)
    start.load_weights(checkpoints[0])
    for kept, built in zip(start.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(kept, built)
    for epoch, path in list(checkpoints.items())[1:]:
        twin = build_model(spec)
        twin.load_weights(path)
        scores, _ = validate(with_test_flip(twin), x_val, y_val, 10)
        assert scores["val_accuracy"] == pytest.approx(rows[epoch]["val_accuracy"], abs=1e-6)
    test = small_data.x_test[:100]
    np.testing.assert_allclose(with_test_flip(twin).predict(test, verbose=0),
                               saved.predict(test, verbose=0), atol=1e-6)


def test_an_unknown_setting_fails_the_run_with_its_sentence(store, small_data, monkeypatch):
    monkeypatch.setenv(precision.ENV, "half")
    job = TrainingJob(preset("quick").replace(epochs=1), "alice", store, dataset=small_data)
    job.start()
    assert job.wait(60)
    snap = job.snapshot()
    assert snap["status"] == "failed"
    assert snap["message"] == ("STUDIO_PRECISION must be auto, float32 or bfloat16, not "
                               "'half'. Training did not start.")
    assert store.get_run(job.run_id)["status"] == "failed"


def test_the_sidebar_label_says_how_training_computes(monkeypatch):
    from fmnist_core.nets.device import device_label

    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: True)
    monkeypatch.setenv(precision.ENV, "auto")
    assert device_label().endswith(" · tensorflow · bfloat16 training")
    monkeypatch.setenv(precision.ENV, "float32")
    assert device_label().endswith(" · tensorflow")
    monkeypatch.setenv(precision.ENV, "fp8")
    assert device_label().endswith(" · STUDIO_PRECISION not understood (auto, float32 or "
                                   "bfloat16)")
