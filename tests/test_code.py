"""The exported script: plain Keras that stands alone and builds the studio's network.

The truth test runs the script of every preset and a few random specs, short (1 epoch on
600 images), in one Python process that cannot import this project, and compares the
network each built with the studio's layer table of the same spec.
"""

import ast
import json
import subprocess
import sys
import urllib.parse

import pytest

from exporttools import (SHORT_ARGS, TABLE_SOURCE, code_env, idx_folder, random_specs,
                         short_run_counts, specs_to_run, studio_table)
from fmnist_core.export.code import script_text, setup_link
from fmnist_core.export.steps import Origin
from fmnist_core.nets import links
from fmnist_core.nets.model import build_model
from fmnist_core.nets.spec import ModelSpec, preset

# runs each script given on its command line as `python SCRIPT --epochs 1 --limit-train
# 600` would, in its own folder, then prints the table of what it built; this project and
# (for the last script) matplotlib cannot be imported
RUNNER = """
import runpy, sys
from pathlib import Path
sys.modules["fmnist_core"] = None
scripts = sys.argv[1:]
for index, script in enumerate(scripts):
    if index == len(scripts) - 1:
        sys.modules["matplotlib"] = sys.modules["matplotlib.pyplot"] = None
    import os
    os.chdir(Path(script).parent)
    sys.argv = [script, *%r]
    print("SCRIPT " + script, flush=True)
    g = runpy.run_path(script, run_name="__main__")
    exec(%r, {"model": g["model"], "test_accuracy": g["test_accuracy"]})
""" % (SHORT_ARGS, TABLE_SOURCE)


def test_the_script_names_every_field_of_the_spec():
    spec = preset("best").replace(target_accuracy=0.95, train_images=30_000, seed=7,
                                  optimizer="sgd", validation_split=0.2)
    text = script_text(spec, Origin("0123456789ab", 0.9068))
    ast.parse(text)
    for needle in ('padding="same"', "BatchNormalization(momentum=bn_momentum",
                   'layers.Dropout(0.4, seed=seed', 'layers.Dense(256, activation="relu"',
                   "keras.optimizers.SGD(schedule, momentum=0.9)", "CosineDecay(",
                   "learning_rate = 0.002", "batch_size = 128", "default=22",
                   "default=30000", "seed = 7", "validation_split = 0.2",
                   "StopAtAccuracy(0.95)", 'layers.RandomFlip("horizontal"',
                   "label_smoothing=0.1", "x_test[:, :, ::-1]", 'name="conv2b"',
                   "layers.MaxPooling2D(2", "keras.datasets.fashion_mnist.load_data()",
                   "FMNIST_DATA_DIR", 'model.save("fmnist-0123456789ab.keras")',
                   "90.68%", 'print(f"Test accuracy: {test_accuracy:.4f}")'):
        assert needle in text, needle
    assert "fmnist_core" not in text and "import streamlit" not in text


def test_the_setup_link_reads_back_as_the_same_spec():
    spec = preset("quick").replace(filters=(8,), kernel_size=5, seed=3)
    link = setup_link(spec, Origin(studio_url="http://school.lan:8501"))
    base, query = link.split("?")
    assert base == "http://school.lan:8501/train"
    assert links.from_query(urllib.parse.parse_qs(query)) == (spec, None)
    assert f"({link})" in script_text(spec, Origin(studio_url="http://school.lan:8501"))


def test_the_studio_address_comes_from_studio_url(monkeypatch):
    run = {"id": "0123456789ab", "test_accuracy": None, "spec": preset("dense")}
    monkeypatch.delenv("STUDIO_URL", raising=False)
    assert Origin.of_run(run).studio_url == "http://localhost:8501"
    monkeypatch.setenv("STUDIO_URL", "https://studio.school.org/")
    assert Origin.of_run(run) == Origin("0123456789ab", None, "https://studio.school.org")


def test_digits_load_from_mnist_data_dir_and_keep_every_knob():
    spec = ModelSpec(dataset="mnist", conv_blocks=1, filters=(8,), pooling="avg",
                     activation="tanh", optimizer="rmsprop")
    text = script_text(spec)
    ast.parse(text)
    assert "MNIST_DATA_DIR" in text and "keras.datasets.mnist.load_data()" in text
    assert "layers.AveragePooling2D(2" in text and 'activation="tanh"' in text
    assert "keras.optimizers.RMSprop(learning_rate)" in text
    assert "FMNIST_DATA_DIR" not in text and "fashion_mnist" not in text


def test_random_specs_are_valid_varied_and_reproducible():
    drawn = random_specs(20, seed=1)
    assert drawn == random_specs(20, seed=1)
    for field in ("batch_norm", "test_flip", "optimizer", "pooling", "padding"):
        assert len({getattr(spec, field) for spec in drawn}) > 1, field
    for spec in drawn:
        ast.parse(script_text(spec))


def test_logistic_regression_without_validation_is_flatten_and_softmax():
    spec = ModelSpec(conv_blocks=0, filters=(), dense_units=0, validation_split=0.0,
                     label_smoothing=0.2)
    text = script_text(spec)
    ast.parse(text)
    assert 'name="dense"' not in text and "Conv2D" not in text
    assert 'layers.Flatten(name="flatten"),\n    layers.Dense(10, activation="softmax"' in text
    assert "validation_split = 0.0" in text and "if n_val else None" in text


@pytest.fixture(scope="module")
def scripts_run(tmp_path_factory, fashion):
    """Every spec's script, run short in one process; (specs, stdout by spec name)."""
    root = tmp_path_factory.mktemp("scripts")
    data_dir = idx_folder(root / "data", fashion)
    specs = specs_to_run()
    paths = []
    for name, spec in specs.items():
        folder = root / name
        folder.mkdir()
        path = folder / f"fmnist-{name}.py"
        path.write_text(script_text(spec, Origin(name)))
        paths.append(str(path))
    done = subprocess.run([sys.executable, "-c", RUNNER, *paths], capture_output=True,
                          text=True, timeout=900, env=code_env(data_dir), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    chunks = done.stdout.split("SCRIPT ")[1:]
    outputs = {name: chunk for name, chunk in zip(specs, chunks)}
    return root, specs, outputs


@pytest.mark.parametrize("name", list(specs_to_run()))
def test_the_script_builds_and_trains_the_studios_network(scripts_run, name):
    root, specs, outputs = scripts_run
    spec, out = specs[name], outputs[name]
    (line,) = [line for line in out.splitlines() if line.startswith("TABLE ")]
    built = json.loads(line[len("TABLE "):])
    assert {k: built[k] for k in ("layers", "params")} == studio_table(spec)
    assert built["params"] == build_model(spec).count_params()
    assert short_run_counts(spec) in out
    assert f"Test accuracy: {built['test_accuracy']:.4f}" in out
    assert 0.0 <= built["test_accuracy"] <= 1.0
    assert "Total params" in out  # model.summary()
    assert (root / name / f"fmnist-{name}.keras").is_file()
    if name == list(specs)[-1]:
        assert "No curves: matplotlib is not installed (pip install matplotlib)." in out
    else:
        assert (root / name / f"fmnist-{name}-curves.png").stat().st_size > 1000
    if spec.target_accuracy is not None:
        assert "Reached the target" in out
