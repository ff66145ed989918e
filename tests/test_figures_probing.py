from types import SimpleNamespace

import numpy as np

from ui.figures import probing, style


def test_grad_cam_lies_over_the_picture_clear_where_the_map_is_zero():
    image = np.full((28, 28), 200, np.uint8)
    fig = probing.grad_cam(image, np.linspace(0, 1, 28 * 28).reshape(28, 28), "cam")
    picture, heat = fig.data
    assert (picture.zmin, picture.zmax) == (0, 255)  # the picture in gray, beneath
    assert (heat.zmin, heat.zmax) == (0, 1) and heat.colorscale[0][1].endswith(",0)")


def test_saliency_is_symmetric_around_no_change():
    heat = np.zeros((28, 28), np.float32)
    heat[3, 4], heat[5, 6] = 0.5, -0.25
    overlay = probing.saliency(np.zeros((28, 28)), heat).data[1]
    assert overlay.zmid == 0 and overlay.zmin == -0.5 and overlay.zmax == 0.5


def test_a_sweep_draws_three_lines_per_run_hollow_where_another_class_won():
    steps = np.array([-2, 0, 2])
    sweep = SimpleNamespace(shifts=steps, angles=steps * 10,
                            shift_x=np.array([0.2, 0.9, 0.3]), correct_x=[False, True, True],
                            shift_y=np.array([0.5, 0.9, 0.5]), correct_y=[True, True, True],
                            rotation=np.array([0.1, 0.9, 0.1]),
                            correct_rotation=[False, True, False])
    fig = probing.probe_sweep({"a": sweep, "b": sweep}, "Bag")
    assert len(fig.data) == 6 and [t.line.dash for t in fig.data] == ["solid"] * 3 + ["dash"] * 3
    sideways = fig.data[0]
    assert sideways.name == "a · shifted sideways (x)" and list(sideways.y) == [0.2, 0.9, 0.3]
    assert list(sideways.marker.symbol) == ["circle-open", "circle", "circle"]
    assert sideways.line.color == style.RUN_COLORS[0] and fig.data[2].xaxis == "x2"
