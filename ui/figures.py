"""Plotly figure builders. Pure functions of arrays: no Streamlit calls, easy to test."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fmnist_core.words import plural

TRAIN_COLOR = "#3b5bdb"
VAL_COLOR = "#e8590c"
# Okabe and Ito's palette, told apart with every common colour-vision deficiency; yellow last
# because it is faint on white.
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000",
              "#F0E442")
RUN_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross",
               "triangle-down")
_MARGIN = dict(l=10, r=10, t=40, b=10)
_PERCENT_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
_MIN_PERCENT_SPAN = 0.02
EPOCH_ZERO = "0 (random)"  # the tick of the weights a run started from


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


def _channel_grid(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    grid, channel = _channel_grid(maps)
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
    fig.update_layout(title=title, margin=_MARGIN, height=height)
    return fig


def curves(history: list[dict], batch_points: list | None = None,
           epochs: int | None = None, stacked: bool = False) -> go.Figure:
    """Accuracy and loss against epochs: per-batch running training values (thin line),
    end-of-epoch training and validation values (markers); side by side, or `stacked` one
    above the other on one epoch axis (for a narrow column)."""
    fig = make_subplots(rows=2 if stacked else 1, cols=1 if stacked else 2,
                        subplot_titles=("Accuracy", "Loss"), shared_xaxes=stacked,
                        vertical_spacing=0.12)
    acc, loss = (1, 1), ((2, 1) if stacked else (1, 2))
    if batch_points:
        xs = [p[0] for p in batch_points]
        fig.add_trace(go.Scatter(x=xs, y=[p[2] for p in batch_points], mode="lines",
                                 name="train (running, per batch)",
                                 line=dict(color=TRAIN_COLOR, width=1), opacity=0.5,
                                 legendgroup="batch"), *acc)
        fig.add_trace(go.Scatter(x=xs, y=[p[1] for p in batch_points], mode="lines",
                                 line=dict(color=TRAIN_COLOR, width=1), opacity=0.5,
                                 showlegend=False, legendgroup="batch"), *loss)
    # the epoch-end series holds complete epochs only; an epoch that Stop cut short is one
    # hollow marker where it really ended (e.g. 1.62)
    complete = [row for row in history if row.get("complete", True)]
    ep = [row["epoch"] for row in complete]
    for key, label, color in (("", "train", TRAIN_COLOR), ("val_", "validation", VAL_COLOR)):
        if any(f"{key}accuracy" in r for r in complete):
            fig.add_trace(go.Scatter(x=ep, y=[r.get(f"{key}accuracy") for r in complete],
                                     mode="lines+markers", name=f"{label} (epoch end)",
                                     line=dict(color=color), legendgroup=label), *acc)
            fig.add_trace(go.Scatter(x=ep, y=[r.get(f"{key}loss") for r in complete],
                                     mode="lines+markers", line=dict(color=color),
                                     showlegend=False, legendgroup=label), *loss)
    for row in history:
        if row.get("complete", True):
            continue
        where = row.get("position", row["epoch"])
        marker = dict(color=TRAIN_COLOR, symbol="circle-open", size=10, line=dict(width=2))
        hover = (f"stopped at batch {row.get('batches')} of epoch {row['epoch']}"
                 "<br>%{y:.3g}<extra></extra>")
        fig.add_trace(go.Scatter(x=[where], y=[row.get("accuracy")], mode="markers",
                                 name="train when stopped", marker=marker,
                                 hovertemplate=hover, legendgroup="stopped"), *acc)
        fig.add_trace(go.Scatter(x=[where], y=[row.get("loss")], mode="markers",
                                 marker=marker, hovertemplate=hover, showlegend=False,
                                 legendgroup="stopped"), *loss)
    last = max([row.get("position", row["epoch"])
                for row in history] + [p[0] for p in batch_points or ()], default=0)
    end = epoch_axis_end(epochs, last)
    title = "epoch" if epochs is None or end >= epochs else f"epoch (of {epochs})"
    fig.update_xaxes(range=[0, end])
    fig.update_xaxes(title_text=title, row=loss[0], col=loss[1])
    if not stacked:
        fig.update_xaxes(title_text=title, row=1, col=1)
    accuracies = [p[2] for p in batch_points or ()] + [
        r.get(k) for r in history for k in ("accuracy", "val_accuracy")]
    fig.update_yaxes(percent_axis(accuracies), row=1, col=1)
    fig.update_layout(height=460 if stacked else 340, margin=_MARGIN,
                      legend=dict(orientation="h", y=-0.15 if stacked else -0.2))
    return fig


# A run of up to this many epochs shows them all from the start; a longer one shows the
# epochs done with a quarter more ahead, so its first epochs are not a sliver at the left of
# a 200-epoch axis, and the axis widens as the run goes.
FULL_AXIS_EPOCHS = 10


def epoch_axis_end(planned: int | None, done: float) -> float:
    """Where the curves' epoch axis ends: the planned epochs for a short run (or once they
    are near), else the epochs done so far and a quarter more (at least 10)."""
    if planned is None:
        return max(1.0, done)
    if planned <= FULL_AXIS_EPOCHS:
        return float(max(planned, done))
    return float(min(planned, max(FULL_AXIS_EPOCHS, math.ceil(done * 1.25))))


def percent_axis(values, max_ticks: int = 6) -> dict:
    """A y axis for fractions shown as percentages (accuracy), fitted to `values`.

    The range covers the values with a margin (at least 2 points wide, never below 0 %), and
    the ticks are 1, 2 or 5 times a power of ten apart, written with as many decimals
    as their step needs, so no two ticks read the same ("10.5%", "11.0%", not "11%", "11%").

    Args:
        values: Fractions; `None` and non-finite ones are skipped.
        max_ticks: Most intervals between ticks.

    Returns:
        Keyword arguments for `fig.update_yaxes`: range, tickvals, ticktext, hoverformat.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = max(_MIN_PERCENT_SPAN - (hi - lo), 0.0) / 2
    lo, hi = lo - pad, hi + pad
    # keep a widened range inside 0–100 % (a run at 99.5 % gets no "101 %" tick)
    shift = min(max(hi - 1.0, 0.0), pad) - min(max(-lo, 0.0), pad)
    lo, hi = lo - shift, hi - shift
    margin = 0.08 * (hi - lo)
    low, high = max(0.0, lo - margin), hi + margin
    step = next((s for s in _PERCENT_STEPS if (high - low) / s <= max_ticks),
                _PERCENT_STEPS[-1])
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    first = math.ceil(low / step - 1e-9)
    ticks = [round(i * step, 6) for i in range(first, math.floor(high / step + 1e-9) + 1)]
    return dict(range=[low, high], tickvals=ticks,
                ticktext=[f"{t:.{decimals}%}" for t in ticks],
                hoverformat=f".{decimals + 1}%")


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
    fig.update_layout(height=360, margin=_MARGIN, xaxis_title="epoch",
                      yaxis_title=metric.replace("_", " "), legend=dict(orientation="h", y=-0.25))
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
        grid, channel = _channel_grid(maps)
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
        height=height, margin=_MARGIN, plot_bgcolor="white")
    return fig


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


