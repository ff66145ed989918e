"""Why did it say that: what the network looks at, by occlusion and by Grad-CAM, for
Inspect and Predict."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core import inspection
from ui import figures, resources

METHODS = {"Grad-CAM": "grad-cam", "HiResCAM": "hirescam"}
OCCLUSION_NOTE = ("Occlusion: a black 4×4 square hides one part of the picture at a time, and "
                  "we measure how much the probability of the class drops. Red: hiding that "
                  "part hurts, so the network looks there. Blue: hiding it helps.")
NO_CAM = ("This run is the dense baseline: it has no convolution layer, so it has no Grad-CAM; "
          "the occlusion map still shows where it looks.")
CAM_NOTES = {
    "grad-cam": "Grad-CAM, the field's standard: {layer}'s feature maps are weighted by how "
                "much each raises the score of {cls} on average and added up, so the heat marks "
                "where that layer found evidence for it, no sharper than the layer's {grid} "
                "grid (a cell is about {px} across), and behind the Flatten → Dense ending "
                "of these networks it often heats the background more than the garment, which "
                "HiResCAM avoids.",
    "hirescam": "HiResCAM, a sharper variant of Grad-CAM: each cell of {layer}'s {grid} grid "
                "counts by its own gradient times its activation, so the heat marks where that "
                "layer's evidence for {cls} lies, still no sharper than that grid (a cell "
                "is about {px} across).",
}
EMPTY_NOTES = {
    "grad-cam": "The map is empty because at {layer} the gradients for {cls} cancel out "
                "(no region raises its score on average); HiResCAM or another layer usually "
                "shows where its evidence lies.",
    "hirescam": "The map is empty because at {layer} no cell raises the score of {cls}; "
                "another layer may show where its evidence lies.",
}


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
    pick_class, pick_layer, pick_method = st.columns([2, 1, 1], vertical_alignment="bottom")
    explain = pick_class.selectbox("Explain the class", [None, *range(len(names))],
                                   key=f"{key}_explain",
                                   format_func=lambda c: f"Its answer, {names[top]}"
                                   if c is None else names[c])
    target = top if explain is None else explain
    occlusion = inspection.occlusion_saliency(resources.model(run_id), image, target)
    left, right = st.columns(2)
    left.plotly_chart(figures.saliency(image, occlusion, f"What matters for {names[target]} "
                                       f"({probs[target]:.0%}) · occlusion"), width="stretch",
                      key=f"{key}_saliency")
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
    right.plotly_chart(figures.grad_cam(image, result.heatmap, f"{method} at {layer} · "
                                        f"{names[target]}"), width="stretch",
                       key=f"{key}_grad_cam")
    h, w = result.coarse.shape
    words = dict(layer=layer, cls=names[target], grid=f"{h}×{w}",
                 px=f"{28 / h:.0f} pixel" + ("s" if 28 / h >= 1.5 else ""))
    right.caption((EMPTY_NOTES if result.empty else CAM_NOTES)[result.method].format(**words))
