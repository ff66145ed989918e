"""Ray executor: each run trains in its own named actor on a Ray cluster.

The studio server is a Ray driver. For a claimed run it starts a detached actor named
`run-<run id>` in the studio's namespace, asking for `STUDIO_RAY_CPUS_PER_RUN` CPUs and
`STUDIO_RAY_GPUS_PER_RUN` GPUs. The actor (`fmnist_core.training.ray_actor`) runs the one fit
loop on a `TrainingJob` whose store records its calls: no database and no STUDIO_HOME on the
nodes,
only a numbered log of the store calls and the finished `.keras` in a temporary folder.
Each node loads Fashion-MNIST itself; the studio's code travels once per server start as a
Ray package (`py_modules`, 0.3 MB).

A relay thread on the server polls the actor at the page's pace for what is new since its
last poll (store calls, batch points) and the current snapshot fields; it replays the calls
into the real store and the points into the job the pages read. A slow call keeps the last
snapshot. Stop is forwarded as a flag the fit loop's callback reads. At the end the server
fetches the model's bytes, stores them, replays the last calls and kills the actor.

A restarted server finds the actors of its runs again by name (`adopt`) and replays their
logs from the start: every replayed call is idempotent (`add_epoch` upserts, `update_run`
overwrites).

    executor = RayExecutor("head.school.lan:6379")   # ClusterUnavailableError: one sentence
    queue = JobQueue(RunStore(), executor=executor)
"""

from __future__ import annotations

import os

# A Ray driver exits when the cluster's head has been away for 60 s; the studio server is
# one, and its pages must outlive the cluster. It waits instead, and its runs fail with a
# sentence once their actors stay silent (SILENT_SECONDS).
os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(7 * 24 * 3600))

import logging  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import ray  # noqa: E402
from ray.exceptions import (ActorUnavailableError, GetTimeoutError, RayActorError,  # noqa: E402
                            RayError)

from fmnist_core.store.db import StoreUnavailableError  # noqa: E402
from fmnist_core.training.executors import ClusterUnavailableError  # noqa: E402
from fmnist_core.training.job import TrainingJob, failure_sentence  # noqa: E402
from fmnist_core.training.ray_actor import ORPHAN_KEEP_SECONDS, RunTrainer  # noqa: E402
from fmnist_core.words import plural  # noqa: E402

NAMESPACE = "fmnist-studio"
POLL_SECONDS = 0.5
# Connecting: a TCP probe of host:port first (Ray itself retries an absent head forever).
PROBE_SECONDS = 3.0
CONNECT_SECONDS = 60.0
MODEL_SECONDS = 300.0
# A run whose actor has not been placed on a node for this long fails (no node fits it), as
# does one whose actor has not answered for SILENT_SECONDS (a head restarted, a network cut).
PLACEMENT_SECONDS = 600.0
SILENT_SECONDS = 300.0
WHERE_SECONDS = 10.0
# Snapshot fields the server keeps for itself rather than taking from the actor.
SERVER_FIELDS = ("run_id", "queue_position", "started_at", "model_path", "batch_points")
NODE_LOST = ("The cluster node training this run went away (its machine stopped, lost the "
             "network or ran out of memory); start the training again.")


def actor_name(run_id: str) -> str:
    return f"run-{run_id}"


_RemoteTrainer = ray.remote(RunTrainer)  # the actor class; each run is one of it


