"""Epoch-time estimates against measured epochs, for every preset (and the fit behind them).

Each spec trains 4 epochs on the full official data in a fresh worker process, as the server
trains; the median of epochs 2 to 4 (each with its training steps and its validation pass;
the first epoch also traces the functions) is the measurement, with the spread of epochs 2
to 4 beside it. This 2-core virtual machine has spells, lasting from seconds to many
minutes, in which the same work takes twice as long: 12,800 seed-cnn training images took
either 5.0–5.5 s or 10.3 s, nothing else running, in a fresh process as in a long-lived
one, and with one TensorFlow thread either 5.9 s or 10.3 s (the host's sharing of its
cores, not the studio). An epoch measured inside such a spell is twice its usual time; the
studio's own correction (the median ratio of this machine's latest runs) follows a machine
that is steadily faster or slower, not such spells.

So each spec is measured 3 times, each between two readings of the machine's pace (a fixed
numpy matmul, best of 3); an attempt where either reading is more than 1.5× the fastest of
the run, or where epochs 2–4 spread by more than 1.35×, is marked as fallen in such a spell.
Every attempt is printed and written to the JSON; the attempt with the median epoch is
judged. The pace reading does not see every slowdown: on 2026-12-02 a seed-cnn epoch took
41.8 s (22–23 s in other runs) while the matmul ran at 1.17× its fastest, and later that day
14.5 s and 21.4 s ten minutes apart: one attempt alone is within the noise of ±25 %.

The estimate a student sees on a fresh studio uses the reference coefficients; once this
machine has finished runs, the studio multiplies them by the median ratio of measured to
estimated epochs of those runs (`fmnist_core.nets.estimate.machine_factor`). Between sessions
this VM's pace differs by up to 3× (a seed-cnn epoch of 14.5 s, 22 s or 42 s), so no fixed
coefficients can be within ±25 % on every day: the table gives both, the fresh-studio
estimate and the estimate "after this machine's other runs" (each preset corrected by the
factor of the other presets measured in the same run, as the studio would be after its
class trained them), and the target is judged on the second.

Target: every preset's estimate, after this machine's other runs, within ±25 % of its
measured epoch.

    .venv/bin/python bench/estimate.py [--smoke] [--fit]

--fit: also trains variants (kernel size, filter counts, dense width, batch size) and fits
the coefficients by non-negative least squares on all of them; prints the values for
fmnist_core/nets/estimate.py and the estimates they would give.
--smoke: 3,000 images, not judged.

The trainings compute as the studio's would here (`STUDIO_PRECISION`, `auto` by default:
bfloat16 on a CPU with bfloat16 instructions); each estimate is made for the arithmetic its
run used. `STUDIO_PRECISION=float32 ... --fit` fits `conv_flop_float32` in place of
`conv_flop`.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from common import engine_env, load_note, print_table, run_job, verdict, write_result

TOLERANCE = 0.25
EPOCHS = 4
ATTEMPTS = 3
SLOW_PACE = 1.5  # a pace reading this many times the run's fastest: a slow spell
SLOW_SPREAD = 1.35  # epochs 2–4 spread this much: a spell began or ended inside them


def pace_seconds() -> float:
    """Seconds for a fixed piece of arithmetic (20 products of 768×768 float32 matrices,
    best of 3): the machine's pace right now."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((768, 768), dtype=np.float32)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(20):
            a @ a
        best = min(best, time.perf_counter() - start)
    return best


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


def measure(name, spec, store, data, limit):
    """(layers, n_fit, n_val, training seconds, validation seconds (medians of epochs 2–4),
    spec, the training's arithmetic, (fastest, slowest epoch))."""
    from fmnist_core.nets.anatomy import describe
    from fmnist_core.training.validation import split_validation
    from fmnist_core.nets.precision import policy_of
    from fmnist_core.training.worker import WorkerProcess

    spec = spec.replace(epochs=EPOCHS, target_accuracy=None)
    x = data.x_train[:limit]
    fit_xy, val_xy = split_validation(x, data.y_train[:limit], spec.validation_split)
    worker = WorkerProcess()
    try:
        print(f"training {name}: {spec.summary()}, batch {spec.batch_size}", flush=True)
        job, _ = run_job(spec, store, dataset=data, limit_train=limit, limit_test=1000,
                         worker=worker, timeout=3600)
    finally:
        worker.close()
    steady = job.snapshot()["history"][1:]
    totals = [row["seconds"] for row in steady]
    vals = [row.get("val_seconds") or 0.0 for row in steady]
    val = statistics.median(vals)
    return (describe(spec)["layers"], len(fit_xy[0]), 0 if val_xy is None else len(val_xy[0]),
            statistics.median(totals) - val, val, spec, policy_of(job.snapshot()["device"]),
            (min(totals), max(totals)))


def fit(samples):
    """Non-negative least squares for the training and validation coefficients, each
    sample weighted by 1 / its measured seconds, so that the error that counts (relative)
    weighs as much for a 3-second epoch as for a 60-second one. Convolutions trained in
    bfloat16 and in float32 get a coefficient each (`conv_flop`, `conv_flop_float32`); only
    those of the arithmetic the samples trained in (STUDIO_PRECISION) are fitted."""
    import numpy as np
    from scipy.optimize import nnls

    from fmnist_core.nets.estimate import calls, cost_terms
    from fmnist_core.nets.precision import MIXED

    a_train, b_train, a_val, b_val = [], [], [], []
    for layers, n_fit, n_val, train, val, spec, policy, _ in samples:
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
            looks = 2 if spec.test_flip else 1  # as `raw_epoch` counts it
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


