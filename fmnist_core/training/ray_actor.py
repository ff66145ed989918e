"""The node's side of a run on a Ray cluster: the actor's body and its stand-in run store.

`RunTrainer` is what `fmnist_core.training.ray_executor` makes a named, detached Ray actor
of, one per run. It trains its run in a thread from the moment it is created, with the one
fit loop (`fmnist_core.training.fitloop`), and answers the server's polls meanwhile. The fit
loop's store is a `RecordingStore`: nothing of the studio's STUDIO_HOME or database on the
node, only the store calls the fit loop made, numbered in order for the server to replay, and
the finished `.keras` in a temporary folder until the server has fetched it. Nothing here
imports Ray.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fmnist_core import logs
from fmnist_core.nets.device import CPUS_ENV
from fmnist_core.store.presence import HOST
from fmnist_core.training.job import TrainingJob

_LOGGER = logging.getLogger(__name__)

# An actor whose run has ended and that no server has asked for this long ends itself: a run
# whose server never came back keeps no CPU, GPU or memory of the cluster.
ORPHAN_KEEP_SECONDS = 1800.0
# How often an ended actor looks whether it has been left alone that long (at most).
WATCH_SECONDS = 30.0


class RecordingStore:
    """The run store's stand-in inside an actor: the store calls of the fit loop, numbered in
    order for the server to replay, and the finished model in a temporary folder.

    Args:
        folder: where `write_model_file` saves.
        samples: `RunStore.timing_samples()` of the server, for the epoch-time estimate.
    """

    def __init__(self, folder: Path, samples: list[dict[str, Any]] | None = None):
        self.folder = folder
        self._samples = samples or []
        self._lock = threading.Lock()
        self.records: list[tuple[int, str, tuple, dict]] = []  # (seq, method, args, kwargs)
        self._paces: dict[tuple[str, str], dict[str, Any]] = {}  # the node's, measured here

    def _record(self, method: str, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.records.append((len(self.records), method, args, kwargs))

    def since(self, seq: int) -> list[tuple[int, str, tuple, dict]]:
        with self._lock:
            return self.records[seq:]

    def update_run(self, run_id: str, **fields: Any) -> None:
        self._record("update_run", run_id, **fields)

    def add_epoch(self, *args: Any, **kwargs: Any) -> None:
        self._record("add_epoch", *args, **kwargs)

    def finish_run(self, run_id: str, status: str, **fields: Any) -> None:
        self._record("finish_run", run_id, status, **fields)

    def update_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        pass  # the server stores the snapshot it relays

    def timing_samples(self, limit: int = 20, host: str | None = HOST) -> list[dict[str, Any]]:
        """The server's finished runs (of this node's `host`, when given)."""
        return [s for s in self._samples if host is None or s.get("host") == host][:limit]

    def save_pace(self, device: str, kind: str, value: float, **kwargs: Any) -> None:
        """Keeps the node's measured pace for its own estimate, and records it for the
        server to keep under the node's host."""
        self._paces[(device, kind)] = {"device": device, "kind": kind, "value": value,
                                       "measured": time.time()}
        self._record("save_pace", device, kind, value, host=HOST)

    def paces(self, host: str = HOST) -> list[dict[str, Any]]:
        return sorted(self._paces.values(), key=lambda row: -row["measured"])

    def trainings_running(self, host: str = HOST, besides: str | None = None) -> int:
        return 0  # the cluster gives each run its own CPUs

    def model_file(self, run_id: str) -> Path:
        return self.folder / f"{run_id}.keras"

    def run_file(self, run_id: str, name: str) -> Path:
        return self.folder / f"{run_id}.{name}"

    def write_run_file(self, run_id: str, name: str, write: Any) -> Path:
        """Writes a file beside the model (an epoch's weights, the unusual-input check) in
        the temporary folder; the server fetches it when the run ends."""
        final = _write_atomic(self.run_file(run_id, name), write)
        self._record("write_run_file", run_id, name)
        return final

    def write_model_file(self, run_id: str, model: Any) -> Path:
        return _write_atomic(self.model_file(run_id), model.save)


def _write_atomic(final: Path, write: Any) -> Path:
    """`write(partial)`, then renamed to `final`; nothing partial remains on failure."""
    partial = final.with_name(f"partial.{final.name}")
    try:
        write(partial)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


