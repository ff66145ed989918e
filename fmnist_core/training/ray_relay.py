"""The relay of one run on a Ray cluster: its actor's progress and store calls, brought home.

A relay thread on the server polls the run's actor (`fmnist_core.training.ray_actor`) at the
page's pace for what is new since its last poll (store calls, batch points) and the current
snapshot fields; it replays the calls into the real store and the points into the job the
pages read. A slow call keeps the last snapshot. Stop is forwarded as a flag the fit loop's
callback reads. At the end the relay fetches the model's bytes and the files kept beside
it, stores them, replays the last calls and kills the actor.

A restarted server relays an adopted actor's log from the start: every replayed call is
idempotent (`add_epoch` upserts, `update_run` overwrites).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import fmnist_core.training.cluster  # noqa: F401 - Ray's driver settings, before Ray

import ray  # noqa: E402
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError  # noqa: E402

from fmnist_core.store.db import StoreUnavailableError  # noqa: E402
from fmnist_core.training.job import TrainingJob, failure_sentence  # noqa: E402
from fmnist_core.words import plural  # noqa: E402

_LOGGER = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# Between polls, how often a pressed Stop is looked for (it is sent at once, not at the poll).
STOP_CHECK_SECONDS = 0.05
MODEL_SECONDS = 300.0
# An actor asked to clean up its temporary folder at the end gets this long to answer.
CLOSE_SECONDS = 10.0
# A run whose actor has not been placed on a node for this long fails (no node fits it), as
# does one whose actor has not answered for SILENT_SECONDS (a head restarted, a network cut).
PLACEMENT_SECONDS = 600.0
SILENT_SECONDS = 300.0
# Snapshot fields the server keeps for itself rather than taking from the actor.
SERVER_FIELDS = ("run_id", "queue_position", "started_at", "model_path", "batch_points")
NODE_LOST = ("The cluster node training this run went away (its machine stopped, lost the "
             "network or ran out of memory); start the training again.")


class Relay:
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
            _LOGGER.warning("Run %s's actor died; the run fails.", job.run_id, exc_info=True)
            self._fail(NODE_LOST)
        except Exception as err:  # noqa: BLE001 - any failure ends this run, not the server
            _LOGGER.exception("Relaying run %s from its actor failed; the run fails.",
                              job.run_id)
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
            time.sleep(STOP_CHECK_SECONDS)

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
        if method == "save_pace":  # the node's measured pace, kept under the node's host
            job.write(job.store.save_pace, *args, **kwargs)
            return
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
                _LOGGER.warning("Run %s's file %s could not be fetched or kept; its view is "
                                "lost.", job.run_id, name, exc_info=True)
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
            _LOGGER.exception("Run %s's model could not be saved; the run fails.", job.run_id)
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
            ray.get(self.actor.close.remote(), timeout=CLOSE_SECONDS)
        except Exception:  # noqa: BLE001 - a dead or silent actor: killing it is enough
            _LOGGER.warning("Run %s's actor did not clean up its folder; it is killed.",
                            self.job.run_id, exc_info=True)
        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            _LOGGER.warning("Run %s's actor could not be killed (it may be gone already).",
                            self.job.run_id, exc_info=True)