def connect(address: str, namespace: str = NAMESPACE) -> None:
    """Connects this process to the cluster (once per process: later calls only check that
    the address answers).

    Raises:
        ClusterUnavailableError: the address is malformed, nothing answers there, or the
            cluster refused the connection (token authentication).
    """
    if address != "auto":
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ClusterUnavailableError(
                f"STUDIO_RAY_ADDRESS must be host:port or auto, received {address!r}.")
        try:
            socket.create_connection((host.strip("[]"), int(port)), PROBE_SECONDS).close()
        except OSError as err:
            reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
            raise ClusterUnavailableError(
                f"The Ray cluster at {address} cannot be reached ({reason}); start its head "
                "(docs/operations.md, \"A class on several machines\") or unset "
                "STUDIO_RAY_ADDRESS to train on this machine.") from None
        require_authentication(address)
    if ray.is_initialized():
        return
    import fmnist_core

    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, namespace=namespace, log_to_driver=False,
                     logging_level=logging.WARNING,
                     runtime_env={"py_modules": [str(Path(fmnist_core.__file__).parent)],
                                  "excludes": ["__pycache__"]})
        except Exception as err:  # noqa: BLE001 - said in one sentence below
            failure.append(err)

    # in a thread: a cluster that answers but never lets the driver in would hang this one
    connecting = threading.Thread(target=init, name="ray-connect", daemon=True)
    connecting.start()
    connecting.join(CONNECT_SECONDS)
    if connecting.is_alive() or failure:
        if failure:
            ray.shutdown()
        raise ClusterUnavailableError(
            f"The Ray cluster at {address} did not let the studio in; check that it runs Ray "
            f"{ray.__version__} on Python {sys.version_info.major}.{sys.version_info.minor} "
            "and that RAY_AUTH_MODE=token and its RAY_AUTH_TOKEN are set for the studio too.")
    if address == "auto":  # found on this machine: its head's address is known only now
        try:
            require_authentication(ray.get_runtime_context().gcs_address)
        except ClusterUnavailableError:
            ray.shutdown()
            raise


def require_authentication(address: str) -> None:
    """Refuses a cluster that lets anyone in: one call to its head without a token must be
    turned away. A Ray cluster runs any code it is sent, so one without token authentication
    is code execution on every node for anyone on the network.

    Raises:
        ClusterUnavailableError: the head answered a call that carried no token.
    """
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=PROBE_SECONDS)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNAUTHENTICATED:
                return  # as it should be
            raise ClusterUnavailableError(
                f"The Ray cluster at {address} did not answer ({err.code().name}); check that "
                "its head runs.") from None
    raise ClusterUnavailableError(
        f"The Ray cluster at {address} lets anyone in (it runs without token "
        "authentication), and a cluster runs any code it is sent: start its head and nodes "
        "with RAY_AUTH_MODE=token and the class's RAY_AUTH_TOKEN (docs/operations.md, \"A "
        "class on several machines\").")


def _env_float(name: str) -> float | None:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value and float(value) >= 0 else None
    except ValueError:
        return None


