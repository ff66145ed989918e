"""What a run's row is: its id's form, its statuses, its fields, and the row read back.

Every part of the run store (`fmnist_core.store.runs`, `queue`, `presence`, `run_files`)
speaks of runs in these terms, and the pages check a run's status against them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fmnist_core.nets.spec import ModelSpec

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
# The start of a run id that pages show (its first 6 characters) and a link may carry.
SHORT_ID_PATTERN = re.compile(r"^[0-9a-f]{6,11}$")
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("completed", "stopped", "failed", "diverged", "interrupted", "cancelled")
# The columns of `runs` that a trainer may write (`RunStore.update_run`); the others are the
# queue's (status changes through claims, owner, seq, stop requests).
RUN_FIELDS = (
    "status", "device", "backend", "params", "epochs_run", "train_seconds", "total_seconds",
    "best_val_accuracy", "test_loss", "test_accuracy", "stop_reason", "error", "model_path",
    "pid", "flops_per_second", "host", "server", "executor", "started", "finished",
    "estimate_seconds", "estimate_factor", "node",
)
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
# The `node` of a run trained on a Ray cluster (`ray_node`); other runs' is a host name.
RAY_NODE_PREFIX = "Ray node "
# Characters of a Ray node's id a page shows (`node_brief`): enough to find it among a
# class's nodes in `ray status` or the logs, short enough for a table's column.
NODE_ID_CHARS = 8


class RunNotFoundError(KeyError):
    """No run with that id; `str(err)` is a sentence."""

    def __str__(self) -> str:
        return str(self.args[0])


def validate_run_id(run_id: Any) -> str:
    """Returns the id if it has the store's form; ValueError otherwise (ids come from URLs)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise ValueError(
            f"Argument `run_id` must be 12 lowercase hex characters, received {run_id!r}."
        )
    return run_id


def check_fields(fields: dict[str, Any]) -> None:
    """Refuses a column a trainer may not write (a typo would be lost silently otherwise).

    Raises:
        ValueError: a name that is not in RUN_FIELDS.
    """
    unknown = set(fields) - set(RUN_FIELDS)
    if unknown:
        raise ValueError(f"Argument `fields` must name columns of {RUN_FIELDS}, received "
                         f"{sorted(unknown)}.")


def ray_node(node_id: str, address: str) -> str:
    """A Ray run's `node`: "Ray node <id> at <address>" (the id as Ray prints it)."""
    return f"{RAY_NODE_PREFIX}{node_id} at {address}"


def node_brief(node: str | None) -> str | None:
    """A run's `node` for a page: a host name as it is, a Ray node as its address and the
    start of its id ("127.0.0.1 (Ray node 3f2a9c1d)"); None for a run that never started."""
    if not node or not node.startswith(RAY_NODE_PREFIX):
        return node or None
    node_id, _, address = node[len(RAY_NODE_PREFIX):].partition(" at ")
    return f"{address} ({RAY_NODE_PREFIX}{node_id[:NODE_ID_CHARS]})"


def row_to_run(row: dict[str, Any], with_progress: bool = True) -> dict[str, Any]:
    """A `runs` row as callers use it: `spec` a ModelSpec, `progress` the live snapshot
    (a dict, or None before the first; left out unless `with_progress`), `stop_requested`
    a bool."""
    run = dict(row)
    run["spec"] = ModelSpec.from_dict(json.loads(run["spec"]))
    progress = run.pop("progress", None)
    if with_progress:
        run["progress"] = json.loads(progress) if progress else None
    run["stop_requested"] = bool(run.get("stop_requested"))
    return run