def bars(labels: list[str], values: list[float], title: str = "",
         percent: bool = False) -> go.Figure:
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
    fig.update_layout(height=height, margin=_MARGIN, plot_bgcolor="white")
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
        customdata=[plural(int(v), "image") for v in np.asarray(matrix).reshape(-1)],
        showlegend=False,
        marker=dict(symbol="square-open", size=34, color="#212529", opacity=0,
                    line=dict(width=3)),
        selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata}<extra></extra>",
    ))
    fig.update_layout(clickmode="event+select", hovermode="closest")
    return fig


def class_epochs(matrix: np.ndarray, epochs: list[int], class_names: tuple[str, ...],
                 height: int = 360) -> go.Figure:
    """Classes × epochs of validation accuracy, each cell written in; the rows are sorted
    by the latest epoch, so the classes learned last sit at the bottom."""
    latest = np.nan_to_num(matrix[:, -1], nan=-1.0)
    order = np.argsort(-latest, kind="stable")
    fig = go.Figure(go.Heatmap(
        z=matrix[order], x=[str(e) for e in epochs], y=[class_names[i] for i in order],
        zmin=0, zmax=1, colorscale="Viridis",
        text=[[("–" if np.isnan(v) else f"{v:.0%}") for v in row] for row in matrix[order]],
        texttemplate="%{text}", colorbar=dict(title="right", tickformat=".0%"),
        hovertemplate="%{y} after epoch %{x}<br>%{text} right<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="epoch", type="category")
    fig.update_layout(height=height, margin=_MARGIN,
                      title="Each class, epoch by epoch")
    return fig


def class_comparison(per_run: dict[str, list[float]], class_names: tuple[str, ...],
                     height: int = 380) -> go.Figure:
    """Each class's validation accuracy at the last epoch, one bar per run."""
    fig = go.Figure([
        go.Bar(x=list(class_names), y=values, name=label,
               marker_color=RUN_COLORS[i % len(RUN_COLORS)],
               hovertemplate="%{x}: %{y:.1%}<extra>" + label + "</extra>")
        for i, (label, values) in enumerate(per_run.items())])
    fig.update_layout(barmode="group", height=height, margin=_MARGIN,
                      legend=dict(orientation="h", y=-0.25))
    fig.update_yaxes(percent_axis([v for values in per_run.values() for v in values]))
    return fig


def epoch_ticks(epochs: list[int]) -> dict:
    """An x axis of stored epochs: "0 (random)" for the weights before training."""
    return dict(title="epochs trained", tickmode="array", tickvals=list(epochs),
                ticktext=[EPOCH_ZERO if e == 0 else str(e) for e in epochs])


def epoch_answers(epochs: list[int], probs: np.ndarray, class_names: tuple[str, ...],
                  label: int | None = None, height: int = 260) -> go.Figure:
    """One sample's class probabilities at each stored epoch (0: before training): a line
    per class that was ever among the top two (the true class thick)."""
    shown = sorted({int(i) for row in probs for i in np.argsort(row)[-2:]}
                   | ({label} if label is not None else set()))
    fig = go.Figure()
    for n, c in enumerate(shown):
        true = c == label
        fig.add_trace(go.Scatter(
            x=epochs, y=probs[:, c], mode="lines+markers", name=class_names[c]
            + (" (true class)" if true else ""),
            line=dict(width=4 if true else 2, color=RUN_COLORS[n % len(RUN_COLORS)])))
    fig.update_xaxes(**epoch_ticks(epochs))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_layout(height=height, margin=_MARGIN, legend=dict(orientation="h", y=-0.3),
                      title="Its answer for this picture, epoch by epoch")
    return fig


def filter_life(life: np.ndarray, epochs: list[int], title: str,
                height: int = 240) -> go.Figure:
    """One (k, k) filter at each stored epoch (0 first: its random start) in one row, on one
    symmetric colour scale; hover tells the epoch."""
    k, _, n = life.shape
    grid, _ = tile(life, columns=n)
    when = np.full(grid.shape, "", dtype=object)
    for i, epoch in enumerate(epochs):
        when[:, i * (k + 1): i * (k + 1) + k] = (
            "before training" if epoch == 0 else f"after epoch {epoch}")
    bound = float(np.nanmax(np.abs(grid))) or 1.0
    fig = go.Figure(go.Heatmap(
        z=grid, customdata=when, colorscale="RdBu_r", zmid=0, zmin=-bound, zmax=bound,
        hovertemplate="%{customdata}<br>weight %{z:.3g}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False,
                     showgrid=False, zeroline=False)
    ticks = epoch_ticks(epochs)
    ticks["tickvals"] = [i * (k + 1) + (k - 1) / 2 for i in range(n)]
    fig.update_xaxes(**ticks)
    fig.update_layout(title=title, height=height, margin=_MARGIN)
    return fig


# -- probing a trained network: Grad-CAM, invariance sweeps ----------------------------------

_SWEEP_LINES = (("shift_x", "correct_x", "shifted sideways (x)", 1),
                ("shift_y", "correct_y", "shifted up or down (y)", 1),
                ("rotation", "correct_rotation", "turned", 2))


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