class _NodeJob(TrainingJob):
    """The actor's job: it also keeps every batch point, unthinned, for the relay to take
    by index."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.point_log: list[tuple[float, float, float]] = []

    def add_batch_point(self, point: tuple[float, float, float], **fields: Any) -> None:
        with self._lock:
            self.point_log.append(point)
        super().add_batch_point(point, **fields)

    def points_since(self, index: int) -> list[tuple[float, float, float]]:
        """The batch points from the `index`-th on (those the server has not had yet)."""
        with self._lock:
            return self.point_log[index:]


class RunTrainer:
    """The actor's body: trains one run in a thread from the moment it is created and
    answers the server's polls meanwhile (Ray calls it as `ray.remote(RunTrainer)`)."""

    def __init__(self, payload: dict[str, Any]):
        os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        logs.configure(payload.get("log_level"))  # the server's level, into the node's log
        self.run_id = payload["run_id"]
        self.folder = Path(tempfile.mkdtemp(prefix=f"fmnist-{self.run_id}-"))
        self.store = RecordingStore(self.folder, payload.get("timing_samples"))
        self.job = _NodeJob(payload["spec"], payload["owner"], self.store,
                            limit_train=payload.get("limit_train"),
                            limit_test=payload.get("limit_test"),
                            time_limit=payload.get("time_limit"), run_id=self.run_id)
        self.cpus = payload.get("cpus", 1.0)
        # this process trains one run, with the CPUs the cluster gave it: its device line
        # says those (`fmnist_core.nets.device`)
        os.environ[CPUS_ENV] = f"{self.cpus:g}"
        self.job.node = self.node()
        self.keep_seconds = payload.get("keep_seconds", ORPHAN_KEEP_SECONDS)
        self.last_call = time.monotonic()
        threading.Thread(target=self._train, name="train", daemon=True).start()
        threading.Thread(target=self._watch, name="orphan-watch", daemon=True).start()

    def _train(self) -> None:
        try:
            _limit_threads(self.cpus)
            from fmnist_core.nets.device import device_info

            device_info()  # GPU memory growth on before anything else touches the GPU
        except Exception:  # noqa: BLE001 - the fit loop reports a broken backend itself
            _LOGGER.warning("The node could not set up its threads or GPU for run %s; the "
                            "fit loop goes on.", self.run_id, exc_info=True)
        from fmnist_core.training.pace_keeper import PaceKeeper

        # the run's estimate rests on the node's pace, measured now
        keeper = PaceKeeper(one_run=True)
        keeper.use(self.store)
        keeper.calibrate()
        self.job.run_here()

    def node(self) -> str:
        """Where this actor trains, for the run's `node`: this machine's host name here; the
        Ray actor (`fmnist_core.training.ray_executor`) says its Ray node's id and address."""
        return HOST

    def poll(self, records_from: int, points_from: int) -> dict[str, Any]:
        """What is new since the server's last poll, and the current snapshot."""
        self.last_call = time.monotonic()
        done = self.job.done  # read first: a done run's records are then all included
        state = self.job.snapshot()
        state.pop("batch_points", None)
        points = self.job.points_since(points_from)
        return {"records": self.store.since(records_from), "points": points, "state": state,
                "done": done}

    def stop(self) -> None:
        self.last_call = time.monotonic()
        self.job.stop()

    def model_bytes(self) -> bytes | None:
        self.last_call = time.monotonic()
        path = self.store.model_file(self.run_id)
        return path.read_bytes() if path.is_file() else None

    def run_file_bytes(self, name: str) -> bytes | None:
        self.last_call = time.monotonic()
        path = self.store.run_file(self.run_id, name)
        return path.read_bytes() if path.is_file() else None

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _watch(self) -> None:
        while True:
            time.sleep(min(WATCH_SECONDS, self.keep_seconds / 4))
            if self.job.done and time.monotonic() - self.last_call > self.keep_seconds:
                self.close()
                os._exit(0)


def _limit_threads(cpus: float) -> None:
    """TensorFlow would use every core of the node; the run asked the cluster for `cpus` of
    them, and classmates' runs train on the others."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    import tensorflow as tf

    threads = max(1, round(cpus))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # already initialised in this process
