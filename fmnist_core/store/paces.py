"""Each machine's measured training pace, and the finished runs the estimate learns from.

A worker process, the CLI and a Ray actor time a few training steps of a small network
(`fmnist_core.training.calibration`) and keep what they measured here, one row per host,
device and kind (`paces`): how this machine's compute and per-batch overhead compare with
the reference CPU's, and the share of its CPU other work takes. Every server of a class reads
the same rows, so the Train form's estimate (`fmnist_core.nets.estimate`) knows the pace of
the machine that will train, without loading Keras. The runs that finished there refine it:
`timing_samples` gives their measured epochs against the estimate each run was given.

`PaceRows` is a part of `fmnist_core.store.runs.RunStore`, which gives it `db`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fmnist_core.nets.pace import HOST_WIDE
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store.db import Database
from fmnist_core.store.presence import HOST

_LOGGER = logging.getLogger(__name__)

# compute: the reference's per-image seconds (convolutions, dense layers, feature maps) are
# multiplied by this on the machine alone; overhead: its per-batch and per-call seconds;
# load: the share of the host's CPU (0..1) that work ahead of a training takes (pages, other
# programs, the hypervisor), measured over the last seconds.
KINDS = ("compute", "overhead", "load")


class PaceRows:
    """The store's pace rows and the timings of its finished runs."""

    db: Database

    def save_pace(self, device: str, kind: str, value: float, *, host: str = HOST,
                  measured: float | None = None) -> None:
        """Keeps the latest `value` of `kind` for `host` and `device` (a run's device line,
        or HOST_WIDE for the load).

        Raises:
            ValueError: an unknown kind, or a value that is not a finite number ≥ 0.
        """
        if kind not in KINDS:
            raise ValueError(f"Argument `kind` must be one of {KINDS}, received {kind!r}.")
        if not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"Argument `value` must be a finite number ≥ 0, received "
                             f"{value!r}.")
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO paces (host, device, kind, value, measured) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (host, device, kind) DO UPDATE SET value=excluded.value, "
                "measured=excluded.measured",
                (host, device, kind, float(value), measured if measured is not None
                 else time.time()))

    def paces(self, host: str = HOST) -> list[dict[str, Any]]:
        """Every pace row of `host` (device, kind, value, measured), latest first."""
        with self.db.transaction() as tx:
            return tx.all("SELECT device, kind, value, measured FROM paces WHERE host=? "
                          "ORDER BY measured DESC", (host,))

    def trainings_running(self, host: str = HOST, besides: str | None = None) -> int:
        """Runs training now on `host`, `besides` (a run id) not counted."""
        with self.db.transaction() as tx:
            return int(tx.value("SELECT COUNT(*) AS n FROM runs WHERE status='running' AND "
                                "host=? AND id<>?", (host, besides or "")))

    def timing_samples(self, limit: int = 20,
                       host: str | None = HOST) -> list[dict[str, Any]]:
        """Recent finished runs of `host` (None: of every host), newest first: what the
        epoch-time estimate learns from.

        Each sample has the run's `spec`, `device`, `host`, `estimate_seconds` and
        `estimate_factor` (as stored when it started), `paced` (whether that estimate rested
        on a measured pace), `epoch_seconds` (the mean of its complete epochs after the
        first; for a run of one complete epoch, that epoch less its preparation, the
        tracing its first call measured) and `epochs` (how many epochs that mean is of).
        Runs without a complete epoch are left out.
        """
        where = "WHERE r.status IN ('completed', 'stopped')"
        args: list[Any] = []
        if host is not None:
            where += " AND r.host = ?"
            args.append(host)
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT r.id, r.spec, r.device, r.host, r.estimate_seconds, "
                "r.estimate_factor, r.progress, s.later_seconds, s.later_epochs, "
                "s.first_seconds FROM (SELECT run_id, "
                "AVG(CASE WHEN epoch > 1 THEN seconds END) AS later_seconds, "
                "SUM(CASE WHEN epoch > 1 THEN 1 ELSE 0 END) AS later_epochs, "
                "MAX(CASE WHEN epoch = 1 THEN seconds END) AS first_seconds "
                "FROM epochs WHERE complete = 1 GROUP BY run_id) s "
                f"JOIN runs r ON r.id = s.run_id {where} ORDER BY r.created DESC LIMIT ?",
                (*args, limit))
        return [_sample(row) for row in rows]


def _sample(row: dict[str, Any]) -> dict[str, Any]:
    """A `timing_samples` row from the query's: the epoch seconds it stands for, and
    whether its estimate was paced (the run's last snapshot says)."""
    progress = _progress(row.pop("progress"), row["id"])
    first, later = row.pop("first_seconds"), row.pop("later_seconds")
    count = int(row.pop("later_epochs") or 0)
    seconds = later if count else None
    if not count and first is not None:
        history = progress.get("history") or [{}]
        prepare = history[0].get("prepare_seconds")
        # a lone epoch also traced the training step: without that measured, it says nothing
        # of the pace of later epochs
        if prepare is not None and first > prepare:
            seconds, count = first - prepare, 1
    return {**row, "spec": ModelSpec.from_dict(json.loads(row["spec"])),
            "paced": bool(progress.get("estimate_paced")), "epoch_seconds": seconds,
            "epochs": count}


def _progress(text: str | None, run_id: str) -> dict[str, Any]:
    try:
        progress = json.loads(text) if text else {}
    except ValueError:
        _LOGGER.warning("Run %s's last snapshot could not be read; its timing counts as "
                        "unpaced.", run_id, exc_info=True)
        return {}
    return progress if isinstance(progress, dict) else {}
