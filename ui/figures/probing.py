"""Figures of probing a trained network: where it looks (occlusion saliency, Grad-CAM) and
how its confidence holds as a picture moves and turns (invariance sweeps)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.images import image
from ui.figures.style import RUN_COLORS

# (the sweep's values, which of them kept the class on top, the line's name, its subplot)
_SWEEP_LINES = (("shift_x", "correct_x", "shifted sideways (x)", 1),
                ("shift_y", "correct_y", "shifted up or down (y)", 1),
                ("rotation", "correct_rotation", "turned", 2))


def saliency(img: np.ndarray, heat: np.ndarray, title: str = "", height: int = 380) -> go.Figure:
    """The image in gray with an occlusion map on top: red where hiding a patch lowers the
    class probability (the network looks there), blue where hiding it raises it."""
    fig = image(img, title=title, height=height)
    heat = np.asarray(heat, dtype=np.float32)
    bound = float(np.abs(heat).max()) or 1e-6
    fig.add_trace(go.Heatmap(
        z=heat, zmid=0, zmin=-bound, zmax=bound, colorscale=[
            [0.0, "rgba(5,48,97,0.9)"], [0.25, "rgba(67,147,195,0.55)"],
            [0.5, "rgba(247,247,247,0)"],  # no change: the picture shows through
            [0.75, "rgba(214,96,77,0.55)"], [1.0, "rgba(103,0,31,0.9)"]],
        colorbar=dict(title="drop", tickformat=".0%"),
        hovertemplate="row %{y}, col %{x}<br>probability drop %{z:.1%}<extra></extra>",
    ))
    return fig


def grad_cam(img: np.ndarray, heat: np.ndarray, title: str = "", height: int = 380) -> go.Figure:
    """The image in gray with a (28, 28) Grad-CAM map in [0, 1] on top: clear where the map
    is 0, so the picture shows through, yellow to red where the layer saw the class."""
    fig = image(img, title=title, height=height)
    fig.add_trace(go.Heatmap(
        z=np.asarray(heat, dtype=np.float32), zmin=0, zmax=1, colorscale=[
            [0.0, "rgba(255,230,0,0)"], [0.25, "rgba(255,200,0,0.35)"],
            [0.6, "rgba(240,110,0,0.65)"], [1.0, "rgba(200,0,20,0.9)"]],
        colorbar=dict(title="heat", tickvals=[0, 0.5, 1]),
        hovertemplate="row %{y}, col %{x}<br>heat %{z:.2f}<extra></extra>",
    ))
    return fig


def probe_sweep(sweeps: dict[str, object], class_name: str, height: int = 340) -> go.Figure:
    """Confidence in one class against shift (left) and rotation (right), one set of lines
    per run: the first solid, the next dashed. A filled dot: the class is still the top
    answer there; a hollow one: another class won.

    Args:
        sweeps: run label → `fmnist_core.explain.probes.Sweep` (shifts, angles, shift_x, shift_y,
            rotation and their correct_* arrays).
        class_name: the class followed.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("shifted by (pixels)", "turned by (degrees)"))
    for n, (label, sweep) in enumerate(sweeps.items()):
        dash = ("solid", "dash", "dot", "dashdot")[n % 4]
        for i, (values, correct, what, col) in enumerate(_SWEEP_LINES):
            x = sweep.shifts if col == 1 else sweep.angles
            right = np.asarray(getattr(sweep, correct), bool)
            fig.add_trace(go.Scatter(
                x=np.asarray(x).tolist(), y=np.asarray(getattr(sweep, values)).tolist(),
                mode="lines+markers", name=f"{label} · {what}" if len(sweeps) > 1 else what,
                line=dict(color=RUN_COLORS[i], dash=dash, width=3 if n == 0 else 2),
                marker=dict(size=7, color=RUN_COLORS[i],
                            symbol=["circle" if r else "circle-open" for r in right]),
                hovertemplate=f"{label} · {what} %{{x}}<br>{class_name} %{{y:.1%}}"
                              "<extra></extra>"), row=1, col=col)
    for col in (1, 2):
        fig.add_vline(x=0, line=dict(color="#adb5bd", width=1), row=1, col=col)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", showticklabels=False, row=1, col=2)
    fig.update_layout(title=f"Confidence in {class_name} as the picture moves and turns",
                      height=height, margin=dict(l=10, r=10, t=70, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig
