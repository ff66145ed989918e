"""Epoch time of seed-cnn at batch 32 and at the engine's own settings, against its floor.

The tutorial CNN (seed-cnn) is trained by the studio's TrainingJob for three epochs on the
full official data: at batch 32 (the Keras tutorials' default), as the preset stands in
float32 (`STUDIO_PRECISION=float32`), and as the preset stands with the engine's own
arithmetic (`fmnist_core.precision`: bfloat16 on a CPU that multiplies it natively, else
float32; the last two are one run where they are the same). The steady epoch is the
faster of epochs 2 and 3 (the first also traces the training function), as the rate is the
best of several matmuls: this 2-core virtual machine has spells in which the same work takes
twice as long (see bench/estimate.py), and best against best compares the epoch with the
arithmetic at the machine's undisturbed pace. Epoch seconds are the engine's own per-epoch
figure, validation included.

The arithmetic floor of an epoch is the FLOPs it must do over the machine's rate in the
arithmetic the run computes in (FP32, or bfloat16 for a bfloat16 run):
the training images' forward and backward passes (≈ 33.3 MFLOP per image, from the
engine's `describe`) plus the validation images' forward pass (≈ 11.1 MFLOP each), since the
epoch's seconds include its validation. The FP32 rate is measured here, in the same run, as
the best of several large float32 matmuls through the Keras backend (`keras.ops.matmul`) and
through numpy, whichever is faster; the bfloat16 rate as the best bfloat16 matmul through
the Keras backend. A bfloat16 run is also shown against the FP32 floor ("× FP32 floor"). The
derivation is printed with the table.

Target: the steady epoch at the engine's settings ≤ 1.2× its floor (in its own arithmetic).

    .venv/bin/python bench/epoch_time.py [--smoke]

--smoke: 2,000 training images, 1 epoch per setting, 2048² matmuls, not judged.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from common import (bench_args, engine_env, load_note, print_table, run_job, verdict,
                    warm_keras, write_result)

TARGET_RATIO = 1.2
TUTORIAL_BATCH = 32


def matmul_rate(n: int, repeats: int) -> list[dict]:
    """Best-of-`repeats` rate of an n×n matmul: float32 through Keras and numpy, bfloat16
    through Keras."""
    import keras

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    a, b = keras.ops.convert_to_tensor(a_np), keras.ops.convert_to_tensor(b_np)
    a16, b16 = keras.ops.cast(a, "bfloat16"), keras.ops.cast(b, "bfloat16")
    flops = 2.0 * n ** 3

    def through_keras() -> None:
        # The scalar comes back to the host, so the product has certainly been computed.
        keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, b)))

    def through_keras_bf16() -> None:
        product = keras.ops.matmul(a16, b16)
        keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.cast(product, "float32")))

    def through_numpy() -> None:
        np.matmul(a_np, b_np)

    rows = []
    backend = keras.backend.backend()
    for method, call in ((f"keras.ops.matmul ({backend}), float32", through_keras),
                         ("numpy.matmul, float32", through_numpy),
                         (f"keras.ops.matmul ({backend}), bfloat16", through_keras_bf16)):
        call()  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        best = min(times)
        rows.append({"method": method, "dtype": method.rsplit(", ", 1)[1], "n": n,
                     "repeats": repeats, "best s": best,
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
    from fmnist_core import precision
    from fmnist_core.anatomy import describe
    from fmnist_core.datasets import load_dataset
    from fmnist_core.device import device_info
    from fmnist_core.runs import RunStore
    from fmnist_core.spec import preset

    device = warm_keras()
    limit_train = 2000 if args.smoke else None
    epochs = 1 if args.smoke else 3
    peak_rows = matmul_rate(2048 if args.smoke else 4096, 3 if args.smoke else 7)
    peaks = {dtype: max(r["GFLOP/s"] for r in peak_rows if r["dtype"] == dtype) * 1e9
             for dtype in ("float32", "bfloat16")}
    print_table("Measured rates (best of several matmuls)", peak_rows)

    data = load_dataset("fashion_mnist")
    n_train = len(data.x_train[:limit_train])
    engine_spec = preset("seed-cnn").replace(epochs=epochs)
    configured = os.environ.get(precision.ENV, "auto")  # the engine's arithmetic as set here
    settings = [("tutorial batch 32", engine_spec.replace(batch_size=TUTORIAL_BATCH),
                 configured),
                ("engine preset, float32", engine_spec, "float32"),
                ("engine preset", engine_spec, configured)]
    rows, histories = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-epoch-") as tmp:
        store = RunStore(Path(tmp) / "studio")
        measured: dict = {}
        derivation: list[str] = []
        for label, spec, wanted in settings:
            os.environ[precision.ENV] = wanted
            policy = precision.training_policy(device_info())
            arithmetic = "bfloat16" if policy == precision.MIXED else "float32"
            if (spec, arithmetic) not in measured:
                print(f"training seed-cnn, {label}: batch {spec.batch_size}, {arithmetic}, "
                      f"{epochs} epoch(s)", flush=True)
                job, _ = run_job(spec, store, dataset=data, limit_train=limit_train,
                                 limit_test=1000)
                measured[spec, arithmetic] = job.snapshot()["history"]
            history = histories[label] = measured[spec, arithmetic]
            images, val_images = split_sizes(spec, n_train)
            info = describe(spec, train_images=images)
            flops_image, forward_image = info["train_flops_per_image"], info["flops_per_image"]
            flops_epoch = flops_image * images + forward_image * val_images
            peak = peaks[arithmetic]
            floor = flops_epoch / peak
            steady = min(row["seconds"] for row in history[1:] or history)
            engine_row = label == "engine preset"
            ratio = steady / floor
            fp32_ratio = steady / (flops_epoch / peaks["float32"])
            derivation.append(
                f"{label} ({arithmetic}): {images:,} × {flops_image / 1e6:.1f} MFLOP (train) + "
                f"{val_images:,} × {forward_image / 1e6:.1f} MFLOP (validation) = "
                f"{flops_epoch / 1e12:.3f} TFLOP / {peak / 1e9:.1f} GFLOP/s ({arithmetic}) = "
                f"{floor:.1f} s floor; measured {steady:.1f} s = {ratio:.2f}× floor"
                + (f" ({fp32_ratio:.2f}× the FP32 floor)" if arithmetic != "float32" else ""))
            rows.append({
                "setting": label,
                "arithmetic": arithmetic,
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
                "× FP32 floor": fp32_ratio,
                "% of peak": 100 / ratio,
                "target": f"≤ {TARGET_RATIO:g}× floor" if engine_row else "–",
                "met": (verdict(None if args.smoke else ratio <= TARGET_RATIO)
                        if engine_row else "–"),
            })
    os.environ[precision.ENV] = configured
    full_epoch = describe(engine_spec, train_images=60_000)["train_flops_per_epoch"]
    fp32 = peaks["float32"]
    title = (f"seed-cnn epoch time on {device['device']} ({device['detail']}), "
             f"FP32 peak {fp32 / 1e9:.0f} GFLOP/s, bfloat16 {peaks['bfloat16'] / 1e9:.0f} "
             f"(training all 60,000 images would be {full_epoch / 1e12:.2f} TFLOP, "
             f"{full_epoch / fp32:.1f} s in FP32)")
    if args.smoke:
        title += " (smoke: 2,000 images, 1 epoch, not judged)"
    print_table(title, rows)
    print("The floor, derived:")
    for line in derivation:
        print("  " + line)
    load_note()
    write_result("epoch_time", {
        "smoke": args.smoke, "rows": rows, "peak": peak_rows, "peak_flops": peaks,
        "train_flops_per_epoch_60000": full_epoch, "histories": histories,
        "derivation": derivation,
        "note": "epoch seconds are the engine's per-epoch figure and include its validation "
                "pass, so the floor counts the validation images' forward FLOPs too",
    })


if __name__ == "__main__":
    main()
