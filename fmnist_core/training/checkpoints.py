"""Epoch checkpoints: the weights a run had after each epoch (0: before the first batch),
kept beside its model so the Inspect page's epoch scrubber can replay them
(`fmnist_core.explain.replay`). A long run keeps about MAX_CHECKPOINTS of them.
"""

from __future__ import annotations

import logging
import math
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fmnist_core.training.job import TrainingJob

_LOGGER = logging.getLogger(__name__)

# Epoch checkpoints per run besides epoch 0 (seed-cnn: 3.5 MB each); a long run keeps every k-th.
MAX_CHECKPOINTS = 12

# model → its uncompiled twin, for writing checkpoints without the optimizer's state; weak,
# so a finished run's models are freed with it
_WEIGHTS_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def checkpoint_name(epoch: int) -> str:
    """The file name of the weights after `epoch`, in the run's folder."""
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
        what = "starting weights" if epoch == 0 else f"weights of epoch {epoch}"
        _LOGGER.warning("Run %s: the %s could not be written; training goes on without "
                        "them.", job.run_id, what, exc_info=True)
        reason = getattr(err, "strerror", None) or str(err)
        job.update(store_error=f"The {what} could not be kept ({reason}).")


def keep_last_checkpoint(job: TrainingJob, model, epochs_done: int,
                         stopped_at: tuple[int, int] | None, checkpointed: set[int]) -> None:
    """A run that ended early (its target reached, or a Stop after an epoch) keeps the
    weights of its last complete epoch too; after a partial epoch (`stopped_at` is set)
    the model file itself holds the weights as they were when it stopped.

    Args:
        job: the run.
        model: the trained float32 model.
        epochs_done: complete epochs trained.
        stopped_at: (epoch, batches) where a Stop cut an epoch short, else None.
        checkpointed: the epochs whose weights were kept already.
    """
    if epochs_done and stopped_at is None and epochs_done not in checkpointed:
        save_checkpoint(job, model, epochs_done)
