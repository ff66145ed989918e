"""Plotly figure builders. Pure functions of arrays: no Streamlit calls, easy to test."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TRAIN_COLOR = "#3b5bdb"
VAL_COLOR = "#e8590c"
_MARGIN = dict(l=10, r=10, t=40, b=10)


def image(img: np.ndarray, title: str = "", height: int = 260,
          colorscale: str = "gray", zmin: float | None = 0, zmax: float | None = 255,
          show_scale: bool = False) -> go.Figure:
    """A 2-D array as a heatmap with its pixel values on hover (row, column, value)."""
    img = np.asarray(img, dtype=np.float32)
    fig = go.Figure(go.Heatmap(
        z=img, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=show_scale,
        hovertemplate="row %{y}, col %{x}<br>value %{z:.3g}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain",
                     showticklabels=False)
    fig.update_xaxes(constrain="domain", showticklabels=False)
    fig.update_layout(title=title, height=height, margin=_MARGIN)
    return fig


def tile(maps: np.ndarray, columns: int | None = None, gap: int = 1) -> tuple[np.ndarray, int]:
    """Lays (h, w, c) channels out as one mosaic with NaN gaps (one heatmap draws fast).

    Returns:
        ((rows*(h+gap)-gap, cols*(w+gap)-gap) float32 mosaic, number of columns).
    """
    h, w, c = maps.shape
    columns = columns or max(1, math.ceil(math.sqrt(c * w / h)))
    rows = math.ceil(c / columns)
    mosaic = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan, np.float32)
    for i in range(c):
        r, col = divmod(i, columns)
        mosaic[r * (h + gap): r * (h + gap) + h, col * (w + gap): col * (w + gap) + w] = \
            maps[:, :, i]
    return mosaic, columns


def mosaic(maps: np.ndarray, title: str, colorscale: str = "viridis",
           symmetric: bool = False, height: int | None = None) -> go.Figure:
    """Every channel of a (h, w, c) array in one heatmap; hover tells the channel."""
    h, w, c = maps.shape
    grid, columns = tile(maps)
    channel = np.full(grid.shape, -1)
    for i in range(c):
        r, col = divmod(i, columns)
        channel[r * (h + 1): r * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = i + 1
    bound = float(np.nanmax(np.abs(grid))) if symmetric and np.isfinite(grid).any() else None
    fig = go.Figure(go.Heatmap(
        z=grid, customdata=channel, colorscale="RdBu_r" if symmetric else colorscale,
        zmid=0 if symmetric else None, zmin=-bound if bound else None,
        zmax=bound if bound else None, showscale=True,
        hovertemplate="channel %{customdata}<br>value %{z:.3g}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    rows = grid.shape[0] / max(grid.shape[1], 1)
    fig.update_layout(title=title, margin=_MARGIN,
                      height=height or int(min(900, max(220, 80 + 520 * rows))))
    return fig


def curves(history: list[dict], batch_points: list | None = None,
           epochs: int | None = None) -> go.Figure:
    """Accuracy and loss against epochs: per-batch running training values (thin line),
    end-of-epoch training and validation values (markers)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy", "Loss"))
    if batch_points:
        xs = [p[0] for p in batch_points]
        fig.add_trace(go.Scatter(x=xs, y=[p[2] for p in batch_points], mode="lines",
                                 name="train (running, per batch)",
                                 line=dict(color=TRAIN_COLOR, width=1), opacity=0.5,
                                 legendgroup="batch"), 1, 1)
        fig.add_trace(go.Scatter(x=xs, y=[p[1] for p in batch_points], mode="lines",
                                 line=dict(color=TRAIN_COLOR, width=1), opacity=0.5,
                                 showlegend=False, legendgroup="batch"), 1, 2)
    ep = [row["epoch"] for row in history]
    for key, label, color in (("", "train", TRAIN_COLOR), ("val_", "validation", VAL_COLOR)):
        # a stopped epoch ends without validation: its point is a gap
        if any(f"{key}accuracy" in r for r in history):
            fig.add_trace(go.Scatter(x=ep, y=[r.get(f"{key}accuracy") for r in history],
                                     mode="lines+markers", name=f"{label} (epoch end)",
                                     line=dict(color=color), legendgroup=label), 1, 1)
            fig.add_trace(go.Scatter(x=ep, y=[r.get(f"{key}loss") for r in history],
                                     mode="lines+markers", line=dict(color=color),
                                     showlegend=False, legendgroup=label), 1, 2)
    fig.update_xaxes(title_text="epoch", range=[0, max(epochs or 1, max(ep, default=1))])
    fig.update_yaxes(tickformat=".0%", col=1)
    fig.update_layout(height=340, margin=_MARGIN, legend=dict(orientation="h", y=-0.2))
    return fig


def overlay(curves_by_run: dict[str, list[dict]], metric: str = "val_accuracy") -> go.Figure:
    """One line per run of `metric` per epoch."""
    fig = go.Figure()
    for label, rows in curves_by_run.items():
        fig.add_trace(go.Scatter(x=[r["epoch"] for r in rows], y=[r.get(metric) for r in rows],
                                 mode="lines+markers", name=label))
    fig.update_layout(height=360, margin=_MARGIN, xaxis_title="epoch",
                      yaxis_title=metric.replace("_", " "), legend=dict(orientation="h", y=-0.25))
    if "accuracy" in metric:
        fig.update_yaxes(tickformat=".0%")
    return fig


