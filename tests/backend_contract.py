"""The engine's contract on one Keras backend, run as its own process (tests/test_backends.py).

    KERAS_BACKEND=jax python tests/backend_contract.py [--no-tensorflow] OUT.json

With --no-tensorflow the process cannot import TensorFlow at all, as on a machine that has
only JAX: nothing the engine does for a run may need it there. It trains small runs on a
slice of the real Fashion-MNIST through the studio's own job (the fit loop with batch norm,
a Stop, a learning rate that diverges), then reloads the saved model and runs what the pages
run on it (prediction, feature maps, Grad-CAM, the unusual-input score, a probe), and writes
what it saw as JSON for the test to judge.
"""

from __future__ import annotations

import importlib.abc
import json
import sys
import tempfile
import time
from pathlib import Path


class NoTensorFlow(importlib.abc.MetaPathFinder):
    """Makes `import tensorflow` fail as where it is not installed (a None in sys.modules
    would not: Keras takes a name there for a module already loaded)."""

    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ("tensorflow", "tensorboard"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if "--no-tensorflow" in sys.argv:
    sys.meta_path.insert(0, NoTensorFlow())

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from fmnist_core.data.datasets import load_dataset  # noqa: E402
from fmnist_core.explain import gradcam, inspection, ood, probes  # noqa: E402
from fmnist_core.nets.spec import ModelSpec  # noqa: E402
from fmnist_core.store.runs import RunStore  # noqa: E402
from fmnist_core.training.job import TrainingJob  # noqa: E402

# batch norm and dropout on: the layers whose training and predicting differ
SPEC = ModelSpec(conv_blocks=2, filters=(8, 16), batch_norm=True, dropout=0.2,
                 dense_units=32, epochs=2, batch_size=64, seed=0)


def train(spec: ModelSpec, store: RunStore, data, stop_after_steps: int | None = None):
    job = TrainingJob(spec, "contract", store, dataset=data)
    job.start()
    if stop_after_steps is not None:
        deadline = time.monotonic() + 300
        while job.snapshot()["steps_done"] < stop_after_steps and not job.done:
            if time.monotonic() > deadline:
                raise TimeoutError("the run never reached the steps to stop at")
            time.sleep(0.05)
        job.stop()
    if not job.wait(600):
        raise TimeoutError("the run did not end")
    return job


def main(out: Path) -> None:
    import keras

    data = load_dataset("fashion_mnist").subset(limit_train=1_500, limit_test=300)
    store = RunStore(Path(tempfile.mkdtemp(prefix="contract-")))
    seen: dict = {"backend": keras.backend.backend()}
    job = train(SPEC, store, data)
    snap = job.snapshot()
    seen["run"] = {key: snap[key] for key in ("status", "message", "test_accuracy",
                                              "device", "model_path")}
    seen["run"]["epochs"] = [row["val_accuracy"] for row in snap["history"]]
    model = store.load_model(job.run_id)
    x, y = data.x_test, data.y_test
    probs = inspection.predict_proba(model, x)
    seen["reloaded_accuracy"] = float((probs.argmax(axis=1) == y).mean())
    seen["probabilities_sum"] = float(np.abs(probs.sum(axis=1) - 1).max())
    maps, image_probs = inspection.FeatureExtractor(model)(x[0])
    seen["feature_maps"] = {m.name: list(m.maps.shape) for m in maps}
    seen["feature_map_probs_match"] = float(np.abs(image_probs - probs[0]).max())
    cam = gradcam.GradCam(model)(x[0])
    seen["gradcam"] = {"layer": cam.layer, "shape": list(cam.heatmap.shape),
                       "range": [float(cam.heatmap.min()), float(cam.heatmap.max())]}
    check = ood.OodModel.load(store.run_file(job.run_id, ood.FILE_NAME))
    scores = check.score(model, x[:100])
    seen["ood"] = {"flagged_test": float((scores > check.threshold).mean()),
                   "flagged_noise": float((check.score(model, np.random.default_rng(0).integers(
                       0, 256, (50, 28, 28), dtype=np.uint8)) > check.threshold).mean())}
    seen["probe"] = float(probes.probe(model, x[0], shift=(2, -1), rotate=10).probabilities.sum())
    stopped = train(SPEC.replace(epochs=20), store, data, stop_after_steps=30)
    seen["stopped"] = {"status": stopped.status, "message": stopped.snapshot()["message"],
                       "model": store.model_file(stopped.run_id).is_file()}
    diverged = train(SPEC.replace(learning_rate=10.0, optimizer="sgd", batch_norm=False,
                                  epochs=3), store, data)
    seen["diverged"] = {"status": diverged.status, "message": diverged.snapshot()["message"]}
    seen["tensorflow_loaded"] = "tensorflow" in sys.modules
    out.write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path([arg for arg in sys.argv[1:] if not arg.startswith("--")][0]))
