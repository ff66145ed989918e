from ui.figures import style


def test_percent_axis_never_shows_more_than_100_percent_or_less_than_0():
    for values in ([1.0, 0.999], [0.0, 0.001], [0.5], [], [None, float("nan")]):
        axis = style.percent_axis(values)
        assert axis["range"][0] >= 0 and all(0 <= v <= 1 for v in axis["tickvals"]), values
        assert len(set(axis["ticktext"])) == len(axis["ticktext"]) >= 2, values