def confusion(matrix: np.ndarray, class_names: tuple[str, ...]) -> go.Figure:
    """Rows true class, columns prediction; the diagonal is dimmed so errors stand out."""
    errors = matrix.astype(float).copy()
    np.fill_diagonal(errors, np.nan)
    fig = go.Figure(go.Heatmap(
        z=errors, x=list(class_names), y=list(class_names), colorscale="Reds",
        text=matrix, texttemplate="%{text}", showscale=False,
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text} images<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", title="true class")
    fig.update_xaxes(title="predicted class", side="top")
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=60, b=10))
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
    fig.update_layout(height=60 + 32 * len(order), margin=_MARGIN)
    return fig


def bars(labels: list[str], values: list[float], title: str = "", percent: bool = False) -> go.Figure:
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=TRAIN_COLOR,
                           text=[f"{v:.1%}" if percent else f"{v:,}" for v in values],
                           textposition="auto"))
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(title=title, height=300, margin=_MARGIN)
    return fig


def sample_grid(images: np.ndarray, class_names: tuple[str, ...], indices: np.ndarray,
                gap: int = 2) -> go.Figure:
    """A (classes, per_class, h, w) uint8 block as one heatmap, one row per class named on
    the left; hover tells the class, the image's index in the dataset and the pixel value."""
    classes, per_class, h, w = images.shape
    grid = np.full((classes * (h + gap) - gap, per_class * (w + gap) - gap), np.nan, np.float32)
    index = np.full(grid.shape, -1)
    for c in range(classes):
        for i in range(per_class):
            rows, cols = slice(c * (h + gap), c * (h + gap) + h), slice(i * (w + gap),
                                                                         i * (w + gap) + w)
            grid[rows, cols] = images[c, i]
            index[rows, cols] = indices[c, i]
    names = np.repeat(np.asarray(class_names, dtype=object)[:classes], h + gap)[:grid.shape[0]]
    fig = go.Figure(go.Heatmap(
        z=grid, customdata=np.stack([np.broadcast_to(names[:, None], grid.shape), index], -1),
        colorscale="gray", zmin=0, zmax=255, showscale=False,
        hovertemplate="%{customdata[0]} #%{customdata[1]}<br>value %{z}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain",
                     tickvals=[c * (h + gap) + h / 2 for c in range(classes)],
                     ticktext=list(class_names[:classes]))
    fig.update_xaxes(constrain="domain", showticklabels=False)
    fig.update_layout(height=60 + 46 * classes, margin=dict(l=10, r=10, t=10, b=10),
                      plot_bgcolor="white")
    return fig


def grouped_bars(labels: list[str], series: dict[str, list[int]], title: str = "") -> go.Figure:
    """One group of bars per label, one bar per series (e.g. train and test counts)."""
    fig = go.Figure([
        go.Bar(x=labels, y=values, name=name, text=[f"{v:,}" for v in values],
               textposition="auto", marker_color=color)
        for (name, values), color in zip(series.items(), (TRAIN_COLOR, VAL_COLOR, "#2f9e44"))
    ])
    fig.update_layout(title=title, barmode="group", height=340, margin=_MARGIN,
                      legend=dict(orientation="h", y=-0.2))
    return fig


def response_map(shown: np.ndarray, values: np.ndarray, title: str = "",
                 height: int = 300) -> go.Figure:
    """A feature map drawn from `shown` (0..255) while hover tells the real `values`."""
    fig = image(shown, title=title, height=height)
    fig.update_traces(customdata=np.asarray(values, dtype=np.float32),
                      hovertemplate="row %{y}, col %{x}<br>sum %{customdata:.4g}"
                                    "<br>drawn as %{z}<extra></extra>")
    return fig


def outline(fig: go.Figure, row: int, col: int, size: int = 1,
            color: str = VAL_COLOR) -> go.Figure:
    """Draws a square around pixels `row..row+size-1` × `col..col+size-1` of an image figure."""
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + size - 0.5, y0=row - 0.5,
                  y1=row + size - 0.5, line=dict(color=color, width=3))
    return fig


def number_grid(matrix: np.ndarray, title: str = "", colorscale: str = "gray",
                symmetric: bool = False, height: int = 230) -> go.Figure:
    """A small matrix as coloured cells with every number written in its cell."""
    matrix = np.asarray(matrix, dtype=np.float32)
    bound = float(np.abs(matrix).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=matrix, text=[[f"{v:.4g}" for v in row] for row in matrix], texttemplate="%{text}",
        colorscale="RdBu_r" if symmetric else colorscale, showscale=False,
        zmin=-bound if symmetric else 0, zmax=bound if symmetric else 255,
        hovertemplate="row %{y}, col %{x}<br>%{text}<extra></extra>",
    ))
    fig.update_traces(textfont=dict(size=15))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain",
                     showticklabels=False)
    fig.update_xaxes(constrain="domain", showticklabels=False)
    fig.update_layout(title=title, height=height, margin=_MARGIN)
    return fig


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
        customdata=np.asarray(matrix).reshape(-1), showlegend=False,
        marker=dict(symbol="square-open", size=34, color="#212529", opacity=0,
                    line=dict(width=3)),
        selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} images<extra></extra>",
    ))
    fig.update_layout(clickmode="event+select", hovermode="closest")
    return fig
