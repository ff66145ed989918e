"""Why did it say that: what the network looks at, by occlusion and by Grad-CAM, for
Inspect and Predict."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core.explain import inspection
from fmnist_core.words import percent
from ui import charts, resources
from ui.figures import probing

METHODS = {"Grad-CAM": "grad-cam", "HiResCAM": "hirescam"}
OCCLUSION_NOTE = ("Occlusion: a black 4×4 square hides one part of the picture at a time, and "
                  "we measure how much the probability of the class drops. Red: hiding that "
                  "part hurts, so the network looks there. Blue: hiding it helps.")
NO_CAM = ("This run is the dense baseline: it has no convolution layer, so it has no Grad-CAM; "
          "the occlusion map still shows where it looks.")
# What each method computes, not what its map will look like: that depends on the network
# and the picture, and a promise the map does not keep misleads more than it helps.
CAM_NOTES = {
    "grad-cam": "Grad-CAM (Selvaraju et al., 2017): each of {layer}'s feature maps gets one "
                "weight, the gradient of the score of {cls} averaged over the map's {grid} "
                "grid; the heat is the weighted sum of the feature maps, where it is above "
                "zero. Its cells are {layer}'s, so it is no finer than that grid (a cell is "
                "about {px} across).",
    "hirescam": "HiResCAM (Draelos and Carin, 2020) differs from Grad-CAM in one step: "
                "instead of one averaged weight per feature map, each cell of {layer}'s "
                "{grid} grid multiplies its activation by its own gradient of the score of "
                "{cls}, element by element; the heat is the sum over the feature maps, where "
                "it is above zero. It is no finer than that grid (a cell is about {px} "
                "across).",
}
EMPTY_NOTES = {
    "grad-cam": "The map is empty: at {layer}, the feature maps weighted by their averaged "
                "gradients for {cls} add up to zero or less in every cell, and Grad-CAM keeps "
                "only what is above zero. HiResCAM, which keeps each cell's own gradient, or "
                "another layer can give a different map.",
    "hirescam": "The map is empty: at {layer}, activation times gradient for {cls}, summed "
                "over the feature maps, is zero or less in every cell, and HiResCAM keeps only "
                "what is above zero. Another layer can give a different map.",
}
# "Explain the class": the network's own answer for the shown picture, whichever class it is.
# Its label never names that class: a label that changed with the picture left the browser
# holding a choice that no longer existed, and the box went blank.
ANSWER = -1


def looks_at(run_id: str, image: np.ndarray, probs: np.ndarray, names: tuple[str, ...],
             key: str) -> None:
    """Where the network looks for a class, side by side: the occlusion map (hide a part,
    measure the drop) and Grad-CAM at a chosen conv layer (the last by default).

    Args:
        run_id: the run whose saved model is explained.
        image: (28, 28) uint8.
        probs: (num_classes,) float32, the model's answer for `image`.
        names: the class names.
        key: the page's widget key prefix ("inspect", "predict").
    """
    top = int(probs.argmax())
    cam = resources.grad_cam(run_id)
    # equal thirds: at 1024 px a quarter left the Method buttons clipped
    pick_class, pick_layer, pick_method = st.columns(3, vertical_alignment="bottom")
    explain = pick_class.selectbox(
        "Explain the class", [ANSWER, *range(len(names))], key=f"{key}_explain",
        format_func=lambda c: "Its answer" if c == ANSWER else names[c],
        help="Its answer follows the picture: the class the network gives it, named in the "
             "maps' titles. Or pick a class to see what speaks for it.")
    target = top if explain == ANSWER else explain
    occlusion = inspection.occlusion_saliency(resources.model(run_id), image, target)
    left, right = st.columns(2)
    # short titles: a chart's title does not wrap, and half of a projector's width is narrow
    charts.show(probing.saliency(image, occlusion, f"Occlusion · {names[target]} "
                                 f"({percent(probs[target])})"),
                key=f"{key}_saliency", where=left,
                alt=f"Occlusion map of the picture for {names[target]}: red where hiding a "
                    "patch lowers the network's probability of it, blue where it raises it.")
    left.caption(OCCLUSION_NOTE)
    if cam is None:
        right.caption(NO_CAM)
        return
    layer_key = f"{key}_cam_layer"
    if st.session_state.get(layer_key) not in cam.layer_names:
        st.session_state[layer_key] = cam.layer_names[-1]
    layer = pick_layer.selectbox("Grad-CAM layer", cam.layer_names, key=layer_key,
                                 help="The last conv layer sees the most, on the coarsest grid.")
    method = pick_method.segmented_control("Method", list(METHODS), default="Grad-CAM",
                                           required=True, key=f"{key}_cam_method") or "Grad-CAM"
    result = cam(image, target, layer, METHODS[method])
    charts.show(probing.grad_cam(image, result.heatmap, f"{method} at {layer} · "
                                 f"{names[target]}"), key=f"{key}_grad_cam", where=right,
                alt=f"{method} map of layer {layer} for {names[target]} over the picture: the "
                    "warmer, the more that region raised the class.")
    h, w = result.coarse.shape
    words = dict(layer=layer, cls=names[target], grid=f"{h}×{w}",
                 px=f"{28 / h:.0f} pixel" + ("s" if 28 / h >= 1.5 else ""))
    right.caption((EMPTY_NOTES if result.empty else CAM_NOTES)[result.method].format(**words))
