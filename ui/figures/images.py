"""Figures of images and feature maps: one image with its pixel values, every channel of a
layer in one mosaic, a dataset's samples per class, a convolution's steps at one pixel scale
and small matrices with their numbers written in."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.style import MARGIN, VAL_COLOR

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
    fig.update_layout(title=title, height=height, margin=MARGIN)
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


def channel_grid(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`tile(maps)` and, of the same shape, the 1-based channel under each cell (-1 in gaps)."""
    h, w, c = maps.shape
    grid, columns = tile(maps)
    channel = np.full(grid.shape, -1)
    for i in range(c):
        r, col = divmod(i, columns)
        channel[r * (h + 1): r * (h + 1) + h, col * (w + 1): col * (w + 1) + w] = i + 1
    return grid, channel


def mosaic(maps: np.ndarray, title: str, colorscale: str = "viridis",
           symmetric: bool = False, height: int | None = None, unit: str = "channel",
           numbered: bool = False) -> go.Figure:
    """Every channel of a (h, w, c) array in one heatmap; hover tells the channel, called
    `unit` ("filter", "input map"). `numbered` writes each one's number (1-based) above it."""
    grid, channel = channel_grid(maps)
    if numbered:  # a free row above the first tiles: every number sits in the gap over its own
        grid = np.vstack([np.full((1, grid.shape[1]), np.nan, np.float32), grid])
        channel = np.vstack([np.full((1, channel.shape[1]), -1), channel])
    bound = float(np.nanmax(np.abs(grid))) if symmetric and np.isfinite(grid).any() else None
    fig = go.Figure(go.Heatmap(
        z=grid, customdata=channel, colorscale="RdBu_r" if symmetric else colorscale,
        zmid=0 if symmetric else None, zmin=-bound if bound else None,
        zmax=bound if bound else None, showscale=True,
        hovertemplate=f"{unit} %{{customdata}}<br>value %{{z:.3g}}<extra></extra>",
    ))
    # no grid lines: they would cross the squares
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False,
                     showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    rows = grid.shape[0] / max(grid.shape[1], 1)
    height = height or int(min(900, max(220, 80 + 520 * rows)))
    if numbered:
        # about one cell of the gap row high, so a number stays over its own tile; the
        # plot is about 450 px wide on a 1024 px screen
        cell = min((height - 50) / grid.shape[0], 450 / grid.shape[1])
        size = int(np.clip(0.8 * cell, 8, 13))
        for number in range(1, maps.shape[-1] + 1):
            cells = np.argwhere(channel == number)
            fig.add_annotation(x=float(cells[:, 1].mean()), y=cells[:, 0].min() - 0.5,
                               text=str(number), showarrow=False, yanchor="bottom",
                               font=dict(size=size, color="#444"))
    fig.update_layout(title=title, margin=MARGIN, height=height)
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


def image_steps(panels: list[tuple[str, np.ndarray, np.ndarray | None]],
                height: int = 420) -> go.Figure:
    """Images side by side at one pixel scale: a 13×13 map is drawn half as wide as a 26×26.

    Args:
        panels: `(title, shown, values)` per panel: `shown` a `(h, w)` array drawn in gray
            from 0 to 255; `values`, of the same shape or `None`, the real numbers that hover
            tells (a convolution's sums before clipping).
        height: Figure height in pixels.

    Returns:
        One figure, panel `i` on axes `x{i}` / `y{i}` (for `outline`). Each panel's width is
        proportional to its columns and every y axis spans the tallest panel's rows, so one
        cell has the same size in pixels everywhere; smaller maps sit at the top.
    """
    rows = max(shown.shape[0] for _, shown, _ in panels)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _, _ in panels],
                        column_widths=[shown.shape[1] for _, shown, _ in panels],
                        horizontal_spacing=0.03)
    for i, (_, shown, values) in enumerate(panels, start=1):
        shown = np.asarray(shown, dtype=np.float32)
        trace = dict(z=shown, colorscale="gray", zmin=0, zmax=255, showscale=False,
                     hovertemplate="row %{y}, col %{x}<br>value %{z:.3g}<extra></extra>")
        if values is not None:
            trace.update(customdata=np.asarray(values, dtype=np.float32),
                         hovertemplate="row %{y}, col %{x}<br>sum %{customdata:.4g}"
                                       "<br>drawn as %{z}<extra></extra>")
        fig.add_trace(go.Heatmap(**trace), 1, i)
        fig.update_xaxes(range=[-0.5, shown.shape[1] - 0.5], constrain="domain", row=1, col=i)
        fig.update_yaxes(range=[rows - 0.5, -0.5], scaleanchor=f"x{i}" if i > 1 else "x",
                         constrain="domain", row=1, col=i)
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=MARGIN, plot_bgcolor="white")
    return fig


def outline(fig: go.Figure, row: int, col: int, size: int = 1,
            color: str = VAL_COLOR, panel: int = 1) -> go.Figure:
    """Draws a square around pixels `row..row+size-1` × `col..col+size-1` of an image figure
    (of its panel `panel` in an `image_steps` figure)."""
    axis = "" if panel == 1 else str(panel)
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + size - 0.5, y0=row - 0.5,
                  y1=row + size - 0.5, line=dict(color=color, width=3),
                  xref=f"x{axis}", yref=f"y{axis}")
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
    fig.update_layout(title=title, height=height, margin=MARGIN)
    return fig
