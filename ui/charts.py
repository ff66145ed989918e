"""Every chart on a page goes through `show`: one place for what a chart offers a keyboard
and a screen reader.

A plotly chart is a picture to a screen reader. `show` gives each one an accessible name
(`alt`) that says what it shows and, where the numbers are the point, the numbers: a
figure's title, then each series with its last value, or each bar with its value. It also
leaves out plotly's toolbar, whose eight buttons each took a Tab on the way to the page's
controls; dragging still zooms and a double click still resets.

    charts.show(learning.curves(history), key="curves")
    charts.show(fig, where=column, alt="The 28×28 picture the network sees")
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

CONFIG = {"displayModeBar": False, "displaylogo": False}
MAX_ITEMS = 10  # bars or series named in an accessible name
MAX_CHARACTERS = 600


def show(fig: go.Figure, *, key: str | None = None, where=None, alt: str | None = None,
         width: str | int = "stretch", **kwargs):
    """`st.plotly_chart(fig)` at full width without the toolbar, named for a screen reader.

    Args:
        fig: the figure.
        key: the chart's widget key.
        where: a container or column to draw in; the page's main area by default.
        alt: the accessible name; `describe(fig)` by default.
        width: "stretch" (the default), "content" or pixels.
        **kwargs: passed on (e.g. `on_select`, `selection_mode`).

    Returns:
        What `st.plotly_chart` returns (the selection state when `on_select` is given).
    """
    target = where if where is not None else st
    return target.plotly_chart(fig, width=width, key=key, config=CONFIG,
                               alt=(alt or describe(fig))[:MAX_CHARACTERS], **kwargs)


def describe(fig: go.Figure, title: str | None = None) -> str:
    """A sentence or two saying what `fig` shows: its title (or `title`), then per series
    its last value, per bar chart its bars and values, per heatmap its size."""
    titles = [title or fig.layout.title.text] if title or fig.layout.title.text else []
    titles += [a.text for a in fig.layout.annotations if a.text and a.xref == "paper"]
    parts = []
    for trace in fig.data:
        said = _trace(fig, trace)
        if said and said not in parts:
            parts.append(said)
    head = " · ".join(titles) or "Chart"
    return f"{head}." + (" " + "; ".join(parts[:MAX_ITEMS]) + "." if parts else "")


def _trace(fig: go.Figure, trace) -> str | None:
    name = getattr(trace, "name", None) or ""
    if isinstance(trace, go.Bar):
        labels, values = (trace.y, trace.x) if trace.orientation == "h" else (trace.x, trace.y)
        if labels is None or values is None:
            return None
        texts = trace.text if trace.text is not None else [_number(v) for v in values]
        pairs = [f"{label} {text}" for label, text in zip(labels, texts)]
        if trace.orientation == "h":
            pairs = pairs[::-1]  # drawn bottom-up: the first bar read is the top one
        return (f"{name}: " if name else "") + ", ".join(pairs[:MAX_ITEMS])
    if isinstance(trace, go.Scatter):
        xs = list(trace.x) if trace.x is not None else []
        ys = list(trace.y) if trace.y is not None else []
        points = [(x, y) for x, y in zip(xs, ys) if y is not None and _finite(y)]
        if not points or not name:
            return None
        x, y = points[-1]
        value = f"{float(y):.1%}" if _percent_axis(fig, trace) else _number(y)
        return f"{name}: {value} at {_number(x)}"
    if isinstance(trace, go.Heatmap) and trace.z is not None:
        rows, cols = np.shape(trace.z)[:2]
        return f"a grid of {rows} by {cols} cells"
    return None


def _percent_axis(fig: go.Figure, trace) -> bool:
    """Whether the trace's y axis writes its ticks as percentages."""
    name = "yaxis" + (trace.yaxis or "y")[1:]
    axis = fig.layout[name] if name in fig.layout else None
    if axis is None:
        return False
    return "%" in (axis.tickformat or "") or any("%" in str(t) for t in axis.ticktext or ())


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _number(value) -> str:
    if isinstance(value, (int, np.integer)) or not _finite(value):
        return str(value)
    return f"{float(value):.3g}"
