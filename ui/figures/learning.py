"""Figures of a run learning, epoch by epoch: the accuracy and loss curves, each class's
accuracy per epoch, one sample's answers per stored epoch and one filter's life."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.figures.images import tile
from ui.figures.style import MARGIN, RUN_COLORS, TRAIN_COLOR, VAL_COLOR, percent_axis

EPOCH_ZERO = "0 (random)"  # the tick of the weights a run started from


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
    fig.update_layout(height=460 if stacked else 340, margin=MARGIN,
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
    fig.update_layout(height=height, margin=MARGIN,
                      title="Each class, epoch by epoch")
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
    fig.update_layout(height=height, margin=MARGIN, legend=dict(orientation="h", y=-0.3),
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
    fig.update_layout(title=title, height=height, margin=MARGIN)
    return fig