class RayExecutor:
    """Trains each job in a named, detached actor on a Ray cluster.

    Args:
        address: the head's `host:port`, or "auto" for a cluster started on this machine.
        cpus_per_run: CPUs each run asks for; default `$STUDIO_RAY_CPUS_PER_RUN` or 1.
        gpus_per_run: GPUs each run asks for (fractions share a card); default
            `$STUDIO_RAY_GPUS_PER_RUN`, else 1 when the cluster has GPUs and 0 otherwise.
        namespace: the Ray namespace of the studio's actors.
        placement_seconds: how long a run may wait for a node to start it before it fails.

    Raises:
        ClusterUnavailableError: the cluster cannot be used (one sentence).
    """

    name = "ray"
    adopts = True

    def __init__(self, address: str, cpus_per_run: float | None = None,
                 gpus_per_run: float | None = None, namespace: str = NAMESPACE,
                 placement_seconds: float = PLACEMENT_SECONDS):
        connect(address, namespace)
        self.address = address
        self.namespace = namespace
        self.placement_seconds = placement_seconds
        self.cpus_per_run = cpus_per_run if cpus_per_run is not None else (
            _env_float("STUDIO_RAY_CPUS_PER_RUN") or 1.0)
        if gpus_per_run is None:
            gpus_per_run = _env_float("STUDIO_RAY_GPUS_PER_RUN")
        if gpus_per_run is None:
            gpus_per_run = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        self.gpus_per_run = gpus_per_run
        self.keep_seconds = ORPHAN_KEEP_SECONDS
        self._where = self._describe()
        self._where_at = time.monotonic()
        self._where_lock = threading.Lock()

    # -- the executor seam ---------------------------------------------------------------

    def start(self, job: TrainingJob) -> None:
        job.mark_started()
        job.update(message="Waiting for the cluster to start this training.")
        try:
            samples = job.store.timing_samples()
        except Exception:  # noqa: BLE001 - the estimate then uses its reference figures
            samples = []
        payload = {"spec": job.spec, "owner": job.owner, "run_id": job.run_id,
                   "limit_train": job.limit_train, "limit_test": job.limit_test,
                   "time_limit": job.time_limit, "timing_samples": samples,
                   "cpus": self.cpus_per_run,
                   "keep_seconds": self.keep_seconds}
        try:
            actor = _RemoteTrainer.options(
                name=actor_name(job.run_id), namespace=self.namespace, lifetime="detached",
                num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_restarts=0,
            ).remote(payload)
        except Exception as err:  # noqa: BLE001 - e.g. the name taken, the cluster away
            job.finish("failed", f"The cluster could not start this training "
                       f"({type(err).__name__}: {str(err).splitlines()[0][:200]}).")
            job.end()
            return
        self._relay_in_thread(job, actor, placed=False)

    def adopt(self, run: dict[str, Any], queue: Any) -> TrainingJob | None:
        """The job of a run whose server is gone, relayed again from its actor; None when
        the actor is gone too."""
        try:
            actor = ray.get_actor(actor_name(run["id"]), namespace=self.namespace)
        except (ValueError, RayError):
            return None
        job = TrainingJob(run["spec"], run["owner"], queue.store, limit_train=queue.limit_train,
                          limit_test=queue.limit_test, time_limit=queue.limits.max_seconds,
                          on_done=queue._job_done, run_id=run["id"])
        job.update(status="running", queue_position=0,
                   started_at=run.get("started") or time.time(),
                   message="Picking this training up again on the cluster.")
        self._relay_in_thread(job, actor, placed=True)
        return job

    def where(self) -> str:
        """Where trainings run, for the sidebar; refreshed in the background, so a page
        never waits on the cluster."""
        if time.monotonic() - self._where_at > WHERE_SECONDS and self._where_lock.acquire(
                blocking=False):
            self._where_at = time.monotonic()
            threading.Thread(target=self._refresh_where, name="ray-where", daemon=True).start()
        return self._where

    def close(self) -> None:
        pass  # running relays keep their runs; a server that ends leaves them to the next

    # -- relaying ------------------------------------------------------------------------

    def _describe(self) -> str:
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        gpus = sum(node.get("Resources", {}).get("GPU", 0) for node in nodes)
        gpus_text = f"{gpus:g} GPU" + ("" if gpus == 1 else "s")
        return f"the Ray cluster ({len(nodes)} node{'' if len(nodes) == 1 else 's'}, " \
               f"{gpus_text})"

    def _refresh_where(self) -> None:
        try:
            self._where = self._describe()
        except Exception:  # noqa: BLE001 - the cluster away: the last description stays
            pass
        finally:
            self._where_lock.release()

    def _relay_in_thread(self, job: TrainingJob, actor: Any, placed: bool) -> None:
        relay = _Relay(job, actor, placed, self.placement_seconds)
        threading.Thread(target=relay.run, name=f"ray-{job.run_id}", daemon=True).start()


