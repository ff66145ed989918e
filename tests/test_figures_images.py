import numpy as np
import pytest

from ui.figures import images


def test_image_steps_draw_every_map_at_one_pixel_scale():
    image = np.zeros((28, 28), np.uint8)
    conv, pooled = np.zeros((26, 26)), np.zeros((13, 13))
    fig = images.image_steps([("Image", image, None), ("Convolved", conv, conv),
                              ("Pooled", pooled, pooled)])
    layout = fig.layout
    # each panel's share of the width per column, and its height per row
    per_column = [(layout[f"xaxis{s}"].domain[1] - layout[f"xaxis{s}"].domain[0]) / n
                  for s, n in (("", 28), ("2", 26), ("3", 13))]
    assert per_column == pytest.approx([per_column[0]] * 3, rel=1e-6)
    for s in ("", "2", "3"):
        y, x = layout[f"yaxis{s}"], layout[f"xaxis{s}"]
        assert abs(y.range[0] - y.range[1]) == 28, "every panel spans the tallest map's rows"
        assert y.scaleanchor == f"x{s}" and y.constrain == x.constrain == "domain"
    assert [trace.z.shape for trace in fig.data] == [(28, 28), (26, 26), (13, 13)]
    images.outline(fig, 4, 5, 2, panel=2)
    shape = fig.layout.shapes[0]
    assert (shape.xref, shape.yref, shape.x0, shape.y1) == ("x2", "y2", 4.5, 5.5)


def test_a_numbered_mosaic_writes_each_number_above_its_own_square():
    kernels = np.stack([np.full((3, 3), i + 1, np.float32) for i in range(10)], axis=-1)
    fig = images.mosaic(kernels, "filters", symmetric=True, unit="filter", numbered=True)
    heat = fig.data[0]
    assert heat.hovertemplate.startswith("filter %{customdata}")
    z, numbers = np.asarray(heat.z, np.float32), np.asarray(heat.customdata)
    assert [a.text for a in fig.layout.annotations] == [str(n) for n in range(1, 11)]
    for label in fig.layout.annotations:
        row, col = int(label.y + 0.5), int(round(label.x))
        assert np.isnan(z[row - 1, col])  # the number sits in the gap above the square
        assert numbers[row, col] == int(label.text) == z[row, col]
    plain = images.mosaic(kernels, "maps")
    assert not plain.layout.annotations and plain.data[0].hovertemplate.startswith("channel")
