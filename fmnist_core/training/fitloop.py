"""The fit loop: build, train, validate, test and save one run, reporting into its job.

This is the only place that calls `model.fit`; every executor (a thread here, a worker
process, a Ray actor) runs it. A Keras callback writes the job's snapshot (throttled per
batch, complete per epoch), validates at each epoch's end from one prediction pass (loss,
accuracy and each class's accuracy), ends the run after the current batch on Stop, and
catches a network that does not learn: a loss that becomes NaN or explodes far above where
it started, or accuracy at chance after the first epoch.
"""

from __future__ import annotations

import collections
import math
import os
import time
import weakref
from typing import TYPE_CHECKING

import numpy as np

from fmnist_core.data import feed
from fmnist_core.data.datasets import load_dataset
from fmnist_core.words import duration, plural

if TYPE_CHECKING:
    from fmnist_core.training.job import TrainingJob

BATCH_UPDATES_PER_SECOND = 5.0
EVAL_BATCH_SIZE = 1000
# The running loss this many times above its start (and above ln(classes)) has exploded.
EXPLODED_LOSS_FACTOR = 25.0
# Accuracy below this many times chance (1 / classes) after an epoch: nothing was learnt.
CHANCE_FACTOR = 1.5
# The ETA is shown once the pace has been measured for this long after the first steps
# (which include tracing).
STEADY_SECONDS = 2.0
STEADY_STEPS = 5
# Fewer validation or test images than this cannot tell learning from guessing; a first
# epoch of fewer steps may not have moved the network far enough yet (its batch norm
# statistics have settled, `model.batch_norm_momentum`; its weights may not have).
MIN_JUDGED_IMAGES = 100
MIN_JUDGED_STEPS = 100
# Epoch checkpoints per run besides epoch 0 (seed-cnn: 3.5 MB each); a long run keeps every k-th.
MAX_CHECKPOINTS = 12


