"""The engine on another Keras backend than TensorFlow, for real: JAX (CPU) in a process of
its own that cannot import TensorFlow at all (tests/backend_contract.py), as on a GPU machine
that has JAX alone. A run with batch norm trains through the studio's own job, stops, diverges,
is saved and reloaded, and what the pages do with a model works on it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def jax_contract(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax") / "contract.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "STUDIO_PRECISION": "auto"}
    done = subprocess.run([sys.executable, str(HERE / "backend_contract.py"), "--no-tensorflow",
                           str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_it_is_jax_and_tensorflow_is_never_imported(jax_contract):
    assert jax_contract["backend"] == "jax"
    assert jax_contract["tensorflow_loaded"] is False


def test_a_batch_norm_run_trains_saves_and_reloads(jax_contract):
    run = jax_contract["run"]
    assert run["status"] == "completed" and run["message"] == "Finished 2 epochs."
    assert len(run["epochs"]) == 2 and run["test_accuracy"] > 0.3  # chance is 0.1
    # float32 on JAX: bfloat16 compute is TensorFlow's fast path only
    assert "bfloat16" not in run["device"]
    # the file reloaded answers exactly as the run's own test did
    assert jax_contract["reloaded_accuracy"] == pytest.approx(run["test_accuracy"], abs=1e-9)
    assert jax_contract["probabilities_sum"] < 1e-5


def test_what_the_pages_do_with_a_model_works(jax_contract):
    assert jax_contract["feature_maps"] == {"conv1_relu": [26, 26, 8], "pool1": [13, 13, 8],
                                            "conv2_relu": [11, 11, 16], "pool2": [5, 5, 16]}
    assert jax_contract["feature_map_probs_match"] < 1e-5
    cam = jax_contract["gradcam"]
    assert cam["layer"] == "conv2_relu" and cam["shape"] == [28, 28]
    assert 0.0 <= cam["range"][0] <= cam["range"][1] == 1.0
    assert jax_contract["ood"]["flagged_test"] <= 0.1  # its threshold passes most test images
    assert jax_contract["probe"] == pytest.approx(1.0, abs=1e-5)


def test_stop_and_divergence_end_with_their_sentences(jax_contract):
    stopped = jax_contract["stopped"]
    assert stopped["status"] == "stopped" and stopped["model"]
    assert stopped["message"].startswith("Stopped in epoch")
    diverged = jax_contract["diverged"]
    assert diverged["status"] == "diverged"
    assert "learning rate (10) is probably too high" in diverged["message"]
