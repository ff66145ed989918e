"""Refits the estimate's reference coefficients (`bench/estimate.py --fit`).

Each preset and a few variants (kernel size, filter counts, dense width, batch size) train 4
epochs on the full official data in a fresh worker process, as the server trains; the medians
of epochs 2 to 4 (training and validation apart) are fitted by non-negative least squares,
each sample weighted by 1 / its measured seconds, so that the error that counts (relative)
weighs as much for a 3-second epoch as for a 60-second one. Convolutions trained in bfloat16
and in float32 get a coefficient each (`conv_flop`, `conv_flop_float32`); only those of the
arithmetic the samples trained in (STUDIO_PRECISION) are fitted. Prints the values for
fmnist_core/nets/estimate.py and the estimates they would give.

The reference figures are what a fresh studio shows before a worker has measured this
machine's pace (`fmnist_core.training.calibration`), and what that pace is measured against:
refitting them on another machine changes every pace measured since, not the estimates.
"""

from __future__ import annotations

import math
import statistics

from common import print_table, run_job

EPOCHS = 4


def variants():
    from fmnist_core.nets.spec import preset

    seed = preset("seed-cnn")
    return {
        "seed-cnn 5×5": seed.replace(kernel_size=5),
        "seed-cnn 32,32": seed.replace(filters=(32, 32)),
        "one block of 64": seed.replace(conv_blocks=1, filters=(64,)),
        "dense 512": preset("dense").replace(dense_units=512, batch_size=128),
        "quick batch 32": preset("quick").replace(batch_size=32),
        "3 blocks same": seed.replace(conv_blocks=3, filters=(16, 32, 64), padding="same"),
    }


def measure(name, spec, store, data):
    """(layers, n_fit, n_val, training seconds, validation seconds (medians of epochs 2–4),
    spec, the training's arithmetic)."""
    from fmnist_core.nets.anatomy import describe
    from fmnist_core.nets.precision import policy_of
    from fmnist_core.training.validation import split_validation
    from fmnist_core.training.worker import WorkerProcess

    spec = spec.replace(epochs=EPOCHS, target_accuracy=None)
    fit_xy, val_xy = split_validation(data.x_train, data.y_train, spec.validation_split)
    worker = WorkerProcess()
    try:
        print(f"training {name}: {spec.summary()}, batch {spec.batch_size}", flush=True)
        job, _ = run_job(spec, store, dataset=data, limit_test=1000, worker=worker,
                         timeout=3600)
    finally:
        worker.close()
    steady = job.snapshot()["history"][1:]
    vals = [row.get("val_seconds") or 0.0 for row in steady]
    val = statistics.median(vals)
    return (describe(spec)["layers"], len(fit_xy[0]), 0 if val_xy is None else len(val_xy[0]),
            statistics.median(row["seconds"] for row in steady) - val, val, spec,
            policy_of(job.snapshot()["device"]))


def fit(samples):
    """Non-negative least squares for the training and validation coefficients."""
    import numpy as np
    from scipy.optimize import nnls

    from fmnist_core.nets.estimate import calls, cost_terms
    from fmnist_core.nets.precision import MIXED

    a_train, b_train, a_val, b_val = [], [], [], []
    for layers, n_fit, n_val, train, val, spec, policy in samples:
        terms = cost_terms(layers)
        weight = 1.0 / train
        conv = weight * n_fit * terms["conv_flop"]
        a_train.append([conv if policy == MIXED else 0.0, conv if policy != MIXED else 0.0,
                        weight * n_fit * terms["dense_flop"],
                        weight * n_fit * terms["activation"],
                        weight * math.ceil(n_fit / spec.batch_size),
                        weight * calls(layers, spec, n_fit)])
        b_train.append(1.0)
        if n_val and val:
            looks = 2 if spec.test_flip else 1  # as `raw_validation` counts it
            a_val.append([looks * n_val * terms["forward_flop"] / val,
                          looks * n_val * terms["activation"] / 6 / val])
            b_val.append(1.0)
    train_c, _ = nnls(np.array(a_train), np.array(b_train))
    val_c, _ = nnls(np.array(a_val), np.array(b_val)) if a_val else ([0.0, 0.0], 0)
    fitted = {"conv_flop": train_c[0], "conv_flop_float32": train_c[1],
              "dense_flop": train_c[2], "activation": train_c[3], "step": train_c[4],
              "call": train_c[5], "forward_flop": val_c[0], "activation_val": val_c[1]}
    policies = {sample[6] for sample in samples}
    if MIXED not in policies:
        del fitted["conv_flop"]
    if "float32" not in policies:
        del fitted["conv_flop_float32"]
    return fitted


def refit(store, data) -> dict:
    """Trains the presets and the variants, fits, prints; returns the JSON's part."""
    from fmnist_core.nets.estimate import COEFFICIENTS, raw_epoch
    from fmnist_core.nets.spec import presets

    specs = {**presets(), **variants()}
    samples = [measure(name, spec, store, data) for name, spec in specs.items()]
    coefficients = fit(samples)
    print("\nfitted coefficients (seconds per unit):")
    for key, value in coefficients.items():
        print(f"  {key:16s} {value:.4g}")
    rows = []
    for name, (layers, n_fit, n_val, train, val, spec, policy) in zip(specs, samples):
        est_train, est_val = raw_epoch(layers, spec, n_fit, n_val,
                                       {**COEFFICIENTS, **coefficients}, policy=policy)
        rows.append({"spec": name, "measured s": train + val,
                     "with the fitted coefficients s": est_train + est_val,
                     "error": f"{(est_train + est_val) / (train + val) - 1:+.0%}"})
    print_table("What the fitted coefficients would estimate", rows)
    return {"fitted": coefficients, "refit": rows}


def pace_corrections(samples) -> dict[str, float]:
    """What each of the calibration's corrections (`calibration.CORRECTION`) would be times
    for `samples`, ((per-image s, per-batch s) as estimated, measured s) per run, to fit them
    best: non-negative least squares on the relative error."""
    import numpy as np
    from scipy.optimize import nnls

    from fmnist_core.training.calibration import CORRECTION

    usable = [(parts, measured) for parts, measured in samples if measured]
    if len(usable) < 2:
        return dict(CORRECTION)
    a = np.array([[image / measured, batch / measured] for (image, batch), measured in usable])
    scale, _ = nnls(a, np.ones(len(usable)))
    return {kind: CORRECTION[kind] * float(x) for kind, x in zip(("compute", "overhead"), scale)}