def train(job: TrainingJob) -> None:
    """Trains `job.spec` on its data and ends the job with a final status."""
    import keras

    from fmnist_core.nets import estimate, precision
    from fmnist_core.nets.device import device_info
    from fmnist_core.nets.anatomy import describe
    from fmnist_core.nets.model import (build_model, compile_model, copy_trained, fit_labels,
                                        with_test_flip)

    if job.stop_requested:
        job.finish("stopped", "Stopped before training began.")
        return
    info = device_info()
    try:
        policy = precision.training_policy(info)
    except ValueError as err:  # the server's setting, told as it is
        job.finish("failed", f"{err} Training did not start.")
        return
    device = f"{info['device']} ({info['detail']}{precision.label(policy)})"
    job.update(device=device)
    job.store_fields(status="running", device=device, backend=info["backend"], pid=os.getpid())
    data = job.dataset or load_dataset(job.spec.dataset)
    x_train, y_train = data.x_train[: job.limit_train], data.y_train[: job.limit_train]
    x_test, y_test = data.x_test[: job.limit_test], data.y_test[: job.limit_test]
    fit_xy, val_xy = split_validation(x_train, y_train, job.spec.validation_split)
    keras.utils.set_random_seed(job.spec.seed)
    steps = math.ceil(len(fit_xy[0]) / job.spec.batch_size)
    model = compile_model(build_model(job.spec, data.num_classes), job.spec,
                          steps_per_epoch=steps)
    # `model` is float32: it is validated, tested, saved and inspected. It also trains,
    # unless the arithmetic is bfloat16 (fmnist_core.nets.precision): then a twin built from the
    # same spec and the same starting weights trains, and hands its weights over each epoch.
    trainer = model
    if policy != "float32":
        trainer = compile_model(build_model(job.spec, data.num_classes, dtype=policy),
                                job.spec, steps_per_epoch=steps)
        trainer.set_weights(model.get_weights())
    guess = estimate.for_spec(job.spec, len(fit_xy[0]), 0 if val_xy is None else len(val_xy[0]),
                              device=device, store=job.store, policy=policy)
    job.update(estimate=guess.epoch_seconds, estimate_prepare=guess.prepare_seconds)
    job.store_fields(params=int(model.count_params()), estimate_seconds=guess.epoch_seconds,
                     estimate_factor=guess.factor)
    # the model a student gets, validated and tested as it will answer: with a test-time
    # flip, the same layers looking twice (their weights are the ones being trained)
    answering = with_test_flip(model) if job.spec.test_flip else model
    progress = _progress_callback(job, n_fit=len(fit_xy[0]), validation=val_xy,
                                  num_classes=data.num_classes, guess=guess,
                                  model=model, answering=answering)
    # the weights it starts from, before the first batch: epoch 0 of the replay
    save_checkpoint(job, model, 0)
    job.update(message="Training.")
    fit_started = time.perf_counter()
    args, kwargs = feed.training_input(fit_xy[0], fit_labels(job.spec, fit_xy[1],
                                                             data.num_classes),
                                       job.spec.batch_size, seed=job.spec.seed)
    trainer.fit(*args, epochs=job.spec.epochs, callbacks=[progress], verbose=0, **kwargs)
    train_seconds = time.perf_counter() - fit_started
    if trainer is not model:
        copy_trained(trainer, model)
    seen = progress.images_seen
    flops = describe(job.spec, num_classes=data.num_classes)["train_flops_per_image"]
    rate = flops * seen / train_seconds if seen else None
    job.update(train_seconds=train_seconds)
    job.store_fields(train_seconds=train_seconds, flops_per_second=rate)
    if progress.diverged:
        job.finish("diverged", progress.diverged)
        return
    stopped = job.stop_requested and not progress.target_reached
    job.update(message="Evaluating on the test set" + (" (the model as it was when it "
               "stopped)." if stopped else "."))
    trained, model = model, answering
    # one prediction pass, as validation: the plain cross-entropy of the true class, also
    # for a run trained with smoothed labels (whose training loss cannot reach 0)
    scores, _ = validate(model, x_test, y_test, data.num_classes)
    test_loss, test_accuracy = scores["val_loss"], scores["val_accuracy"]
    job.update(test_loss=test_loss, test_accuracy=test_accuracy)
    job.store_fields(test_loss=test_loss, test_accuracy=test_accuracy)
    if (not stopped and len(y_test) >= MIN_JUDGED_IMAGES
            and test_accuracy < CHANCE_FACTOR / data.num_classes):
        job.finish("diverged", _did_not_learn("test", test_accuracy, data.num_classes,
                                              job.spec.learning_rate))
        return
    try:
        path = job.store.write_model_file(job.run_id, model)
    except OSError as err:
        reason = getattr(err, "strerror", None) or str(err)
        job.finish("failed", f"Training finished but the model could not be saved ({reason}); "
                   "free some disk space or check STUDIO_HOME.")
        return
    job.update(model_path=str(path))
    keep_last_checkpoint(job, trained, progress)
    job.update(message="Fitting the check for unusual inputs.")
    fit_unusual_input_check(job, model, fit_xy, val_xy[0] if val_xy is not None else x_test)
    job.store_fields(model_path=str(path))
    if stopped:
        epoch, batches = progress.stopped_at or (job.snapshot()["epoch"], None)
        at = f", at batch {batches} of {progress.steps}" if batches else ""
        when = f"in epoch {epoch} of {job.spec.epochs}{at}"
        if progress.time_up:
            when = (f"after {duration(job.time_limit)} of training, the longest a run may "
                    f"train on this server, {when}")
        job.finish("stopped", f"Stopped {when}; the model as it was then is saved and "
                   "tested.")
    else:
        job.finish("completed", progress.target_reached
                   or f"Finished {plural(progress.epochs_done, 'epoch')}.")


# model → its uncompiled twin, for writing checkpoints without the optimizer's state
_WEIGHTS_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch:03d}.weights.h5"


