"""Ray executor: each run trains in its own named actor on a Ray cluster.

The studio server is a Ray driver. For a claimed run it starts a detached actor named
`run-<run id>` in the studio's namespace, asking for `STUDIO_RAY_CPUS_PER_RUN` CPUs and
`STUDIO_RAY_GPUS_PER_RUN` GPUs. The actor (`fmnist_core.training.ray_actor`) runs the one fit
loop on a `TrainingJob` whose store records its calls: no database and no STUDIO_HOME on the
nodes, only a numbered log of the store calls and the finished `.keras` in a temporary folder.
Each node loads Fashion-MNIST itself; the studio's code travels once per server start as a
Ray package (`py_modules`, 0.3 MB).

Each run's actor is relayed home by a thread of the server (`fmnist_core.training.ray_relay`):
its progress into the job the pages read, its store calls into the real store, and at the
end its model. A restarted server finds the actors of its runs again by name (`adopt`)
and relays them again from the start.

    executor = RayExecutor("head.school.lan:6379")   # ClusterUnavailableError: one sentence
    queue = JobQueue(RunStore(), executor=executor)
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fmnist_core.training.cluster import ClusterUnavailableError  # before Ray: its settings

import ray  # noqa: E402
from ray.exceptions import RayError  # noqa: E402

from fmnist_core.store.records import ray_node  # noqa: E402
from fmnist_core.training.job import TrainingJob  # noqa: E402
from fmnist_core.training.ray_actor import ORPHAN_KEEP_SECONDS, RunTrainer  # noqa: E402
from fmnist_core.training.ray_relay import PLACEMENT_SECONDS, Relay  # noqa: E402

_LOGGER = logging.getLogger(__name__)

NAMESPACE = "fmnist-studio"
# Connecting: a TCP probe of host:port first (Ray itself retries an absent head forever).
PROBE_SECONDS = 3.0
CONNECT_SECONDS = 60.0
# The sidebar's description of the cluster (its nodes and GPUs) is this old at most.
WHERE_SECONDS = 10.0
# A node's manager that has not taken a connection within this long is not counted there.
NODE_PROBE_SECONDS = 1.0
# The first line of an error that kept the cluster from starting a run, shortened to this
# many characters in the student's sentence.
ERROR_CHARS = 200


def actor_name(run_id: str) -> str:
    return f"run-{run_id}"


class RunTrainerOnCluster(RunTrainer):
    """A run's trainer on a node of the cluster, which knows which node that is."""

    def node(self) -> str:
        return ray_node(ray.get_runtime_context().get_node_id(),
                        ray.util.get_node_ip_address())


_RemoteTrainer = ray.remote(RunTrainerOnCluster)  # the actor class; each run is one of it


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
            _LOGGER.warning("Connecting to the Ray cluster at %s failed.", address,
                            exc_info=True)
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


def _answers(node: dict[str, Any]) -> bool:
    """Whether a node's manager (its raylet) takes a TCP connection now: a killed one
    refuses at once, a machine gone from the network does not answer within
    NODE_PROBE_SECONDS."""
    try:
        socket.create_connection((node["NodeManagerAddress"], int(node["NodeManagerPort"])),
                                 NODE_PROBE_SECONDS).close()
    except (OSError, KeyError, TypeError, ValueError):
        return False
    return True


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
            samples = job.store.timing_samples(host=None)  # the node picks its own host's
        except Exception:  # noqa: BLE001 - the estimate then uses its reference figures
            _LOGGER.warning("The timing samples could not be read for run %s; its estimate "
                            "uses the reference figures.", job.run_id, exc_info=True)
            samples = []
        payload = {"spec": job.spec, "owner": job.owner, "run_id": job.run_id,
                   "limit_train": job.limit_train, "limit_test": job.limit_test,
                   "time_limit": job.time_limit, "timing_samples": samples,
                   "cpus": self.cpus_per_run,
                   "keep_seconds": self.keep_seconds,
                   "log_level": logging.getLogger("fmnist_core").getEffectiveLevel()}
        try:
            actor = _RemoteTrainer.options(
                name=actor_name(job.run_id), namespace=self.namespace, lifetime="detached",
                num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_restarts=0,
            ).remote(payload)
        except Exception as err:  # noqa: BLE001 - e.g. the name taken, the cluster away
            _LOGGER.exception("The Ray cluster could not start run %s; it fails.", job.run_id)
            first_line = (str(err).splitlines() or [""])[0][:ERROR_CHARS]
            job.finish("failed", f"The cluster could not start this training "
                       f"({type(err).__name__}: {first_line}).")
            job.end()
            return
        self._relay_in_thread(job, actor, placed=False)

    def adopt(self, job: TrainingJob, run: dict[str, Any]) -> bool:
        """Relays `job`, the run of a gone server (`run`, its row), again from its actor;
        False when the actor is gone too."""
        try:
            actor = ray.get_actor(actor_name(run["id"]), namespace=self.namespace)
        except (ValueError, RayError):
            return False
        job.update(status="running", queue_position=0,
                   started_at=run.get("started") or time.time(),
                   message="Picking this training up again on the cluster.")
        self._relay_in_thread(job, actor, placed=True)
        return True

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

    # -- the cluster's description and the relays ----------------------------------------

    def _describe(self) -> str:
        # the head marks a node dead only after its health checks have failed for a while
        # (a minute and more); a node whose manager does not take a connection is counted
        # out at once
        nodes = [node for node in ray.nodes() if node.get("Alive") and _answers(node)]
        gpus = sum(node.get("Resources", {}).get("GPU", 0) for node in nodes)
        gpus_text = f"{gpus:g} GPU" + ("" if gpus == 1 else "s")
        return f"the Ray cluster ({len(nodes)} node{'' if len(nodes) == 1 else 's'}, " \
               f"{gpus_text})"

    def _refresh_where(self) -> None:
        try:
            self._where = self._describe()
        except Exception:  # noqa: BLE001 - the cluster away: the last description stays
            _LOGGER.warning("The Ray cluster could not be described; the sidebar keeps its "
                            "last description.", exc_info=True)
        finally:
            self._where_lock.release()

    def _relay_in_thread(self, job: TrainingJob, actor: Any, placed: bool) -> None:
        relay = Relay(job, actor, placed, self.placement_seconds)
        threading.Thread(target=relay.run, name=f"ray-{job.run_id}",
                         daemon=True).start()
