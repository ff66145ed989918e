"""The fit loop: build, train, validate, test and save one run, reporting into its job.

This is the only place that calls `model.fit`; every executor (a thread here, a worker
process, a Ray actor) runs it. `train` goes through the stages: the device and its
arithmetic, the data and the models, the fit (its progress callback,
`fmnist_core.training.progress`, reports each batch and epoch and may end the run early), the
test, and the saved model with what Predict and Inspect need beside it (the last epoch's
checkpoint, the check for unusual inputs).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from fmnist_core.data import feed
from fmnist_core.data.datasets import Dataset, load_dataset
from fmnist_core.training import checkpoints, validation
from fmnist_core.training.progress import Progress, progress_callback
from fmnist_core.words import duration, plural

if TYPE_CHECKING:
    from fmnist_core.nets.estimate import Estimate
    from fmnist_core.training.job import TrainingJob

_LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass
class PreparedRun:
    """A run ready to fit: its data split and its models.

    `fit_xy`, `val_xy` (None when nothing is held out) and `test_xy` are each
    ((n, 28, 28) uint8 images, (n,) integer labels).
    `model` is float32: it is validated, tested, saved and inspected. It also trains, unless
    the arithmetic is bfloat16 (`fmnist_core.nets.precision`): then `trainer`, a twin built
    from the same spec and the same starting weights, trains and hands its weights over each
    epoch. `answering` is the model a student gets, validated and tested as it will answer:
    `model`, or its test-time flip (the same layers looking twice).
    """

    data: Dataset
    fit_xy: tuple[np.ndarray, np.ndarray]
    val_xy: tuple[np.ndarray, np.ndarray] | None
    test_xy: tuple[np.ndarray, np.ndarray]
    model: Any
    trainer: Any
    answering: Any
    guess: Estimate


def train(job: TrainingJob) -> None:
    """Trains `job.spec` on its data and ends the job with a final status."""
    if job.stop_requested:
        job.finish("stopped", "Stopped before training began.")
        return
    started = _start_on_device(job)
    if started is None:
        return
    run = _prepare(job, *started)
    progress = _fit(job, run)
    if progress.diverged:
        job.finish("diverged", progress.diverged)
        return
    stopped = job.stop_requested and not progress.target_reached
    if not _evaluate(job, run, stopped):
        return
    if not _save(job, run, progress):
        return
    job.finish(*_ending(job, progress, stopped))


def _start_on_device(job: TrainingJob) -> tuple[str, str] | None:
    """The device and the arithmetic the run trains with, noted in the job and the store.

    Returns:
        (the Keras dtype policy, the device line), or None once the job has failed: the
        server's precision setting cannot be used here.
    """
    from fmnist_core.nets import precision
    from fmnist_core.nets.device import device_info

    info = device_info()
    try:
        policy = precision.training_policy(info)
    except ValueError as err:  # the server's setting, told as it is
        job.finish("failed", f"{err} Training did not start.")
        return None
    device = precision.device_line(info, policy)
    job.update(device=device)
    job.store_fields(status="running", device=device, backend=info["backend"], pid=os.getpid(),
                     node=job.node)
    return policy, device


def _prepare(job: TrainingJob, policy: str, device: str) -> PreparedRun:
    """Loads and splits the data, builds the models and estimates the run's time."""
    import keras

    from fmnist_core.nets import estimate
    from fmnist_core.nets.model import build_model, compile_model, with_test_flip

    spec = job.spec
    data = job.dataset or load_dataset(spec.dataset)
    x_train, y_train = data.x_train[: job.limit_train], data.y_train[: job.limit_train]
    test_xy = data.x_test[: job.limit_test], data.y_test[: job.limit_test]
    fit_xy, val_xy = validation.split_validation(x_train, y_train, spec.validation_split)
    keras.utils.set_random_seed(spec.seed)
    steps = math.ceil(len(fit_xy[0]) / spec.batch_size)
    model = compile_model(build_model(spec, data.num_classes), spec, steps_per_epoch=steps)
    trainer = model
    if policy != "float32":
        trainer = compile_model(build_model(spec, data.num_classes, dtype=policy), spec,
                                steps_per_epoch=steps)
        trainer.set_weights(model.get_weights())
    guess = estimate.for_spec(spec, len(fit_xy[0]), 0 if val_xy is None else len(val_xy[0]),
                              device=device, store=job.store, policy=policy,
                              run_id=job.run_id)
    job.update(estimate=guess.epoch_seconds, estimate_prepare=guess.prepare_seconds,
               estimate_paced=guess.paced)
    job.store_fields(params=int(model.count_params()), estimate_seconds=guess.epoch_seconds,
                     estimate_factor=guess.factor)
    answering = with_test_flip(model) if spec.test_flip else model
    return PreparedRun(data, fit_xy, val_xy, test_xy, model, trainer, answering, guess)