def keeps_checkpoint(epoch: int, epochs: int) -> bool:
    """Whether the weights after `epoch` are kept: always the starting weights (epoch 0);
    every epoch of a short run; for a long one every k-th, always the first and the last
    (about MAX_CHECKPOINTS)."""
    every = math.ceil(epochs / MAX_CHECKPOINTS)
    return epoch in (0, 1, epochs) or epoch % every == 0


def save_checkpoint(job: TrainingJob, model, epoch: int) -> None:
    """The weights after `epoch` (0: before the first batch), beside the model (the epoch
    scrubber replays them): the layers' weights only, a third of what `model.save_weights`
    writes with Adam's two moments (seed-cnn: 3.5 MB an epoch instead of 10.4 MB)."""
    try:
        twin = _WEIGHTS_TWINS.get(model)
        if twin is None:
            import keras

            # an uncompiled copy of the network: it has no optimizer to write
            twin = _WEIGHTS_TWINS[model] = keras.Model.from_config(model.get_config())
        twin.set_weights(model.get_weights())
        job.store.write_run_file(job.run_id, checkpoint_name(epoch), twin.save_weights)
    except OSError as err:  # a full disk costs the replay of this epoch, not the run
        reason = getattr(err, "strerror", None) or str(err)
        what = "starting weights" if epoch == 0 else f"weights of epoch {epoch}"
        job.update(store_error=f"The {what} could not be kept ({reason}).")


def keep_last_checkpoint(job: TrainingJob, model, progress) -> None:
    """A run that ended early (its target reached, or a Stop after an epoch) keeps the
    weights of its last complete epoch too; after a partial epoch the model file itself
    holds the weights as they were when it stopped."""
    last = progress.epochs_done
    if last and progress.stopped_at is None and last not in progress.checkpointed:
        save_checkpoint(job, model, last)


def fit_unusual_input_check(job: TrainingJob, model, fit_xy, held_out) -> None:
    """Fits the out-of-distribution score (`fmnist_core.explain.ood`) beside the model, so Predict
    can warn that a drawing or photo looks unlike the training images."""
    from fmnist_core.explain import ood

    try:
        fitted = ood.fit(model, *fit_xy, held_out)
        job.store.write_run_file(job.run_id, ood.FILE_NAME, fitted.save)
    except (ValueError, OSError, np.linalg.LinAlgError):
        pass  # too few images, or no disk: Predict then shows no unusual-input cue


def _did_not_learn(which: str, accuracy: float, num_classes: int, learning_rate: float) -> str:
    if learning_rate >= 0.01:
        advice = "is probably too high; try 0.001"
    elif learning_rate <= 1e-4:
        advice = "may be too small; try 0.001"
    else:
        advice = "looks reasonable, so try the adam optimizer, or more filters and dense units"
    return (f"The network did not learn: its {which} accuracy is {accuracy:.1%}, what "
            f"guessing gets with {num_classes} classes. The learning rate ({learning_rate:g}) "
            f"{advice}.")


