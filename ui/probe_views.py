"""When does it break: invariance probes on one sample (Inspect) and the warning for a
picture unlike the training images (Predict)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.explain import probes
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.words import percent
from ui import charts, resources
from ui.figures import classes, images, probing

# key → default of every probe control, for the reset button
DEFAULTS = {"probe_dx": 0, "probe_dy": 0, "probe_rotate": 0, "probe_scale": 1.0,
            "probe_noise": 0, "probe_blur": 0.0, "probe_invert": False, "probe_erase": False,
            "probe_erase_row": 10, "probe_erase_col": 10, "probe_erase_size": 8}
SWEEP_NOTE = ("Each dot is one copy of this picture, moved or turned, all classified in one "
              "batch; filled: the class is still the top answer, hollow: another class won. "
              "Pooling keeps the strongest answer of each small block, so a CNN with pooling "
              "usually shrugs off a shift of a pixel or two, but nothing taught it turned "
              "pictures, so its confidence tends to fall with the angle. Compare a run "
              "without pooling, or the dense baseline, to see the difference.")
UNUSUAL = {
    "Draw": "This picture looks unlike the training images, so the answer below may be a "
            "guess: draw one {thing} filling the frame, light on dark, like the pictures on "
            "the Data page.",
    "Upload": "This picture looks unlike the training images, so the answer below may be a "
              "guess: photograph one {thing} alone on a plain background, filling most of "
              "the frame.",
}
THINGS = {"fashion_mnist": "garment", "mnist": "digit"}
# Under the warning; the share is the run's own (older runs were fitted to let 95 pass).
UNUSUAL_NOTE = ("The check lets about {passed} of every 100 pictures like the training images "
                "pass without a warning, so it misses some odd pictures too. A stricter check "
                "would catch more of them, but would also warn about more ordinary pictures.")


def invariance(run_id: str, image: np.ndarray, label: int | None, probs: np.ndarray,
               names: tuple[str, ...], runs: dict[str, dict], labels: dict[str, str]) -> None:
    """The probe controls with the changed picture and its top 3 (rerun alone when a
    control moves), then the sweep of confidence against shift and rotation, optionally
    against a second run's.

    Args:
        run_id: the run probed.
        image: (28, 28) uint8, the chosen sample.
        label: its true class, or None for a drawing (the predicted class is followed).
        probs: (num_classes,) float32, the run's answer for the unchanged sample.
        names: the class names.
        runs: the finished runs by id (the second run is picked among them).
        labels: each run's label for the picker.
    """
    _probe(run_id, image, label, names)
    st.divider()
    follow = label if label is not None else int(probs.argmax())
    _sweep(run_id, image, follow, names, runs, labels)


def _reset() -> None:
    st.session_state.update(DEFAULTS)


@st.fragment
def _probe(run_id: str, image: np.ndarray, label: int | None, names: tuple[str, ...]) -> None:
    for name, value in DEFAULTS.items():
        st.session_state.setdefault(name, value)
    st.caption("Move, turn, blur or spoil the picture and watch the network's answer: only "
               "this part reruns as a slider moves.")
    shift_x, shift_y, turn, grow = st.columns(4)
    dx = shift_x.slider("Shift right (pixels)", -8, 8, key="probe_dx")
    dy = shift_y.slider("Shift down (pixels)", -8, 8, key="probe_dy")
    angle = turn.slider("Rotate (degrees, anticlockwise)", -45, 45, key="probe_rotate")
    scale = grow.slider("Scale", 0.5, 1.5, step=0.05, key="probe_scale")
    noisy, blurry, flip, erasing = st.columns(4, vertical_alignment="bottom")
    noise = noisy.slider("Noise (grey levels)", 0, 100, step=5, key="probe_noise")
    blur = blurry.slider("Blur (pixels)", 0.0, 3.0, step=0.25, key="probe_blur")
    invert = flip.toggle("Invert", key="probe_invert")
    erase = None
    if erasing.toggle("Erase a square", key="probe_erase"):
        row, col, size = st.columns(3)
        erase = (row.slider("Square's top row", 0, 27, key="probe_erase_row"),
                 col.slider("Square's left column", 0, 27, key="probe_erase_col"),
                 size.slider("Square's size (pixels)", 2, 14, key="probe_erase_size"))
    result = probes.probe(resources.model(run_id), image, shift=(dx, dy), rotate=float(angle),
                          scale=float(scale), noise=float(noise), blur=float(blur),
                          erase=erase, invert=invert)
    seen, answer = st.columns([1, 2])
    charts.show(images.image(result.image, "Changed · 28×28", height=300), key="probe_image",
                where=seen)
    probs = result.probabilities
    top = int(probs.argmax())
    charts.show(classes.probabilities(probs, names, top_k=3), key="probe_top3", where=answer)
    truth = (f"; the true class, {names[label]}, gets {percent(probs[label])}"
             if label is not None and label != top else "")
    answer.markdown(f"Changed, the network says **{names[top]}** ({percent(probs[top])})"
                    f"{truth}.")
    answer.button("Reset the changes", key="probe_reset", on_click=_reset)


def _sweep(run_id: str, image: np.ndarray, follow: int, names: tuple[str, ...],
           runs: dict[str, dict], labels: dict[str, str]) -> None:
    dataset = runs[run_id]["spec"].dataset
    others = [other for other in runs
              if other != run_id and runs[other]["spec"].dataset == dataset]
    if st.session_state.get("probe_compare") not in others:
        st.session_state.probe_compare = None
    compare = st.selectbox("Compare with another run (dashed)", [None, *others],
                           key="probe_compare", format_func=lambda r: "No other run"
                           if r is None else labels[r],
                           help="The same sweep with a second finished run, e.g. one "
                                "without pooling.")
    curves = {f"{run_id[:6]} (this run)": resources.sweep(run_id, image, follow)}
    if compare is not None:
        try:
            curves[compare[:6]] = resources.sweep(compare, image, follow)
        except (RunNotFoundError, OSError, ValueError):
            st.caption(f"The saved model of run {compare[:6]} could not be opened; pick "
                       "another run.")
    charts.show(probing.probe_sweep(curves, names[follow]), key="probe_sweep")
    st.caption(SWEEP_NOTE)


def unusual_warning(run_id: str, image: np.ndarray, dataset: str, source: str) -> None:
    """A warning sentence when `image` scores beyond the run's threshold for unusual inputs,
    with a caption on what the check trades off; nothing when it passes or when the run has
    no such check (trained before runs kept one)."""
    check = resources.unusual_check(run_id)
    if check is None:
        return
    try:
        unusual = bool(check.is_unusual(resources.model(run_id), image[None])[0])
    except ValueError:  # a check fitted for another network: no cue rather than a wrong one
        return
    if unusual:
        st.warning(UNUSUAL.get(source, UNUSUAL["Upload"]).format(
            thing=THINGS.get(dataset, "object")), icon=":material/help:")
        st.caption(UNUSUAL_NOTE.format(passed=round(100 * check.quantile)))
