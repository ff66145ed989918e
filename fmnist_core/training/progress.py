"""The progress callback: what a run reports into its job while `model.fit` trains it.

Per batch (throttled to BATCH_UPDATES_PER_SECOND) it writes the running loss and accuracy,
the pace and the time left; per epoch, one prediction pass over the validation images (loss,
accuracy and each class's accuracy), a row in the run store and the epoch's checkpoint. It
ends the run after the current batch on Stop or at the job's time limit, and catches a
network that does not learn: a loss that becomes NaN or explodes far above where it
started, or accuracy at chance after the first epoch. A target accuracy ends it early.

`Progress` holds the logic; `progress_callback` mixes in Keras's Callback when a run builds
it, so importing this module does not load Keras.
"""

from __future__ import annotations

import collections
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from fmnist_core.training import checkpoints, validation

if TYPE_CHECKING:
    from fmnist_core.nets.estimate import Estimate
    from fmnist_core.training.job import TrainingJob

BATCH_UPDATES_PER_SECOND = 5.0
# The running loss this many times above its start (and above ln(classes)) has exploded.
EXPLODED_LOSS_FACTOR = 25.0
# The ETA is shown once the pace has been measured for this long after the first steps
# (which include tracing).
STEADY_SECONDS = 2.0
STEADY_STEPS = 5
# The pace is measured over this many recent batch calls.
PACE_CALLS = 50


def progress_callback(job: TrainingJob, n_fit: int,
                      validation_xy: tuple[np.ndarray, np.ndarray] | None, num_classes: int,
                      guess: Estimate, model, answering):
    """A Keras callback (a `Progress`) reporting into `job`; Keras loads here, not before.

    Args:
        job: the run it reports into.
        n_fit: images trained on per epoch.
        validation_xy: (x_val, y_val) scored at each epoch's end, or None.
        num_classes: the dataset's classes.
        guess: the estimate made before training (its validation seconds stand in for
            the ETA until a validation pass has been timed).
        model: the float32 model the run keeps: the one training (the callback's
            `self.model`), or the one a bfloat16 twin hands its weights to at each epoch's end.
        answering: the model validation asks: `model`, or its test-time flip.
    """
    import keras

    class KerasProgress(Progress, keras.callbacks.Callback):
        pass

    return KerasProgress(job, n_fit, validation_xy, num_classes, guess, model, answering)


