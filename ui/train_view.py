"""The Train page's pieces: the preview of a spec, the progress line and a run's result."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fmnist_core import inspection
from fmnist_core.estimate import Estimate
from fmnist_core.spec import ModelSpec
from ui import figures

LAYER_COLUMNS = {"name": "Layer", "type": "Type", "output_shape": "Output shape",
                 "params": "Parameters", "flops": "Work per image (MFLOP)"}


def duration(seconds: float | None) -> str:
    """"0.4 s", "45 s", "3 min 20 s", "1 h 05 min"."""
    if seconds is None:
        return "–"
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


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
    c2.metric("Training work per image", f"{info['train_flops_per_image'] / 1e6:.1f} MFLOP",
              help="Multiply-adds of one image's forward and backward pass.")
    c1, c2 = st.columns(2)
    c1.metric("Estimated time per epoch", f"≈ {duration(guess.epoch_seconds)}",
              help=f"{n_fit:,} training images per epoch plus the validation pass, at "
                   f"{guess.basis}.")
    c2.metric(f"All {spec.epochs} epoch(s)", f"≈ {duration(guess.total_seconds)}",
              help="Every epoch, preparing the first one, and the test at the end.")
    with st.expander("Layers: output shapes, parameters and work"):
        st.dataframe(layer_table(info), hide_index=True, width="stretch", key="layer_table")
        st.caption("Work per image counts multiply-adds of one forward pass; training costs "
                   "about three times as much (forward, then backward).")
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


def time_split(snap: dict) -> str | None:
    """Where the training time went: "Of the 27 s, the 8 epochs took 14 s; the other 13 s
    went to ...", or None while nothing is measured."""
    epochs = [row["seconds"] for row in snap["history"] if row.get("seconds") is not None]
    elapsed = snap.get("elapsed")
    if not epochs or not elapsed or elapsed < sum(epochs):
        return None
    count = f"the {len(epochs)} epochs" if len(epochs) > 1 else "the epoch"
    return (f"Of the {duration(elapsed)}, {count} took {duration(sum(epochs))}; the other "
            f"{duration(elapsed - sum(epochs))} went to loading the images, building the "
            "network, testing it on the test images and saving it.")


def epoch_figures(snap: dict) -> tuple[float | None, float | None]:
    """(seconds per epoch measured, the estimate it is compared with): the mean of the
    complete epochs after the first, against the estimated epoch; with one complete epoch,
    that epoch against the estimated epoch plus the preparation the first epoch adds."""
    complete = [row for row in snap["history"] if row.get("complete", True)]
    estimate = snap.get("estimate")
    if len(complete) > 1:
        return sum(row["seconds"] for row in complete[1:]) / (len(complete) - 1), estimate
    if not complete:
        return None, estimate
    if estimate:
        estimate += snap.get("estimate_prepare") or 0.0
    return complete[0]["seconds"], estimate


def result(snap: dict) -> None:
    """The run's outcome in one sentence, then its figures."""
    status = snap["status"]
    sentence = snap["message"] + (f" {snap['store_error']}" if snap.get("store_error") else "")
    {"completed": st.success, "stopped": st.warning,
     "cancelled": st.info}.get(status, st.error)(sentence)
    measured, estimated = epoch_figures(snap)
    if snap["test_accuracy"] is None and measured is None:
        return
    c1, c2 = st.columns(2)
    c3, c4 = st.columns(2)
    if snap["test_accuracy"] is not None:
        c1.metric("Test accuracy", f"{snap['test_accuracy']:.2%}")
        c2.metric("Test loss", f"{snap['test_loss']:.3f}")
    c3.metric("Training time", duration(snap["elapsed"]))
    if measured is not None:
        c4.metric("Time per epoch", duration(measured),
                  delta=f"estimated {duration(estimated)}" if estimated else None,
                  delta_color="off",
                  help="Measured on this run after its first epoch, which also prepares "
                       "the training step, next to the estimate made before it started. A "
                       "run of one epoch is compared with the estimate of that epoch and its "
                       "preparation.")
    if (split := time_split(snap)) is not None:
        st.caption(split)


def class_progress(snap: dict, class_names: tuple[str, ...]) -> None:
    """Which classes the network learns first and last: classes × epochs, growing live."""
    matrix, epochs = inspection.class_progress(snap["history"])
    if not epochs:
        return
    st.plotly_chart(figures.class_epochs(matrix, epochs, class_names), width="stretch",
                    key="class_epochs")
    hardest = inspection.learned_last(matrix, class_names)
    said = " and ".join(f"{name} ({acc:.0%})" for name, acc in hardest)
    st.caption("Each row is one class of the validation images, each column an epoch: the "
               "brighter, the more of that class the network gets right. Classes that look "
               f"alike are usually learned last; here so far: {said}.")
