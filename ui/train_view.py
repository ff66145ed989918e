"""The Train page's pieces: the preview of a spec, the progress line and a run's result."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fmnist_core.explain import inspection
from fmnist_core.nets.estimate import Estimate
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store.line_times import Place, start_words
from fmnist_core.words import duration, percent, plural
from ui import charts
from ui.figures import learning

LAYER_COLUMNS = {"name": "Layer", "type": "Type", "output_shape": "Output shape",
                 "params": "Parameters", "flops": "Work per image (MFLOP)"}


def layer_table(info: dict) -> pd.DataFrame:
    """The layer table with readable headers and numbers."""
    table = pd.DataFrame(info["layers"])
    table["output_shape"] = table["output_shape"].map(lambda s: " × ".join(map(str, s)))
    table["params"] = table["params"].map(lambda v: f"{v:,}")
    table["flops"] = table["flops"].map(lambda v: f"{v / 1e6:,.2f}" if v else "–")
    return table.rename(columns=LAYER_COLUMNS)


def preview(spec: ModelSpec, info: dict, guess: Estimate, n_fit: int) -> None:
    """What the spec builds and what it will cost, before Start."""
    st.markdown(f"**{spec.summary(with_output=True)}**")
    # two by two: four metrics in a row do not fit a projector's 1024 pixels
    c1, c2 = st.columns(2)
    c1.metric("Parameters", f"{info['total_params']:,}")
    c2.metric("Training work per image", f"{info['train_flops_per_image'] / 1e6:.1f} MFLOP")
    c1, c2 = st.columns(2)
    c1.metric("Estimated time per epoch", f"≈ {duration(guess.epoch_seconds)}")
    c2.metric(f"All {plural(spec.epochs, 'epoch')}" if spec.epochs > 1 else "The whole run",
              f"≈ {duration(guess.total_seconds)}")
    # one caption rather than a help button per figure: each button is a stop for the
    # keyboard on the way to Start
    st.caption(f"Work: floating-point operations of one image's forward and backward pass (a "
               f"multiply-add counts as two). An epoch is {plural(n_fit, 'training image')} "
               f"and the validation pass, at {guess.basis}; "
               f"{'all epochs add' if spec.epochs > 1 else 'the whole run adds'} preparing "
               f"the training step (≈ {duration(guess.prepare_seconds)}) and the test at the "
               "end.")
    # a switch, not an expander: the preview sits in the settings' expander
    if st.toggle("Show the layers: output shapes, parameters and work", key="show_layers"):
        st.dataframe(layer_table(info), hide_index=True, width="stretch", key="layer_table",
                     alt=f"The network's {plural(len(info['layers']), 'layer')}, each with "
                         "its type, output shape, parameters and work per image.")
        st.caption("Work per image counts the floating-point operations of one forward "
                   "pass (MFLOP: millions; a multiply-add counts as two); training costs about "
                   "three times as much (forward, then backward).")
        if spec.test_flip:
            st.caption("The test-time flip adds no layer: validation and the test show the "
                       "network each image and its mirror and average the two answers, so "
                       "they take twice as long.")


def progress_text(snap: dict) -> str:
    """"Epoch 2/5 · batch 120/422 · 1,830 images/s · about 1 min 05 s left"."""
    parts = [f"Epoch {snap['epoch']}/{snap['epochs']}",
             f"batch {snap['batch']}/{snap['batches_per_epoch']}"]
    if snap["images_per_second"]:
        parts.append(f"{snap['images_per_second']:,.0f} images/s")
    if snap["status"] == "running":
        parts.append(f"about {duration(snap['eta'])} left" if snap["eta"] is not None
                     else "measuring the pace…")
    return " · ".join(parts)


def queued(position: int, running: int, place: Place | None) -> str:
    """A waiting run's sentence: "Queued: starts in about 2 min (place 4). 3 waiting ahead
    of yours, 1 training now; it starts by itself when a slot is free." Without its place
    in the line (it has just left it), the start is left unsaid."""
    head = f"place {position}"
    if place is not None:
        position = place.place
        head = f"{start_words(place)} (place {position})"
    return (f"Queued: {head}. {position - 1} waiting ahead of yours, {running} training "
            "now; it starts by itself when a slot is free.")


def time_split(snap: dict) -> str | None:
    """Where the run's time went: "From Start to the result took 1 min 00 s: training 54 s,
    and 6 s went to ...", naming only what happened (a diverged run was neither tested nor
    saved); None while nothing is measured."""
    total, train = snap.get("elapsed"), snap.get("train_seconds")
    if not total or not train or total < train:
        return None
    rest = ["loading the images", "building the network"]
    if snap.get("test_accuracy") is not None:
        rest.append("testing it on the test images")
    if snap.get("model_path"):
        rest.append("saving it")
    done = ", ".join(rest[:-1]) + f" and {rest[-1]}"
    return (f"From Start to the result took {duration(total)}: training {duration(train)} "
            f"(every epoch and its validation), and the other {duration(total - train)} went "
            f"to {done}.")


def epoch_figures(snap: dict) -> tuple[float | None, float | None, str]:
    """(seconds per epoch measured, the estimate made before Start, what was measured), like
    with like: the estimate is the form's "time per epoch", which leaves out the preparing of
    the training step, so the measured epoch leaves it out too. That is the mean of the
    complete epochs after the first; with one complete epoch, that epoch less its measured
    preparation; where the preparation could not be told apart (an epoch of a single call),
    the epoch with it against the estimate with it."""
    complete = [row for row in snap["history"] if row.get("complete", True)]
    estimate = snap.get("estimate")
    if len(complete) > 1:
        measured = sum(row["seconds"] for row in complete[1:]) / (len(complete) - 1)
        return measured, estimate, "the mean of the epochs after the first"
    if not complete:
        return None, estimate, ""
    first = complete[0]
    if first.get("prepare_seconds") is not None:
        return (first["seconds"] - first["prepare_seconds"], estimate,
                f"the epoch without preparing the training step (which took "
                f"{duration(first['prepare_seconds'])})")
    if estimate:
        estimate += snap.get("estimate_prepare") or 0.0
    return first["seconds"], estimate, "the epoch with preparing the training step"


def against_estimate(measured: float, estimated: float) -> str:
    """The metric's delta: "-3.0 s against ≈ 17 s estimated"; a leading minus points its
    arrow down (faster than the estimate), none up (slower)."""
    difference = measured - estimated
    sign = "-" if difference < 0 else "+"
    return f"{sign}{duration(abs(difference))} against ≈ {duration(estimated)} estimated"


STOPPERS = {"owner": "you", "teacher": "your teacher"}


def outcome(snap: dict) -> str:
    """The run's ending as its owner reads it: the trainer's sentence, with who pressed Stop
    ("Stopped by your teacher in epoch 2 of 5, …"), which only the queue knows."""
    message = snap["message"]
    who = STOPPERS.get(snap.get("stopped_by"))
    if snap["status"] == "stopped" and who and message.startswith("Stopped "):
        message = f"Stopped by {who} " + message[len("Stopped "):]
    return message + (f" {snap['store_error']}" if snap.get("store_error") else "")


def result(snap: dict) -> None:
    """The run's outcome in one sentence, then its figures."""
    status = snap["status"]
    sentence = outcome(snap)
    {"completed": st.success, "stopped": st.warning,
     "cancelled": st.info}.get(status, st.error)(sentence)
    measured, estimated, how = epoch_figures(snap)
    if snap["test_accuracy"] is None and measured is None:
        return
    c1, c2 = st.columns(2)
    c3, c4 = st.columns(2)
    if snap["test_accuracy"] is not None:
        c1.metric("Test accuracy", percent(snap["test_accuracy"], 2))
        c2.metric("Test loss", f"{snap['test_loss']:.3f}")
    if snap.get("train_seconds"):
        c3.metric("Training time", duration(snap["train_seconds"]),
                  help="Every epoch of training and its validation pass; the same figure as "
                       "the Runs page's training time.")
    if measured is not None:
        c4.metric("Time per epoch", duration(measured),
                  delta=against_estimate(measured, estimated) if estimated else None,
                  delta_color="off",
                  help=f"Measured on this run: {how}; next to the estimate the form showed "
                       "before Start.")
    if (split := time_split(snap)) is not None:
        st.caption(split)


def class_progress(snap: dict, class_names: tuple[str, ...]) -> None:
    """Which classes the network learns first and last: classes × epochs, growing live."""
    matrix, epochs = inspection.class_progress(snap["history"])
    if not epochs:
        return
    charts.show(learning.class_epochs(matrix, epochs, class_names, height=460),
                key="class_epochs")
    what = ("Each row is one class of the validation images, each column an epoch: the "
            "brighter, the more of that class the network gets right.")
    if snap["status"] == "diverged":
        st.caption(f"{what} This network did not learn, so no class stands out: these figures "
                   "are what guessing gets.")
        return
    hardest = inspection.learned_last(matrix, class_names)
    said = " and ".join(f"{name} ({percent(acc, 0)})" for name, acc in hardest)
    st.caption(f"{what} Classes that look alike are usually learned last; here "
               f"{'so far' if snap['status'] == 'running' else 'at the end'}: {said}.")
