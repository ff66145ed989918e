"""The epoch-time estimate: what it counts, and how a machine's own runs correct it.

How close it comes to measured epochs is bench/estimate.py's business (timed figures do
not belong in tests); here: the model's terms, the per-call cost, and the correction.
"""

import math

import pytest

from fmnist_core import estimate
from fmnist_core.anatomy import describe
from fmnist_core.spec import ModelSpec, preset, presets

N_FIT, N_VAL = 54_000, 6_000


def test_every_preset_gets_an_epoch_and_a_total_that_add_up():
    for name, spec in presets().items():
        guess = estimate.for_spec(spec, N_FIT, N_VAL)
        assert guess.factor == 1.0 and "2-core CPU" in guess.basis, name
        assert guess.epoch_seconds == pytest.approx(guess.train_seconds + guess.val_seconds)
        assert guess.val_seconds > 0, name  # validation is counted
        first_and_test = guess.total_seconds - spec.epochs * guess.epoch_seconds
        looks = 2 if spec.test_flip else 1  # a test-time flip predicts each image twice
        layers = describe(spec)["layers"]
        assert guess.prepare_seconds == pytest.approx(
            estimate.COEFFICIENTS["first_epoch"]
            + estimate.COEFFICIENTS["first_epoch_layer"] * len(layers))
        assert first_and_test == pytest.approx(
            guess.prepare_seconds + looks * 10_000 * estimate.COEFFICIENTS["forward_flop"]
            * estimate.cost_terms(layers)["forward_flop"])
    best = preset("best")
    assert best.test_flip
    once = estimate.for_spec(best.replace(test_flip=False), N_FIT, N_VAL)
    assert estimate.for_spec(best, N_FIT, N_VAL).val_seconds == pytest.approx(
        2 * once.val_seconds)
    # the dense baseline is cheap but not free ("≈ 0 s" was the complaint)
    assert estimate.for_spec(preset("dense"), N_FIT, N_VAL).epoch_seconds >= 1.0


def test_more_arithmetic_costs_more_time():
    seed = preset("seed-cnn")
    base = estimate.for_spec(seed, N_FIT, N_VAL).epoch_seconds
    for heavier in (seed.replace(filters=(128, 128)), seed.replace(kernel_size=5),
                    seed.replace(dense_units=2048), seed.replace(padding="same")):
        assert estimate.for_spec(heavier, N_FIT, N_VAL).epoch_seconds > base, heavier.summary()
    assert estimate.for_spec(seed, N_FIT // 2, N_VAL).train_seconds == pytest.approx(
        estimate.for_spec(seed, N_FIT, N_VAL).train_seconds / 2, rel=0.01)


def test_python_is_paid_per_call_of_the_training_function():
    # a tiny model trains 8 batches per call; seed-cnn one
    tiny = ModelSpec(conv_blocks=1, filters=(4,), dense_units=16, batch_size=32)
    layers = describe(tiny)["layers"]
    assert estimate.calls(layers, tiny, N_FIT) == math.ceil(math.ceil(N_FIT / 32) / 8)
    seed = preset("seed-cnn")
    assert estimate.calls(describe(seed)["layers"], seed, N_FIT) == math.ceil(N_FIT / 128)


def test_this_machines_runs_correct_the_reference_figures():
    samples = [
        # measured twice the estimate, on this device
        {"device": "CPU", "epoch_seconds": 20.0, "estimate_seconds": 10.0},
        {"device": "CPU", "epoch_seconds": 44.0, "estimate_seconds": 20.0},
        # an estimate that was already corrected by 2: its raw ratio is 2 as well
        {"device": "CPU", "epoch_seconds": 16.0, "estimate_seconds": 16.0,
         "estimate_factor": 2.0},
        {"device": "GPU", "epoch_seconds": 1.0, "estimate_seconds": 10.0},  # another device
        {"device": "CPU", "epoch_seconds": None, "estimate_seconds": 10.0},  # never finished
    ]
    factor, used = estimate.machine_factor(samples, "CPU")
    assert used == 3 and factor == pytest.approx(2.0)
    assert estimate.machine_factor(samples, "GPU") == (pytest.approx(0.1), 1)
    assert estimate.machine_factor([], "CPU") == (1.0, 0)
    wild = [{"device": "CPU", "epoch_seconds": 1e6, "estimate_seconds": 1.0}]
    assert estimate.machine_factor(wild, "CPU")[0] == estimate.MAX_FACTOR


def test_a_store_with_finished_runs_scales_the_estimate(store):
    spec = preset("quick")
    plain = estimate.for_spec(spec, N_FIT, N_VAL, device="CPU", store=store)
    assert plain.factor == 1.0

    class Timed:
        def timing_samples(self):
            return [{"device": "CPU", "epoch_seconds": 3 * plain.epoch_seconds,
                     "estimate_seconds": plain.epoch_seconds}]

    scaled = estimate.for_spec(spec, N_FIT, N_VAL, device="CPU", store=Timed())
    assert scaled.factor == pytest.approx(3.0) and "last 1 run" in scaled.basis
    assert scaled.epoch_seconds == pytest.approx(3 * plain.epoch_seconds)
    assert scaled.prepare_seconds == pytest.approx(3 * plain.prepare_seconds)


def test_a_deeper_network_takes_longer_to_prepare_its_first_epoch():
    # measured (first epoch less the later ones, 2,000 images): 0.7–0.8 s for the dense
    # baseline, 2.4–2.6 s for best, whose short runs were estimated 1.5 s each before
    dense, seed, best = (estimate.for_spec(preset(name), 1_800, 200)
                         for name in ("dense", "seed-cnn", "best"))
    assert dense.prepare_seconds < seed.prepare_seconds < best.prepare_seconds
    assert dense.prepare_seconds == pytest.approx(0.7, abs=0.15)
    assert best.prepare_seconds == pytest.approx(2.5, abs=0.3)

    class FastCard:
        def timing_samples(self):
            return [{"device": "GPU", "epoch_seconds": 1.0, "estimate_seconds": 20.0}]

    # a GPU's epochs are 20 times faster; its tracing, Python on the host, is not
    on_gpu = estimate.for_spec(preset("best"), 1_800, 200, device="GPU", store=FastCard())
    assert on_gpu.factor == pytest.approx(0.1)
    assert on_gpu.prepare_seconds == pytest.approx(best.prepare_seconds)
