"""Why did it say that, and when does it break: what the network looks at (occlusion),
for Inspect and Predict."""

from __future__ import annotations

import numpy as np
import streamlit as st

from fmnist_core import inspection
from ui import figures


def looks_at(model, image: np.ndarray, probs: np.ndarray, names: tuple[str, ...],
             key: str) -> None:
    """Where the network looks for a class: a square hides one part of the picture at a
    time and the class's probability drop is drawn over it."""
    top = int(probs.argmax())
    explain = st.selectbox("Explain the class", [None, *range(len(names))],
                           key=f"{key}_explain",
                           format_func=lambda c: f"Its answer, {names[top]}" if c is None
                           else names[c])
    target = top if explain is None else explain
    heat = inspection.occlusion_saliency(model, image, target)
    left, right = st.columns([2, 1])
    left.plotly_chart(figures.saliency(image, heat, f"What matters for {names[target]} "
                                       f"({probs[target]:.0%})"), width="stretch",
                      key=f"{key}_saliency")
    right.caption("A black 4×4 square hides one part of the picture at a time, and we measure "
                  "how much the probability of the class drops. Red: hiding that part hurts, "
                  "so the network looks there. Blue: hiding it helps.")