class _Relay:
    """Polls one actor until its run has ended; then stores the model and kills it."""

    def __init__(self, job: TrainingJob, actor: Any, placed: bool,
                 placement_seconds: float = PLACEMENT_SECONDS):
        self.job = job
        self.actor = actor
        self.placed = placed  # the actor has answered once (an adopted one has)
        self.placement_seconds = placement_seconds
        self.records = 0
        self.points = 0
        self.stop_sent = False
        self.save_failure: str | None = None
        self.files: list[str] = []  # run files the actor wrote, to fetch at the end
        self.finished = False  # the run's end is in the store

    def run(self) -> None:
        job = self.job
        pending = None
        heard = time.monotonic()
        try:
            while True:
                if job.stop_requested and not self.stop_sent:
                    self.actor.stop.remote()
                    self.stop_sent = True
                if pending is None:
                    pending = self.actor.poll.remote(self.records, self.points)
                ready, _ = ray.wait([pending], timeout=POLL_SECONDS)
                if not ready:
                    if self._silent_too_long(heard):
                        break
                    continue
                try:
                    news = ray.get(pending)
                except ActorUnavailableError:
                    news = None  # a blip between server and node: ask again
                pending = None
                if news is not None:
                    heard, self.placed = time.monotonic(), True
                    self._apply(news)
                    if news["done"]:
                        break
                self._pause(POLL_SECONDS)
        except RayActorError:
            self._fail(NODE_LOST)
        except Exception as err:  # noqa: BLE001 - any failure ends this run, not the server
            self._fail(failure_sentence(err))
        finally:
            self._release()
            job.end()

    def _fail(self, sentence: str) -> None:
        if not self.finished:  # not a run whose end was replayed already
            self.job.finish("failed", sentence)
            self.finished = True

    def _silent_too_long(self, heard: float) -> bool:
        quiet = time.monotonic() - heard
        if not self.placed and quiet > self.placement_seconds:
            waited = (plural(round(self.placement_seconds / 60), "minute")
                      if self.placement_seconds >= 60
                      else plural(round(self.placement_seconds), "second"))
            self._fail(f"No node of the Ray cluster started this training within "
                       f"{waited}: none has the CPUs and GPUs a "
                       "run asks for free; lower STUDIO_MAX_CONCURRENT_TRAININGS or "
                       "STUDIO_RAY_GPUS_PER_RUN, or add a node.")
            return True
        if self.placed and quiet > SILENT_SECONDS:
            self._fail(f"The Ray cluster has not answered for {SILENT_SECONDS / 60:.0f} "
                       "minutes, so this run was given up; check the cluster and start the "
                       "training again.")
            return True
        return False

    def _pause(self, seconds: float) -> None:
        """Waits until the next poll, or less when Stop is pressed meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.job.stop_requested and not self.stop_sent:
                return
            time.sleep(0.05)

    def _apply(self, news: dict[str, Any]) -> None:
        job = self.job
        self.records += len(news["records"])
        self.points += len(news["points"])
        for point in news["points"]:
            job.add_batch_point(tuple(point))
        job.update(**{k: v for k, v in news["state"].items() if k not in SERVER_FIELDS})
        for _seq, method, args, kwargs in news["records"]:
            self._replay(method, args, dict(kwargs))
        if news["done"]:
            job.publish_progress(force=True)

    def _replay(self, method: str, args: tuple, kwargs: dict[str, Any]) -> None:
        job = self.job
        # the run is the one this server claimed, whatever run id the node's records name: a
        # node that is not what it should be writes no other run's row
        args = (job.run_id, *args[1:])
        if method == "update_run":
            kwargs.pop("pid", None)  # a process of the node, not of this machine
            if kwargs.pop("model_path", None) is not None:
                self._store_model()
            if kwargs:
                job.write(job.store.update_run, *args, **kwargs)
        elif method == "write_run_file":
            self.files.append(args[1])  # fetched once, when the run ends
        elif method == "finish_run" and self.save_failure:
            self._fail(self.save_failure)
        elif method in ("add_epoch", "finish_run"):
            if method == "finish_run":
                self._store_files()
            job.write(getattr(job.store, method), *args, **kwargs)
            if method == "finish_run":
                self.finished = True

    def _store_files(self) -> None:
        """Fetches the files the run kept beside its model (epoch weights, the unusual-input
        check) from the actor; one that cannot be had costs only its own view."""
        job = self.job
        for name in dict.fromkeys(self.files):
            try:
                data = ray.get(self.actor.run_file_bytes.remote(name), timeout=MODEL_SECONDS)
                if data is not None:
                    job.store.save_run_file_bytes(job.run_id, name, data)
            except (OSError, GetTimeoutError) as err:
                job.update(store_error=f"The run's file {name} could not be kept ({err}).")
        self.files.clear()

    def _store_model(self) -> None:
        """Fetches the finished `.keras` from the actor and stores it as this run's model."""
        job = self.job
        data = ray.get(self.actor.model_bytes.remote(), timeout=MODEL_SECONDS)
        if data is None:
            self.save_failure = "Training finished but its model file was lost on the node."
            return
        try:
            path = job.store.save_model_bytes(job.run_id, data)
        except OSError as err:
            reason = getattr(err, "strerror", None) or str(err)
            self.save_failure = (f"Training finished but the model could not be saved "
                                 f"({reason}); free some disk space or check STUDIO_HOME.")
            return
        except StoreUnavailableError:  # the file is there; its row waits for the database
            path = job.store.model_file(job.run_id)
            job.write(job.store.update_run, job.run_id, model_path=str(path))
        job.update(model_path=str(path))

    def _release(self) -> None:
        """No detached actor outlives its run: its temporary folder goes, then the actor."""
        try:
            ray.get(self.actor.close.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - a dead or silent actor: killing it is enough
            pass
        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
