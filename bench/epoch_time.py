"""Epoch time of seed-cnn at batch 32 and at the engine's own settings, against its floor.

The tutorial CNN (seed-cnn) is trained by the studio's TrainingJob for three epochs on the
full official data, once at batch 32 (the Keras tutorials' default) and once as the preset
stands (its batch size and whatever else the engine has tuned). The steady epoch is the
faster of epochs 2 and 3 (the first also traces the training function), as the rate is the
best of several matmuls: this 2-core virtual machine has spells in which the same work takes
twice as long (see bench/estimate.py), and best against best compares the epoch with the
arithmetic at the machine's undisturbed pace. Epoch seconds are the engine's own per-epoch
figure, validation included.

The arithmetic floor of an epoch is the FLOPs it must do over the machine's FP32 rate:
the training images' forward and backward passes (≈ 33.3 MFLOP per image, from the
engine's `describe`) plus the validation images' forward pass (≈ 11.1 MFLOP each), since the
epoch's seconds include its validation. The rate is measured here, in the same run, as the
best of several large float32 matmuls through the Keras backend (`keras.ops.matmul`) and
through numpy, whichever is faster. The derivation is printed with the table.

Target: the steady epoch at the engine's settings ≤ 1.2× its floor.

    .venv/bin/python bench/epoch_time.py [--smoke]

--smoke: 2,000 training images, 1 epoch per setting, 2048² matmuls, not judged.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from common import (bench_args, engine_env, load_note, print_table, run_job, verdict,
                    warm_keras, write_result)

TARGET_RATIO = 1.2
TUTORIAL_BATCH = 32


def matmul_rate(n: int, repeats: int) -> list[dict]:
    """Best-of-`repeats` FP32 rate of an n×n float32 matmul, through Keras and numpy."""
    import keras

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    a, b = keras.ops.convert_to_tensor(a_np), keras.ops.convert_to_tensor(b_np)
    flops = 2.0 * n ** 3

    def through_keras() -> None:
        # The scalar comes back to the host, so the product has certainly been computed.
        keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, b)))

    def through_numpy() -> None:
        np.matmul(a_np, b_np)

    rows = []
    for method, call in ((f"keras.ops.matmul ({keras.backend.backend()})", through_keras),
                         ("numpy.matmul", through_numpy)):
        call()  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        best = min(times)
        rows.append({"method": method, "n": n, "repeats": repeats, "best s": best,
                     "GFLOP/s": flops / best / 1e9})
    return rows


def split_sizes(spec, n_train: int) -> tuple[int, int]:
    """(training images, validation images) per epoch after the engine's split."""
    from fmnist_core.fitloop import split_validation

    x = np.zeros((n_train, 1), np.uint8)
    fit_xy, val_xy = split_validation(x, x[:, 0], spec.validation_split)
    return len(fit_xy[0]), 0 if val_xy is None else len(val_xy[0])


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    engine_env()
    from fmnist_core.datasets import load_dataset
    from fmnist_core.model import describe
    from fmnist_core.runs import RunStore
    from fmnist_core.spec import preset

    device = warm_keras()
    limit_train = 2000 if args.smoke else None
    epochs = 1 if args.smoke else 3
    peak_rows = matmul_rate(2048 if args.smoke else 4096, 3 if args.smoke else 7)
    peak = max(r["GFLOP/s"] for r in peak_rows) * 1e9
    print_table("Measured FP32 rate (best of several float32 matmuls)", peak_rows)

    data = load_dataset("fashion_mnist")
    n_train = len(data.x_train[:limit_train])
    engine_spec = preset("seed-cnn").replace(epochs=epochs)
    settings = [("tutorial batch 32", engine_spec.replace(batch_size=TUTORIAL_BATCH)),
                ("engine preset", engine_spec)]
    rows, histories = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-epoch-") as tmp:
        store = RunStore(Path(tmp) / "studio")
        measured: dict = {}
        derivation: list[str] = []
        for label, spec in settings:
            if spec not in measured:
                print(f"training seed-cnn, {label}: batch {spec.batch_size}, {epochs} epoch(s)",
                      flush=True)
                job, _ = run_job(spec, store, dataset=data, limit_train=limit_train,
                                 limit_test=1000)
                measured[spec] = job.snapshot()["history"]
            history = histories[label] = measured[spec]
            images, val_images = split_sizes(spec, n_train)
            info = describe(spec, train_images=images)
            flops_image, forward_image = info["train_flops_per_image"], info["flops_per_image"]
            flops_epoch = flops_image * images + forward_image * val_images
            floor = flops_epoch / peak
            steady = min(row["seconds"] for row in history[1:] or history)
            engine_row = label == "engine preset"
            ratio = steady / floor
            derivation.append(
                f"{label}: {images:,} × {flops_image / 1e6:.1f} MFLOP (train) + {val_images:,} × "
                f"{forward_image / 1e6:.1f} MFLOP (validation) = {flops_epoch / 1e12:.3f} TFLOP"
                f" / {peak / 1e9:.1f} GFLOP/s = {floor:.1f} s floor; measured {steady:.1f} s "
                f"= {ratio:.2f}× floor")
            rows.append({
                "setting": label,
                "batch_size": spec.batch_size,
                "images/epoch": images,
                "val images": val_images,
                "epochs": len(history),
                "first epoch s": history[0]["seconds"],
                "steady epoch s": steady,
                "images/s": images / steady,
                "TFLOP/epoch": flops_epoch / 1e12,
                "floor s": floor,
                "× floor": ratio,
                "% of peak": 100 / ratio,
                "target": f"≤ {TARGET_RATIO:g}× floor" if engine_row else "–",
                "met": (verdict(None if args.smoke else ratio <= TARGET_RATIO)
                        if engine_row else "–"),
            })
    full_epoch = describe(engine_spec, train_images=60_000)["train_flops_per_epoch"]
    title = (f"seed-cnn epoch time on {device['device']} ({device['detail']}), "
             f"peak {peak / 1e9:.0f} GFLOP/s (training all 60,000 images would be "
             f"{full_epoch / 1e12:.2f} TFLOP, {full_epoch / peak:.1f} s)")
    if args.smoke:
        title += " (smoke: 2,000 images, 1 epoch, not judged)"
    print_table(title, rows)
    print("The floor, derived:")
    for line in derivation:
        print("  " + line)
    load_note()
    write_result("epoch_time", {
        "smoke": args.smoke, "rows": rows, "peak": peak_rows, "peak_flops": peak,
        "train_flops_per_epoch_60000": full_epoch, "histories": histories,
        "derivation": derivation,
        "note": "epoch seconds are the engine's per-epoch figure and include its validation "
                "pass, so the floor counts the validation images' forward FLOPs too",
    })


if __name__ == "__main__":
    main()
