"""Figures comparing runs: their curves overlaid, their first-layer filters side by side on
one colour scale, and each class's accuracy per run."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.images import channel_grid
from ui.figures.style import MARGIN, RUN_COLORS, RUN_SYMBOLS, percent_axis

def overlay(curves_by_run: dict[str, list[dict]], metric: str = "val_accuracy") -> go.Figure:
    """One line per run of `metric` per complete epoch, each run in its own colour and
    marker; an accuracy axis is fitted to the curves."""
    fig = go.Figure()
    for i, (label, rows) in enumerate(curves_by_run.items()):
        rows = [r for r in rows if r.get("complete", True)]  # not an epoch Stop cut short
        fig.add_trace(go.Scatter(
            x=[r["epoch"] for r in rows], y=[r.get(metric) for r in rows],
            mode="lines+markers", name=label,
            line=dict(color=RUN_COLORS[i % len(RUN_COLORS)], width=2.5),
            marker=dict(symbol=RUN_SYMBOLS[i % len(RUN_SYMBOLS)], size=9)))
    fig.update_layout(height=360, margin=MARGIN, xaxis_title="epoch",
                      yaxis_title=metric.replace("_", " "), legend=dict(orientation="h", y=-0.25))
    # epochs are whole: a tick at every epoch, or every few for a long run (about ten ticks)
    last = max((r["epoch"] for rows in curves_by_run.values() for r in rows), default=1)
    fig.update_xaxes(tick0=1, dtick=max(1, math.ceil(last / 10)))
    if "accuracy" in metric:
        fig.update_yaxes(percent_axis(
            [r.get(metric) for rows in curves_by_run.values() for r in rows]))
    return fig


def filter_comparison(filters: dict[str, np.ndarray], height: int = 420) -> go.Figure:
    """The first-layer kernels of several runs side by side on one colour scale.

    Args:
        filters: Subplot title → `(k, k, filters)` float array of one run's kernels.
        height: Figure height in pixels.

    Returns:
        One mosaic per run; all share a colour axis symmetric around 0 with one colour bar,
        so the same colour means the same weight in every run.
    """
    bound = max((float(np.abs(k).max()) for k in filters.values() if k.size), default=0.0)
    fig = make_subplots(rows=1, cols=max(1, len(filters)), subplot_titles=list(filters),
                        horizontal_spacing=0.04)
    for i, maps in enumerate(filters.values(), start=1):
        grid, channel = channel_grid(maps)
        fig.add_trace(go.Heatmap(
            z=grid, customdata=channel, coloraxis="coloraxis",
            hovertemplate="filter %{customdata}<br>weight %{z:.3g}<extra></extra>"), 1, i)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i}" if i > 1 else "x",
                         constrain="domain", constraintoward="top", row=1, col=i)
        fig.update_xaxes(constrain="domain", row=1, col=i)
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_layout(
        coloraxis=dict(colorscale="RdBu_r", cmin=-(bound or 1.0), cmax=bound or 1.0,
                       colorbar=dict(title="weight", thickness=14)),
        height=height, margin=MARGIN, plot_bgcolor="white")
    return fig


def class_comparison(per_run: dict[str, list[float]], class_names: tuple[str, ...],
                     height: int = 380) -> go.Figure:
    """Each class's validation accuracy at the last epoch, one bar per run."""
    fig = go.Figure([
        go.Bar(x=list(class_names), y=values, name=label,
               marker_color=RUN_COLORS[i % len(RUN_COLORS)],
               hovertemplate="%{x}: %{y:.1%}<extra>" + label + "</extra>")
        for i, (label, values) in enumerate(per_run.items())])
    fig.update_layout(barmode="group", height=height, margin=MARGIN,
                      legend=dict(orientation="h", y=-0.25))
    fig.update_yaxes(percent_axis([v for values in per_run.values() for v in values]))
    return fig