def _progress_callback(job: TrainingJob, n_fit: int,
                       validation: tuple[np.ndarray, np.ndarray] | None, num_classes: int,
                       guess, model, answering):
    """The Keras callback that reports into `job`; built here so keras loads lazily.
    `model` is the float32 model the run keeps: the one training (the callback's
    `self.model`), or the one a bfloat16 twin hands its weights to at each epoch's end.
    `answering` is the model validation asks: `model`, or its test-time flip."""
    import keras

    spec = job.spec
    chance = CHANCE_FACTOR / num_classes

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = max(1, math.ceil(n_fit / spec.batch_size))
            self.diverged: str | None = None
            self.target_reached: str | None = None
            self.stopped_at: tuple[int, int] | None = None  # (epoch, batches) of a Stop
            self.epochs_done = 0
            self.images_seen = 0
            self.first_loss: float | None = None
            self.val_seconds: float | None = None
            self.recent = collections.deque(maxlen=50)  # (time, images seen) per call
            self.checkpointed: set[int] = set()
            # (seconds, batches) of the first epoch's first call, which also traces the step
            self.first_call: tuple[float, int] | None = None
            self.time_up = False  # stopped at the job's time limit

        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()
            self.last_point = 0.0
            self.steady_from: float | None = None
            job.update(batches_per_epoch=self.steps)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_t0 = time.perf_counter()
            self.epoch = epoch + 1
            self.batches = 0
            job.update(epoch=epoch + 1, batch=0)

        def on_train_batch_end(self, batch, logs=None):
            # `batch` is the last step of this call: with steps_per_execution > 1 one call
            # trains several batches, and Keras numbers the epoch's last call as if full
            batch = min(batch, self.steps - 1)
            self.batches = batch + 1
            now = time.perf_counter()
            epoch = self.epoch
            self.images_seen = self.epochs_done * n_fit + min(n_fit, self.batches
                                                              * spec.batch_size)
            self.recent.append((now, self.images_seen))
            if self.first_call is None:
                self.first_call = (now - self.epoch_t0, self.batches)
            steps_done = (epoch - 1) * self.steps + self.batches
            if (job.time_limit is not None and not job.stop_requested
                    and now - self.t0 > job.time_limit):
                self.time_up = True  # the longest a run may train: stopped as by Stop
                job.stop()
            stop = job.stop_requested
            with job._lock:
                job._state["steps_done"] = steps_done
                if stop and job._state["stop_seen_at_step"] is None:
                    job._state["stop_seen_at_step"] = steps_done
            if stop:
                self.model.stop_training = True
            loss = float(logs.get("loss", float("nan"))) if logs else float("nan")
            if self._check_loss(loss, epoch, batch):
                return
            if self.steady_from is None and steps_done >= STEADY_STEPS:
                self.steady_from = now
            last = self.batches == self.steps
            if now - self.last_point < 1.0 / BATCH_UPDATES_PER_SECOND and not last:
                return
            self.last_point = now
            accuracy = float(logs.get("accuracy", float("nan")))
            rate = self._rate()
            job.add_batch_point(
                (epoch - 1 + self.batches / self.steps, loss, accuracy), batch=self.batches,
                elapsed=now - self.t0, images_per_second=rate, eta=self._eta(now, rate, epoch))

        def _check_loss(self, loss: float, epoch: int, batch: int) -> bool:
            """Stops a run whose loss became NaN or exploded; True if it did."""
            if self.first_loss is None and math.isfinite(loss):
                self.first_loss = loss
            start = max(self.first_loss or 0.0, math.log(num_classes))
            if math.isfinite(loss) and loss <= EXPLODED_LOSS_FACTOR * start:
                return False
            what = (f"became {loss}" if not math.isfinite(loss) else
                    f"exploded to {loss:,.4g} (it started at {self.first_loss:.3g})")
            self.diverged = (
                f"The loss {what} at epoch {epoch}, batch {batch + 1}: the learning rate "
                f"({spec.learning_rate:g}) is too high for this network; try 0.001.")
            self.model.stop_training = True
            return True

        def _prepare_seconds(self, training: float) -> float | None:
            """What preparing the training step (tracing) added to the first epoch: its first
            call's time beyond the pace of the calls after it; None when the epoch had no
            later call to measure that pace on."""
            if self.first_call is None or self.batches <= self.first_call[1]:
                return None
            first, batches = self.first_call
            per_batch = (training - first) / (self.batches - batches)
            return max(0.0, first - batches * per_batch)

        def _rate(self) -> float | None:
            if len(self.recent) < 2:
                return None
            (t0, seen0), (t1, seen1) = self.recent[0], self.recent[-1]
            return (seen1 - seen0) / (t1 - t0) if t1 > t0 else None

        def _eta(self, now: float, rate: float | None, epoch: int) -> float | None:
            """Seconds left, once the pace is steady: the images still to train at the
            recent pace, plus the validation passes still to come."""
            if (rate is None or self.steady_from is None
                    or now - self.steady_from < STEADY_SECONDS):
                return None
            left_images = spec.epochs * n_fit - self.images_seen
            val_each = self.val_seconds if self.val_seconds is not None else guess.val_seconds
            return left_images / rate + (spec.epochs - epoch + 1) * val_each

        def on_epoch_end(self, epoch, logs=None):
            if self.diverged:
                return
            logs = {k: float(v) for k, v in (logs or {}).items()}
            complete = self.batches == self.steps
            if complete and self.model is not model:
                model.set_weights(self.model.get_weights())
            per_class = None
            if validation is not None and complete and not job.stop_requested:
                # validation runs here rather than through fit(validation_split=…), so a
                # Stop skips it and the worker ends right after the current batch
                job.update(message="Measuring validation accuracy.")
                t0 = time.perf_counter()
                scores, per_class = validate(answering, *validation, num_classes)
                self.val_seconds = time.perf_counter() - t0
                job.update(message="Training.")
                logs.update(scores)
            seconds = time.perf_counter() - self.epoch_t0
            row = {"epoch": epoch + 1, "seconds": seconds, "complete": complete,
                   "batches": self.batches, "position": epoch + self.batches / self.steps,
                   "class_accuracy": per_class, **logs}
            if per_class is not None:
                row["val_seconds"] = self.val_seconds
            if epoch == 0:
                row["prepare_seconds"] = self._prepare_seconds(
                    seconds - (row.get("val_seconds") or 0.0))
            if complete:
                self.epochs_done = epoch + 1
            else:
                self.stopped_at = (epoch + 1, self.batches)
            job.add_history(row)
            job.write(job.store.add_epoch, job.run_id, epoch + 1, row, seconds,
                      complete=complete, batches=self.batches, class_accuracy=per_class)
            job.publish_progress(force=True)
            if not complete:
                return
            if keeps_checkpoint(epoch + 1, spec.epochs):
                save_checkpoint(job, model, epoch + 1)
                self.checkpointed.add(epoch + 1)
            measured = row.get("val_accuracy", row.get("accuracy"))
            which = "validation" if "val_accuracy" in row else "training"
            judged = len(validation[1]) if "val_accuracy" in row else n_fit
            if (epoch == 0 and measured is not None and measured < chance
                    and judged >= MIN_JUDGED_IMAGES and self.steps >= MIN_JUDGED_STEPS
                    and not job.stop_requested):
                self.diverged = _did_not_learn(f"{which}", measured, num_classes,
                                               spec.learning_rate).replace(
                    "accuracy is", "accuracy after the first epoch is")
                self.model.stop_training = True
                return
            target = spec.target_accuracy
            if target is not None and measured is not None and measured >= target:
                self.target_reached = (
                    f"Reached the target: {which} accuracy {measured:.1%} ≥ {target:.1%} at "
                    f"epoch {epoch + 1}, so training stopped early.")
                self.model.stop_training = True

    return Progress()