def _fit(job: TrainingJob, run: PreparedRun) -> Progress:
    """Trains the run's epochs (the starting weights kept first: epoch 0 of the replay);
    returns the progress callback, which knows how the fit ended."""
    from fmnist_core.nets.anatomy import describe
    from fmnist_core.nets.model import copy_trained, fit_labels

    spec, data = job.spec, run.data
    progress = progress_callback(job, len(run.fit_xy[0]), run.val_xy, data.num_classes,
                                 run.guess, run.model, run.answering)
    checkpoints.save_checkpoint(job, run.model, 0)
    job.update(message="Training.")
    fit_started = time.perf_counter()
    args, kwargs = feed.training_input(
        run.fit_xy[0], fit_labels(spec, run.fit_xy[1], data.num_classes), spec.batch_size,
        seed=spec.seed)
    run.trainer.fit(*args, epochs=spec.epochs, callbacks=[progress], verbose=0, **kwargs)
    train_seconds = time.perf_counter() - fit_started
    if run.trainer is not run.model:
        copy_trained(run.trainer, run.model)
    seen = progress.images_seen
    flops = describe(spec, num_classes=data.num_classes)["train_flops_per_image"]
    rate = flops * seen / train_seconds if seen else None
    job.update(train_seconds=train_seconds)
    job.store_fields(train_seconds=train_seconds, flops_per_second=rate)
    return progress


def _evaluate(job: TrainingJob, run: PreparedRun, stopped: bool) -> bool:
    """Scores the answering model on the test images; False once the job has ended as
    "diverged" (a run that was not stopped and tests at chance)."""
    job.update(message="Evaluating on the test set" + (" (the model as it was when it "
               "stopped)." if stopped else "."))
    # one prediction pass, as validation: the plain cross-entropy of the true class, also
    # for a run trained with smoothed labels (whose training loss cannot reach 0)
    x_test, y_test = run.test_xy
    scores, _ = validation.validate(run.answering, x_test, y_test, run.data.num_classes)
    test_loss, test_accuracy = scores["val_loss"], scores["val_accuracy"]
    job.update(test_loss=test_loss, test_accuracy=test_accuracy)
    job.store_fields(test_loss=test_loss, test_accuracy=test_accuracy)
    if (not stopped and len(y_test) >= validation.MIN_JUDGED_IMAGES
            and validation.at_chance(test_accuracy, run.data.num_classes)):
        job.finish("diverged", validation.did_not_learn(
            "test", test_accuracy, run.data.num_classes, job.spec.learning_rate))
        return False
    return True


def _save(job: TrainingJob, run: PreparedRun, progress: Progress) -> bool:
    """Saves the answering model, the last epoch's weights and the check for unusual
    inputs; False once the job has failed: the model could not be written."""
    try:
        path = job.store.write_model_file(job.run_id, run.answering)
    except OSError as err:
        _LOGGER.exception("Run %s: the trained model could not be saved; the run fails.",
                          job.run_id)
        reason = getattr(err, "strerror", None) or str(err)
        job.finish("failed", f"Training finished but the model could not be saved ({reason}); "
                   "free some disk space or check STUDIO_HOME.")
        return False
    job.update(model_path=str(path))
    checkpoints.keep_last_checkpoint(job, run.model, progress.epochs_done,
                                     progress.stopped_at, progress.checkpointed)
    job.update(message="Fitting the check for unusual inputs.")
    held_out = run.val_xy[0] if run.val_xy is not None else run.test_xy[0]
    fit_unusual_input_check(job, run.answering, run.fit_xy, held_out)
    job.store_fields(model_path=str(path))
    return True


def _ending(job: TrainingJob, progress: Progress, stopped: bool) -> tuple[str, str]:
    """The final status of a saved run and its sentence."""
    if not stopped:
        return "completed", (progress.target_reached
                             or f"Finished {plural(progress.epochs_done, 'epoch')}.")
    epoch, batches = progress.stopped_at or (job.snapshot()["epoch"], None)
    at = f", at batch {batches} of {progress.steps}" if batches else ""
    when = f"in epoch {epoch} of {job.spec.epochs}{at}"
    if progress.time_up:
        when = (f"after {duration(job.time_limit)} of training, the longest a run may "
                f"train on this server, {when}")
    return "stopped", f"Stopped {when}; the model as it was then is saved and tested."


def fit_unusual_input_check(job: TrainingJob, model, fit_xy, held_out) -> None:
    """Fits the out-of-distribution score (`fmnist_core.explain.ood`) beside the model, so
    Predict can warn that a drawing or photo looks unlike the training images."""
    from fmnist_core.explain import ood

    try:
        fitted = ood.fit(model, *fit_xy, held_out)
        job.store.write_run_file(job.run_id, ood.FILE_NAME, fitted.save)
    except (ValueError, OSError, np.linalg.LinAlgError):
        # too few images, or no disk: the run keeps its model without the check
        _LOGGER.warning("Run %s: the check for unusual inputs could not be fitted or saved; "
                        "Predict shows no unusual-input cue for it.", job.run_id,
                        exc_info=True)
