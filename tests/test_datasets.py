import gzip

import numpy as np
import pytest

from fmnist_core.data import datasets
from fmnist_core.data.datasets import DatasetNotFoundError, read_idx


def write_idx(path, array, gz=True):
    rank = array.ndim
    header = np.array([0x00000800 + rank, *array.shape],
                      dtype=">u4")
    raw = header.tobytes() + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def make_fashion_dir(folder, n_train=12, n_test=5, value=7, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    x_train = np.full((n_train, 28, 28), value, np.uint8)
    x_test = np.full((n_test, 28, 28), value, np.uint8)
    write_idx(folder / "train-images-idx3-ubyte", x_train, gz)
    write_idx(folder / "train-labels-idx1-ubyte", np.arange(n_train) % 10, gz)
    write_idx(folder / "t10k-images-idx3-ubyte", x_test, gz)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10, gz)
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env dirs, an empty Debian dir and an empty Keras home."""
    monkeypatch.delenv("FMNIST_DATA_DIR", raising=False)
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(datasets, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("STUDIO_NO_DOWNLOAD", "1")
    return tmp_path


def test_real_data_shapes_and_names(fashion):
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_train.dtype == np.uint8
    assert fashion.y_train.shape == (60000,) and fashion.x_test.shape == (10000, 28, 28)
    assert set(np.unique(fashion.y_test)) == set(range(10))
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    assert not fashion.x_train.flags.writeable


def test_load_dataset_is_cached_once_per_process(fashion):
    assert datasets.load_dataset("fashion_mnist") is fashion


def test_search_order_env_first_then_debian_then_keras(isolated):
    tmp = isolated
    make_fashion_dir(tmp / "keras_home" / "datasets" / "fashion-mnist", value=3)
    assert datasets._load_fashion().x_train[0, 0, 0] == 3
    make_fashion_dir(tmp / "debian", value=2, gz=False)
    assert datasets._load_fashion().x_train[0, 0, 0] == 2
    make_fashion_dir(tmp / "env", value=1)
    import os

    os.environ["FMNIST_DATA_DIR"] = str(tmp / "env")
    try:
        data = datasets._load_fashion()
    finally:
        del os.environ["FMNIST_DATA_DIR"]
    assert data.x_train[0, 0, 0] == 1 and data.source == str(tmp / "env")
    assert datasets.fashion_search_dirs()[0] == tmp / "debian"


def test_missing_everywhere_names_the_places_and_the_fix(isolated):
    with pytest.raises(DatasetNotFoundError) as err:
        datasets._load_fashion()
    text = str(err.value)
    assert str(isolated / "debian") in text and "apt-get install dataset-fashion-mnist" in text
    assert "\n" not in text


@pytest.mark.parametrize("damage", ["magic", "truncated", "size", "count"])
def test_corrupt_files_give_one_sentence(isolated, damage):
    folder = make_fashion_dir(isolated / "debian", gz=False)
    images = folder / "train-images-idx3-ubyte"
    raw = bytearray(images.read_bytes())
    if damage == "magic":
        raw[2:4] = b"\x09\x03"
        images.write_bytes(bytes(raw))
    elif damage == "truncated":
        images.write_bytes(bytes(raw[:-100]))
    elif damage == "size":
        write_idx(images, np.zeros((12, 32, 32), np.uint8), gz=False)
    else:
        write_idx(folder / "train-labels-idx1-ubyte", np.zeros(11, np.uint8), gz=False)
    with pytest.raises(DatasetNotFoundError) as err:
        datasets._load_fashion()
    assert "damaged" in str(err.value) and "\n" not in str(err.value)


def test_read_idx_rejects_garbage_gzip(tmp_path):
    bad = tmp_path / "x-idx3-ubyte.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a readable IDX"):
        read_idx(bad, 3)


def test_mnist_from_a_generated_npz(isolated, monkeypatch):
    folder = isolated / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(folder / "mnist.npz",
             x_train=rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 20, dtype=np.uint8),
             x_test=rng.integers(0, 255, (6, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, 6, dtype=np.uint8))
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    data = datasets._load_mnist()
    assert data.x_train.shape == (20, 28, 28) and data.class_names == tuple("0123456789")


def test_mnist_corrupt_and_missing(isolated, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="MNIST_DATA_DIR"):
        datasets._load_mnist()
    folder = isolated / "mnist"
    folder.mkdir()
    np.savez(folder / "mnist.npz", x_train=np.zeros((3, 20, 20), np.uint8),
             y_train=np.zeros(3), x_test=np.zeros((1, 28, 28)), y_test=np.zeros(1))
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    with pytest.raises(DatasetNotFoundError, match="expected"):
        datasets._load_mnist()


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="`name`"):
        datasets.load_dataset("cifar10")


def test_subset_views(small_data):
    assert small_data.x_train.shape == (2000, 28, 28) and small_data.x_test.shape == (500, 28, 28)


def test_a_failed_keras_download_is_logged_and_means_not_available(monkeypatch, caplog):
    import logging
    import sys
    import types

    def load_data():
        raise OSError("no route to host")

    keras = types.SimpleNamespace(datasets=types.SimpleNamespace(
        mnist=types.SimpleNamespace(load_data=load_data)))
    monkeypatch.setitem(sys.modules, "keras", keras)
    monkeypatch.delenv("STUDIO_NO_DOWNLOAD", raising=False)

    with caplog.at_level(logging.WARNING, logger="fmnist_core.data.datasets"):
        assert datasets._keras_download("mnist") is None

    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "mnist" in record.getMessage()
    assert record.exc_info[0] is OSError