def validate(model, x_val: np.ndarray, y_val: np.ndarray, num_classes: int
             ) -> tuple[dict[str, float], list[float]]:
    """Loss, accuracy and each class's accuracy from one prediction pass.

    Returns:
        ({"val_loss", "val_accuracy"}, per-class accuracy as a list of `num_classes`
        floats, NaN for a class absent from `y_val`).
    """
    probs = np.asarray(feed.predict(model, x_val, EVAL_BATCH_SIZE))
    y = np.asarray(y_val, dtype=np.int64)
    # the clip matches Keras's sparse categorical cross-entropy on probabilities
    picked = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    right = probs.argmax(axis=1) == y
    counts = np.bincount(y, minlength=num_classes)
    hits = np.bincount(y[right], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    scores = {"val_loss": float(-np.log(picked).mean()), "val_accuracy": float(right.mean())}
    return scores, [float(v) for v in per_class]


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float
                     ) -> tuple[tuple[np.ndarray, np.ndarray],
                                tuple[np.ndarray, np.ndarray] | None]:
    """Holds out the last `fraction` of the images, as Keras's `validation_split` does.

    Returns:
        ((x_fit, y_fit), (x_val, y_val)), or ((x, y), None) when nothing is held out.
    """
    n_val = int(len(x) * fraction)
    if n_val == 0:
        return (x, y), None
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])
