"""The layer table by arithmetic (`fmnist_core.nets.anatomy`) against the network Keras builds:
every row's name, type, output shape, parameters and FLOPs, and the totals."""

import math

import keras
import pytest

from fmnist_core.nets.anatomy import describe
from fmnist_core.nets.model import build_model
from fmnist_core.nets.spec import ModelSpec, presets

SPECS = [*presets().values(),
         ModelSpec(conv_blocks=1, filters=8, kernel_size=5, pooling="avg", pool_size=3,
                   dense_units=0),
         ModelSpec(conv_blocks=3, filters=(4, 8, 16), padding="same", pooling="none",
                   dense_units=0, dropout=0.5),
         ModelSpec(conv_blocks=2, filters=(8, 16), convs_per_block=3, kernel_size=2,
                   batch_norm=True, activation="gelu", pool_size=1, dense_units=32,
                   augment="flip"),
         ModelSpec(conv_blocks=3, filters=(3, 5, 7), kernel_size=3, pooling="max",
                   pool_size=2, dense_units=10, dataset="mnist")]


def keras_flops(layer) -> int:
    """Forward FLOPs (multiply + add = 2) of one built Keras layer for one image."""
    if isinstance(layer, keras.layers.Conv2D):
        _, height, width, out = layer.output.shape
        return 2 * math.prod(layer.kernel_size) * layer.input.shape[-1] * out * height * width
    if isinstance(layer, keras.layers.Dense):
        return 2 * layer.input.shape[-1] * layer.units
    return 0


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.summary())
def test_the_table_is_the_network_keras_builds(spec):
    model = build_model(spec)
    built = [{"name": layer.name, "type": type(layer).__name__,
              "output_shape": list(layer.output.shape[1:]),
              "params": int(layer.count_params()), "flops": keras_flops(layer)}
             for layer in model.layers[1:]]  # after the input
    info = describe(spec, train_images=1000)
    assert info["layers"] == built
    assert info["total_params"] == model.count_params()
    assert info["trainable_params"] == sum(int(w.numpy().size)
                                           for w in model.trainable_weights)
    # forward, backward (twice the forward), less the first weighted layer's input gradient
    first = next(row["flops"] for row in built if row["flops"])
    assert info["train_flops_per_image"] == 3 * info["flops_per_image"] - first
    assert info["flops_per_image"] == sum(row["flops"] for row in built)
    assert info["train_flops_per_epoch"] == 1000 * info["train_flops_per_image"]


def test_the_table_needs_no_backend():
    import subprocess
    import sys

    code = ("import sys; from fmnist_core.nets.anatomy import describe; "
            "from fmnist_core.nets.spec import preset; "
            "assert describe(preset('seed-cnn'))['total_params'] == 862410; "
            "assert 'keras' not in sys.modules, 'keras was loaded'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
