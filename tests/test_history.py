import csv
import io

import numpy as np
import pytest

from fmnist_core.export import history
from fmnist_core.training.job import TrainingJob
from fmnist_core.nets.spec import ModelSpec

SPEC = ModelSpec(conv_blocks=1, filters=4, dense_units=16, epochs=2, batch_size=64)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, small_data):
    from fmnist_core.store.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("export"))
    job = TrainingJob(SPEC, "alice", store, dataset=small_data)
    job.start()
    assert job.wait(120) and job.status == "completed"
    return store, job.run_id


def test_the_csv_holds_batches_epochs_and_each_class(finished, tmp_path):
    store, run_id = finished
    path = history.write_csv(store, run_id, tmp_path / "run.csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    batches = [r for r in rows if r["kind"] == "batch"]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert len(batches) >= 2 and [r["epoch"] for r in epochs] == ["1", "2"]
    stored = store.epochs(run_id)
    for row, kept in zip(epochs, stored):
        assert float(row["val_accuracy"]) == pytest.approx(kept["val_accuracy"], rel=1e-5)
        assert float(row["val_accuracy Trouser"]) == pytest.approx(kept["class_accuracy"][1],
                                                                   rel=1e-5)
        assert row["complete"] == "1"
    assert float(batches[-1]["position"]) == pytest.approx(2.0)


def test_the_tensorboard_files_read_back_hold_the_stored_values(finished, tmp_path):
    import tensorflow as tf

    store, run_id = finished
    folder = history.write_tensorboard(store, run_id, tmp_path / "tb")
    scalars, images = {}, {}
    for event_file in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                data = tf.make_ndarray(value.tensor)
                if value.tag.startswith("filters/"):
                    images[event.step] = data
                else:
                    scalars[(value.tag, event.step)] = float(data)
    for row in store.epochs(run_id):
        assert scalars[("epoch/val_accuracy", row["epoch"])] == pytest.approx(
            row["val_accuracy"], rel=1e-6)
        assert scalars[("epoch/loss", row["epoch"])] == pytest.approx(row["loss"], rel=1e-6)
        assert scalars[("class_accuracy/Sandal", row["epoch"])] == pytest.approx(
            row["class_accuracy"][5], rel=1e-6)
    assert any(tag == "batch/loss" for tag, _ in scalars)
    assert sorted(images) == [0, 1, 2]  # the filters at the start and after each epoch, as PNGs
    assert all(np.asarray(v).size == 3 for v in images.values())  # width, height, PNG bytes


def test_the_cli_exports_a_run(finished, tmp_path):
    import subprocess
    import sys

    store, run_id = finished
    done = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "runs", "export", run_id, "--home",
         str(store.home), "--csv", str(tmp_path / "h.csv"), "--tensorboard",
         str(tmp_path / "tb")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "h.csv").read_text().startswith("kind,epoch,position,loss")
    assert list((tmp_path / "tb" / run_id).glob("events.out.tfevents.*"))
    missing = subprocess.run([sys.executable, "-m", "fmnist_core", "runs", "export",
                              "0123456789ab", "--home", str(store.home), "--csv", "x.csv"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "There is no run 0123456789ab" in missing.stderr
