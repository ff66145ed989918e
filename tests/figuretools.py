"""What the figure tests share."""


def axis_labels(axis) -> list[str]:
    """The tick labels an axis shows; the figure must place its ticks itself."""
    assert axis.tickvals is not None and axis.ticktext is not None, "ticks left to plotly"
    assert len(axis.tickvals) == len(axis.ticktext)
    low, high = axis.range
    assert all(low <= v <= high for v in axis.tickvals), (axis.tickvals, axis.range)
    return list(axis.ticktext)