class Progress:
    """The callback's logic (see `progress_callback`); `self.model` is the training model,
    set by Keras."""

    def __init__(self, job: TrainingJob, n_fit: int,
                 validation_xy: tuple[np.ndarray, np.ndarray] | None, num_classes: int,
                 guess: Estimate, model, answering):
        super().__init__()
        self.job, self.spec, self.n_fit = job, job.spec, n_fit
        self.validation_xy, self.num_classes, self.guess = validation_xy, num_classes, guess
        self.kept_model, self.answering = model, answering
        self.steps = max(1, math.ceil(n_fit / self.spec.batch_size))
        self.diverged: str | None = None
        self.target_reached: str | None = None
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batches) of a Stop
        self.time_up = False  # stopped at the job's time limit
        self.epochs_done = 0
        self.images_seen = 0
        self.first_loss: float | None = None
        self.val_seconds: float | None = None
        self.recent = collections.deque(maxlen=PACE_CALLS)  # (time, images seen) per call
        self.checkpointed: set[int] = set()
        # (seconds, batches) of the first epoch's first call, which also traces the step
        self.first_call: tuple[float, int] | None = None

    # -- Keras's hooks -------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self.t0 = time.perf_counter()
        self.last_point = 0.0
        self.steady_from: float | None = None
        self.job.update(batches_per_epoch=self.steps)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_t0 = time.perf_counter()
        self.epoch = epoch + 1
        self.batches = 0
        self.job.update(epoch=epoch + 1, batch=0)

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the last step of this call: with steps_per_execution > 1 one call
        # trains several batches, and Keras numbers the epoch's last call as if full
        batch = min(batch, self.steps - 1)
        now = time.perf_counter()
        steps_done = self._count_batches(batch + 1, now)
        self._stop_at_time_limit(now)
        if self.job.note_steps(steps_done):
            self.model.stop_training = True
        loss = float(logs.get("loss", float("nan"))) if logs else float("nan")
        if self._check_loss(loss, self.epoch, batch):
            return
        if self.steady_from is None and steps_done >= STEADY_STEPS:
            self.steady_from = now
        last = self.batches == self.steps
        if now - self.last_point < 1.0 / BATCH_UPDATES_PER_SECOND and not last:
            return
        self.last_point = now
        self._publish_point(now, loss, float(logs.get("accuracy", float("nan"))))

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged:
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        complete = self.batches == self.steps
        if complete and self.model is not self.kept_model:
            self.kept_model.set_weights(self.model.get_weights())
        per_class = self._validate(logs) if complete else None
        row = self._epoch_row(epoch, logs, complete, per_class)
        self._record(epoch, row, complete, per_class)
        if not complete:
            return
        if checkpoints.keeps_checkpoint(epoch + 1, self.spec.epochs):
            checkpoints.save_checkpoint(self.job, self.kept_model, epoch + 1)
            self.checkpointed.add(epoch + 1)
        self._judge(epoch, row)

    # -- each batch ----------------------------------------------------------------------

    def _count_batches(self, batches: int, now: float) -> int:
        """Notes `batches` trained of this epoch; returns the batches of the whole run."""
        self.batches = batches
        self.images_seen = self.epochs_done * self.n_fit + min(
            self.n_fit, batches * self.spec.batch_size)
        self.recent.append((now, self.images_seen))
        if self.first_call is None:
            self.first_call = (now - self.epoch_t0, batches)
        return (self.epoch - 1) * self.steps + batches

    def _stop_at_time_limit(self, now: float) -> None:
        """Past the job's time limit, the longest a run may train: stopped as by Stop."""
        job = self.job
        if (job.time_limit is not None and not job.stop_requested
                and now - self.t0 > job.time_limit):
            self.time_up = True
            job.stop()

    def _check_loss(self, loss: float, epoch: int, batch: int) -> bool:
        """Stops a run whose loss became NaN or exploded; True if it did."""
        if self.first_loss is None and math.isfinite(loss):
            self.first_loss = loss
        start = max(self.first_loss or 0.0, math.log(self.num_classes))
        if math.isfinite(loss) and loss <= EXPLODED_LOSS_FACTOR * start:
            return False
        what = (f"became {loss}" if not math.isfinite(loss) else
                f"exploded to {loss:,.4g} (it started at {self.first_loss:.3g})")
        self.diverged = (
            f"The loss {what} at epoch {epoch}, batch {batch + 1}: the learning rate "
            f"({self.spec.learning_rate:g}) is too high for this network; try 0.001.")
        self.model.stop_training = True
        return True

    def _publish_point(self, now: float, loss: float, accuracy: float) -> None:
        """One point of the curves, with the pace and the time left."""
        rate = self._rate()
        self.job.add_batch_point(
            (self.epoch - 1 + self.batches / self.steps, loss, accuracy), batch=self.batches,
            elapsed=now - self.t0, images_per_second=rate, eta=self._eta(now, rate))

    def _rate(self) -> float | None:
        """Images per second over the recent calls; None before two of them."""
        if len(self.recent) < 2:
            return None
        (t0, seen0), (t1, seen1) = self.recent[0], self.recent[-1]
        return (seen1 - seen0) / (t1 - t0) if t1 > t0 else None

    def _eta(self, now: float, rate: float | None) -> float | None:
        """Seconds left, once the pace is steady: the images still to train at the
        recent pace, plus the validation passes still to come."""
        if (rate is None or self.steady_from is None
                or now - self.steady_from < STEADY_SECONDS):
            return None
        left_images = self.spec.epochs * self.n_fit - self.images_seen
        val_each = self.val_seconds if self.val_seconds is not None else self.guess.val_seconds
        return left_images / rate + (self.spec.epochs - self.epoch + 1) * val_each

    # -- each epoch ----------------------------------------------------------------------

    def _validate(self, logs: dict[str, float]) -> list[float] | None:
        """Scores the validation images into `logs`; returns each class's accuracy (None
        without validation images, or after a Stop)."""
        if self.validation_xy is None or self.job.stop_requested:
            return None
        # validation runs here rather than through fit(validation_split=…), so a Stop
        # skips it and the worker ends right after the current batch
        self.job.update(message="Measuring validation accuracy.")
        t0 = time.perf_counter()
        scores, per_class = validation.validate(self.answering, *self.validation_xy,
                                                self.num_classes)
        self.val_seconds = time.perf_counter() - t0
        self.job.update(message="Training.")
        logs.update(scores)
        return per_class

    def _epoch_row(self, epoch: int, logs: dict[str, float], complete: bool,
                   per_class: list[float] | None) -> dict[str, Any]:
        """The epoch's row of the history: its metrics, timings and where it ended."""
        seconds = time.perf_counter() - self.epoch_t0
        row = {"epoch": epoch + 1, "seconds": seconds, "complete": complete,
               "batches": self.batches, "position": epoch + self.batches / self.steps,
               "class_accuracy": per_class, **logs}
        if per_class is not None:
            row["val_seconds"] = self.val_seconds
        if epoch == 0:
            row["prepare_seconds"] = self._prepare_seconds(
                seconds - (row.get("val_seconds") or 0.0))
        return row

    def _prepare_seconds(self, training: float) -> float | None:
        """What preparing the training step (tracing) added to the first epoch: its first
        call's time beyond the pace of the calls after it; None when the epoch had no
        later call to measure that pace on."""
        if self.first_call is None or self.batches <= self.first_call[1]:
            return None
        first, batches = self.first_call
        per_batch = (training - first) / (self.batches - batches)
        return max(0.0, first - batches * per_batch)

    def _record(self, epoch: int, row: dict[str, Any], complete: bool,
                per_class: list[float] | None) -> None:
        """The epoch's row into the job's history and the run store."""
        if complete:
            self.epochs_done = epoch + 1
        else:
            self.stopped_at = (epoch + 1, self.batches)
        job = self.job
        job.add_history(row)
        job.write(job.store.add_epoch, job.run_id, epoch + 1, row, row["seconds"],
                  complete=complete, batches=self.batches, class_accuracy=per_class)
        job.publish_progress(force=True)

    def _judge(self, epoch: int, row: dict[str, Any]) -> None:
        """Ends the run after a first epoch at chance (it did not learn), or once it has
        reached its target accuracy."""
        validated = "val_accuracy" in row
        measured = row.get("val_accuracy", row.get("accuracy"))
        which = "validation" if validated else "training"
        judged = len(self.validation_xy[1]) if validated else self.n_fit
        if (epoch == 0 and measured is not None
                and validation.at_chance(measured, self.num_classes)
                and judged >= validation.MIN_JUDGED_IMAGES
                and self.steps >= validation.MIN_JUDGED_STEPS
                and not self.job.stop_requested):
            self.diverged = validation.did_not_learn(
                which, measured, self.num_classes, self.spec.learning_rate).replace(
                "accuracy is", "accuracy after the first epoch is")
            self.model.stop_training = True
            return
        target = self.spec.target_accuracy
        if target is not None and measured is not None and measured >= target:
            self.target_reached = (
                f"Reached the target: {which} accuracy {measured:.1%} ≥ {target:.1%} at "
                f"epoch {epoch + 1}, so training stopped early.")
            self.model.stop_training = True
