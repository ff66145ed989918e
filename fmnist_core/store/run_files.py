"""A run's files on disk: its `.keras` model and the files kept beside it, written atomically.

Files live in `$STUDIO_HOME/models` (a folder every server of a class mounts), named after
their run: `<run>.keras`, `<run>.epoch-003.weights.h5`, `<run>.ood.npz`. Each is written as
`<run>.<pid>.<host>.partial.<ending>` first and renamed once complete, so a reader never
sees half a model; a partial file whose save has ended without the rename (a killed
process) is removed when a server starts (`RunStore.recover`).

`RunFiles` is a part of `fmnist_core.store.runs.RunStore`, which gives it `models_dir` and
`update_run`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from fmnist_core.store.presence import HOST, pid_alive
from fmnist_core.store.records import RunNotFoundError, validate_run_id

RUN_FILE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)+$")
# The host as a file name part (a DNS label's characters and length).
_HOST_TAG = re.sub(r"[^A-Za-z0-9-]", "-", HOST)[:63] or "host"
# A partial file of this machine whose process is gone is removed at once; one of another
# machine sharing the models folder only once it is this old (no save takes that long).
PARTIAL_STALE_SECONDS = 3600.0


class RunFiles:
    """Model files and the files beside them; every write is atomic."""

    models_dir: Path
    update_run: Callable[..., None]

    def model_file(self, run_id: str) -> Path:
        return self.models_dir / f"{validate_run_id(run_id)}.keras"

    def run_files(self, run_id: str) -> list[Path]:
        """Every file of a run: the model and whatever is stored beside it."""
        validate_run_id(run_id)
        return sorted(self.models_dir.glob(f"{run_id}.*"))

    def run_file(self, run_id: str, name: str) -> Path:
        """A file kept beside a run's model, e.g. "ood.npz" or "epoch-003.weights.h5"."""
        if not RUN_FILE_PATTERN.match(name):
            raise ValueError(f"Argument `name` must be a plain file name, received {name!r}.")
        return self.models_dir / f"{validate_run_id(run_id)}.{name}"

    def delete_run_files(self, run_id: str) -> None:
        """Removes a run's model and every file beside it."""
        for path in self.run_files(run_id):
            path.unlink(missing_ok=True)

    def write_run_file(self, run_id: str, name: str, write: Callable[[Path], Any]) -> Path:
        """Writes a file beside a run's model atomically: `write(path)` fills a partial
        file, which is renamed once complete.

        Raises:
            OSError: the disk is full or the store is read-only; nothing partial remains.
        """
        return write_atomic(self.run_file(run_id, name), run_id, write)

    def save_run_file_bytes(self, run_id: str, name: str, data: bytes) -> Path:
        """A run file that was written elsewhere (a cluster node), stored atomically."""
        return self.write_run_file(run_id, name, lambda path: path.write_bytes(data))

    def checkpoints(self, run_id: str) -> dict[int, Path]:
        """The weights kept after each stored epoch, by epoch number."""
        found = {}
        for path in self.models_dir.glob(f"{validate_run_id(run_id)}.epoch-*.weights.h5"):
            number = path.name.split(".")[1][len("epoch-"):]
            if number.isdigit():
                found[int(number)] = path
        return dict(sorted(found.items()))

    def write_model_file(self, run_id: str, model: Any) -> Path:
        """Saves a model's file atomically: a partial file first, renamed once complete
        (the row's `model_path` is the caller's to write).

        Raises:
            OSError: the disk is full or the store is read-only; nothing partial remains.
        """
        return write_atomic(self.model_file(run_id), run_id, model.save)

    def save_model(self, run_id: str, model: Any) -> Path:
        """`write_model_file` and the row's `model_path`."""
        final = self.write_model_file(run_id, model)
        self.update_run(run_id, model_path=str(final))
        return final

    def save_model_bytes(self, run_id: str, data: bytes) -> Path:
        """Writes a model file that was trained elsewhere (a cluster node), atomically."""
        final = write_atomic(self.model_file(run_id), run_id,
                             lambda path: path.write_bytes(data))
        self.update_run(run_id, model_path=str(final))
        return final

    def load_model(self, run_id: str) -> Any:
        """Loads a stored model with `safe_mode=True` (no arbitrary code from the file).

        Raises:
            RunNotFoundError: the run has no model file here.
        """
        import keras

        import fmnist_core.nets.model  # noqa: F401 - registers the studio's own layers for loading

        path = self.model_file(run_id)
        if not path.is_file():
            raise RunNotFoundError(
                f"Run {run_id}'s model file is not in {self.models_dir}; it did not finish, or "
                "this server does not share the models folder (STUDIO_HOME).")
        return keras.models.load_model(path, safe_mode=True, compile=False)

    def remove_abandoned_partials(self) -> None:
        """Removes the half-written files of saves that ended without their rename."""
        for partial in self.models_dir.glob("*.partial.*"):
            if _partial_abandoned(partial):
                partial.unlink(missing_ok=True)


def private_folder(folder: Path) -> None:
    """Makes `folder` (and its parents) and lets only this user into it (0700): a folder of
    someone else's (a share mounted for several servers) is left as its owner set it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077:
        folder.chmod(0o700)


def write_atomic(final: Path, run_id: str, write: Callable[[Path], Any]) -> Path:
    """`write(partial)`, then the partial file renamed to `final`, readable by this user
    only (0600); nothing partial remains when `write` fails."""
    partial = _partial_file(final, run_id)
    try:
        write(partial)
        partial.chmod(0o600)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _partial_file(final: Path, run_id: str) -> Path:
    """`<run>.<pid>.<host>.partial.<the final name's ending>`, e.g. `….partial.keras`."""
    ending = final.name[len(run_id) + 1:]
    return final.with_name(f"{run_id}.{os.getpid()}.{_HOST_TAG}.partial.{ending}")


def _partial_abandoned(path: Path) -> bool:
    """Whether a partial file's save has ended without renaming it."""
    parts = path.name.split(".")  # run, pid, [host,] "partial", the final name's ending
    pid = int(parts[1]) if len(parts) > 3 and parts[1].isdigit() else None
    # files of older releases have no host
    host = parts[2] if len(parts) > 4 and parts[3] == "partial" else _HOST_TAG
    if host == _HOST_TAG:
        return not pid_alive(pid)
    try:
        return time.time() - path.stat().st_mtime > PARTIAL_STALE_SECONDS
    except OSError:
        return False
