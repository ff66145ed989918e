"""Where this server's (or the CLI's) trainings run, chosen from the environment.

A Ray cluster when `STUDIO_RAY_ADDRESS` names one (`fmnist_core.training.ray_executor`),
else this machine: worker processes (`executors.ProcessExecutor`), or threads when
`STUDIO_TRAINING_WORKER` is "thread". A cluster that was asked for but cannot be used is an
error, never a silent fallback to this machine.
"""

from __future__ import annotations

import importlib.util
import os

from fmnist_core.training.cluster import ClusterUnavailableError
from fmnist_core.training.executors import ProcessExecutor, ThreadExecutor


def executor_from_env(slots: int = 1, *, address: str | None = None, local=None):
    """Where this server's (or the CLI's) trainings run.

    Args:
        slots: training slots of the server (worker processes kept).
        address: a Ray cluster's `host:port` or "auto"; default `$STUDIO_RAY_ADDRESS`.
        local: the executor without a cluster; default worker processes, or threads when
            `$STUDIO_TRAINING_WORKER` is "thread".

    Raises:
        ClusterUnavailableError: a cluster was asked for but cannot be used; the studio
            never trains on this machine instead.
    """
    address = (address or os.environ.get("STUDIO_RAY_ADDRESS", "")).strip()
    if address:
        if importlib.util.find_spec("ray") is None:
            raise ClusterUnavailableError(
                f"Trainings should run on the Ray cluster at {address}, but Ray is not "
                "installed for this studio; pip install -r requirements-cluster.txt, or unset "
                "STUDIO_RAY_ADDRESS to train on this machine.")
        # imported only when asked for: Ray takes seconds to import and most studios lack it
        from fmnist_core.training.ray_executor import RayExecutor

        return RayExecutor(address)
    if local is not None:
        return local
    if os.environ.get("STUDIO_TRAINING_WORKER", "process") == "thread":
        return ThreadExecutor()
    return ProcessExecutor(slots)
