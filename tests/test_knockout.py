"""Switching filters off: the knocked-out network's accuracy is the same weights' with the
filter zeroed by hand, the trained model is left as it was, and the ranking is ordered."""

import numpy as np
import pytest

from fmnist_core.explain import knockout
from fmnist_core.nets.model import build_model, compile_model
from fmnist_core.nets.spec import preset

SPEC = preset("quick").replace(epochs=1, filters=(8,))


@pytest.fixture(scope="module")
def trained(small_data):
    model = compile_model(build_model(SPEC), SPEC)
    model.fit(small_data.x_train, small_data.y_train, epochs=1, batch_size=64, verbose=0)
    return model


def by_hand(model, off):
    """A fresh network with the trained weights, `off`'s kernel and bias zeroed in numpy."""
    weights = [w.copy() for w in model.get_weights()]
    names = [v.path for v in model.weights]
    for i, name in enumerate(names):
        if name.startswith("conv1/"):
            weights[i][..., list(off)] = 0.0  # the kernel's and the bias's last axis: filters
    fresh = build_model(SPEC)
    fresh.set_weights(weights)
    return fresh


def test_knocked_out_accuracy_equals_the_weights_zeroed_by_hand(trained, small_data):
    x, y = small_data.x_test, small_data.y_test
    whole, ranked = knockout.ranking(trained, "conv1", x, y)
    most = ranked[0].filter
    copy = knockout.knocked_out(trained, "conv1", [most])
    hand = by_hand(trained, [most])
    expected = float(np.mean(np.argmax(hand.predict(x, verbose=0), axis=1) == y))
    assert knockout.accuracy(copy, x, y) == pytest.approx(expected, abs=1e-9)
    assert ranked[0].accuracy == pytest.approx(expected, abs=1e-9)
    assert ranked[0].lost_points == pytest.approx(100 * (whole - expected))
    # the most important filter of a trained network costs something
    assert ranked[0].lost_points > 0
    # the filter's feature map is zero after relu
    assert not np.any(np.asarray(copy.get_layer("conv1").kernel)[..., most])


def test_the_trained_model_is_left_as_it_was(trained, small_data):
    before = [w.copy() for w in trained.get_weights()]
    knockout.knocked_out(trained, "conv1", [0, 1, 2])
    knockout.ranking(trained, "conv1", small_data.x_test[:50], small_data.y_test[:50])
    for kept, now in zip(before, trained.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_ranking_is_most_accuracy_lost_first(trained, small_data):
    _, ranked = knockout.ranking(trained, "conv1", small_data.x_test, small_data.y_test)
    assert sorted(k.filter for k in ranked) == list(range(8))
    lost = [k.lost_points for k in ranked]
    assert lost == sorted(lost, reverse=True)


def test_every_filter_off_leaves_a_constant_answer(trained, small_data):
    copy = knockout.knocked_out(trained, "conv1", list(range(8)))
    probs = copy.predict(small_data.x_test[:20], verbose=0)
    np.testing.assert_allclose(probs, np.repeat(probs[:1], 20, axis=0), atol=1e-6)


def test_batch_norm_channel_is_silenced_too():
    spec = preset("best").replace(filters=(4, 4), dense_units=8)
    model = build_model(spec)
    copy = knockout.knocked_out(model, "conv1a", [1])
    norm = copy.get_layer("conv1a_bn")
    assert float(np.asarray(norm.gamma)[1]) == 0.0 and float(np.asarray(norm.beta)[1]) == 0.0


@pytest.mark.parametrize("layer, off, field", [("conv9", [0], "layer"), ("conv1", [8], "off"),
                                               ("conv1", [-1], "off"), ("conv1", [True], "off")])
def test_bad_arguments_name_the_argument(trained, layer, off, field):
    with pytest.raises(ValueError, match=f"Argument `{field}`"):
        knockout.knocked_out(trained, layer, off)