def leave_one_out(measured: dict[str, tuple[float, float]]) -> dict[str, tuple[float, int]]:
    """For each spec, (the studio's machine factor from the other specs' measured and
    estimated epochs, how many). `measured` maps a spec to (measured s, raw estimated s)."""
    from fmnist_core.nets.estimate import machine_factor

    factors = {}
    for name in measured:
        others = [{"epoch_seconds": m, "estimate_seconds": e}
                  for other, (m, e) in measured.items() if other != name]
        factors[name] = machine_factor(others, None)
    return factors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="3,000 images, not judged")
    parser.add_argument("--fit", action="store_true", help="also fit the coefficients")
    args = parser.parse_args()
    engine_env()
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.nets.estimate import COEFFICIENTS, raw_epoch
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import presets

    data = load_dataset("fashion_mnist")
    limit = 3000 if args.smoke else None
    specs = dict(presets())
    if args.fit:
        specs.update(variants())
    rows, samples = [], []
    with tempfile.TemporaryDirectory(prefix="bench-estimate-") as tmp:
        store = RunStore(Path(tmp) / "studio")
        fastest = min(pace_seconds() for _ in range(3))
        attempts_log = []
        for name, spec in specs.items():
            tries = []
            for attempt in range(1, (1 if args.smoke else ATTEMPTS) + 1):
                before = pace_seconds()
                sample = measure(name, spec, store, data, limit)
                after = pace_seconds()
                fastest = min(fastest, before, after)
                pace = max(before, after) / fastest
                spread = sample[-1][1] / sample[-1][0]
                slow = pace > SLOW_PACE or spread > SLOW_SPREAD
                attempts_log.append({"spec": name, "attempt": attempt,
                                     "measured_s": sample[3] + sample[4],
                                     "epochs_2_4_s": list(sample[-1]), "pace": pace,
                                     "slow_spell": slow})
                print(f"  {name} attempt {attempt}: {sample[3] + sample[4]:.1f} s an epoch, "
                      f"pace {pace:.2f}× the run's fastest, epochs 2–4 spread {spread:.2f}×"
                      + (": a slow spell" if slow else ""), flush=True)
                tries.append((sample[3] + sample[4], attempt, pace, sample))
            tries.sort(key=lambda t: t[0])
            _, attempt, pace, sample = tries[(len(tries) - 1) // 2]  # the median attempt
            samples.append(sample)
            layers, n_fit, n_val, train, val, spec2, policy, spread = sample
            est_train, est_val = raw_epoch(layers, spec2, n_fit, n_val, policy=policy)
            measured, estimated = train + val, est_train + est_val
            error = estimated / measured - 1
            rows.append({"spec": name, "images": n_fit, "measured s": measured,
                         "epochs 2–4 s": f"{spread[0]:.1f}–{spread[1]:.1f}",
                         "fresh studio s": estimated, "error": f"{error:+.0%}",
                         "train s (est.)": f"{train:.1f} ({est_train:.1f})",
                         "validation s (est.)": f"{val:.1f} ({est_val:.1f})",
                         "attempts": "–".join(f"{t[0]:.1f}" for t in tries),
                         "judged": f"attempt {attempt}", "pace": f"{pace:.2f}×"})
    factors = leave_one_out({row["spec"]: (row["measured s"], row["fresh studio s"])
                             for row in rows if row["spec"] in presets()})
    for row in rows:
        if row["spec"] not in factors:  # a --fit variant: shown, not judged
            row.update({"target": "–", "met": verdict(None)})
            continue
        factor, used = factors[row["spec"]]
        corrected = row["fresh studio s"] * factor
        error = corrected / row["measured s"] - 1
        row.update({"after other runs s": corrected, "factor": f"{factor:.2f} ({used})",
                    "error after": f"{error:+.0%}",
                    "target": "±25 % after" if not args.smoke else "–",
                    "met": verdict(None if args.smoke else abs(error) <= TOLERANCE)})
    print_table("Estimated against measured seconds per epoch (median of epochs 2–4, full "
                "data)", rows)
    payload = {"rows": rows, "attempts": attempts_log, "fastest_pace_s": fastest}
    if args.fit:
        coefficients = fit(samples)
        print("\nfitted coefficients (seconds per unit):")
        for key, value in coefficients.items():
            print(f"  {key:16s} {value:.4g}")
        payload["fitted"] = coefficients
        refit = []
        for name, (layers, n_fit, n_val, train, val, spec2, policy, _) in zip(specs, samples):
            est_train, est_val = raw_epoch(layers, spec2, n_fit, n_val,
                                           {**COEFFICIENTS, **coefficients}, policy=policy)
            refit.append({"spec": name, "measured s": train + val,
                          "with the fitted coefficients s": est_train + est_val,
                          "error": f"{(est_train + est_val) / (train + val) - 1:+.0%}"})
        print_table("What the fitted coefficients would estimate", refit)
        payload["refit"] = refit
    write_result("estimate" + ("_smoke" if args.smoke else ""), payload)
    load_note()


if __name__ == "__main__":
    main()
