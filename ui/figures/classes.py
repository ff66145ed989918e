"""Figures of classes: the confusion matrix (and its clickable form), a prediction's class
probabilities, and bars per class."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from fmnist_core.words import plural
from ui.figures.style import MARGIN, TRAIN_COLOR, VAL_COLOR

def confusion(matrix: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """Rows true class, columns prediction; the diagonal is dimmed so errors stand out."""
    errors = matrix.astype(float).copy()
    np.fill_diagonal(errors, np.nan)
    fig = go.Figure(go.Heatmap(
        z=errors, x=list(class_names), y=list(class_names), colorscale="Reds",
        text=matrix, texttemplate="%{text}", showscale=False,
        customdata=[[plural(int(v), "image") for v in row] for row in np.asarray(matrix)],
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title="true class")
    fig.update_xaxes(title="predicted class", side="top")
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=60, b=10))
    return fig


def confusion_clickable(matrix: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """`confusion` with an invisible marker on every cell, because plotly heatmaps cannot be
    selected: a click selects the cell's marker (st.plotly_chart on_select, "points"), whose
    x and y are the predicted and true class names; the selected cell gets an outline."""
    fig = confusion(matrix, class_names)
    names = list(class_names)
    n = len(names)
    fig.update_traces(hoverinfo="skip")
    fig.add_trace(go.Scatter(
        x=names * n, y=[name for name in names for _ in range(n)], mode="markers",
        customdata=[plural(int(v), "image") for v in np.asarray(matrix).reshape(-1)],
        showlegend=False,
        marker=dict(symbol="square-open", size=34, color="#212529", opacity=0,
                    line=dict(width=3)),
        selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata}<extra></extra>",
    ))
    fig.update_layout(clickmode="event+select", hovermode="closest")
    return fig


def probabilities(probs: np.ndarray, class_names: tuple[str, ...], top_k: int = 10) -> go.Figure:
    """Horizontal bars of the top-k class probabilities, most likely on top."""
    order = np.argsort(probs)[::-1][:top_k]
    fig = go.Figure(go.Bar(
        x=[float(probs[i]) for i in order][::-1], y=[class_names[i] for i in order][::-1],
        orientation="h", text=[f"{probs[i]:.1%}" for i in order][::-1], textposition="auto",
        marker_color=[VAL_COLOR if i == order[0] else TRAIN_COLOR for i in order][::-1],
    ))
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(height=60 + 32 * len(order), margin=MARGIN)
    return fig


def bars(labels: list[str], values: list[float], title: str = "",
         percent: bool = False) -> go.Figure:
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=TRAIN_COLOR,
                           text=[f"{v:.1%}" if percent else f"{v:,}" for v in values],
                           textposition="auto"))
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(title=title, height=300, margin=MARGIN)
    return fig


def grouped_bars(labels: list[str], series: dict[str, list[int]], title: str = "") -> go.Figure:
    """One group of bars per label, one bar per series (e.g. train and test counts)."""
    fig = go.Figure([
        go.Bar(x=labels, y=values, name=name, text=[f"{v:,}" for v in values],
               textposition="auto", marker_color=color)
        for (name, values), color in zip(series.items(), (TRAIN_COLOR, VAL_COLOR, "#2f9e44"))
    ])
    fig.update_layout(title=title, barmode="group", height=340, margin=MARGIN,
                      legend=dict(orientation="h", y=-0.2))
    return fig
