"""Epoch time of seed-cnn at batch 32 and at the engine's own settings, against its floor.

The tutorial CNN (seed-cnn) is trained by the studio's TrainingJob for three epochs on the
full official data: at batch 32 (the Keras tutorials' default), as the preset stands in
float32 (`STUDIO_PRECISION=float32`), and as the preset stands with the engine's own
arithmetic (`fmnist_core.nets.precision`: bfloat16 on a CPU that multiplies it natively, else
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

Where the time beyond the floor goes (TensorFlow backend): every kernel that does the
network's arithmetic — each layer's forward pass, its weight (filter) gradient and, past
the first layer, its input gradient — is timed apart on random tensors of the step's
shapes, best of several calls less the cost of calling a traced function from Python (timed
on a function that does nothing), in the run's arithmetic at its batch size (validation's
forward kernels in float32 at the engine's validation batch, as the engine validates its
float32 copy). Their sum over an epoch's steps is the "kernel time": what the epoch would
take if nothing but these kernels ran, one after the other, at the pace they reach alone.
It is printed per kernel and against the floor and the epoch.

    .venv/bin/python bench/epoch_time.py [--smoke]

--smoke: 2,000 training images, 1 epoch per setting, 2048² matmuls, not judged.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from common import (bench_args, engine_env, load_note, print_table, run_job, timed,
                    verdict, warm_keras, write_result)

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


def kernel_rows(spec, policy: str, repeats: int) -> list[dict]:
    """Every arithmetic kernel of one training step of `spec`, and of one validation batch,
    timed apart (TensorFlow only; [] on another backend): see the module's docstring."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return []
    import tensorflow as tf

    from fmnist_core.nets.anatomy import describe
    from fmnist_core.training.validation import EVAL_BATCH_SIZE
    from fmnist_core.nets.model import build_model

    model = build_model(spec)
    # forward FLOPs per image of each layer, counted as the floor counts them
    per_image = {layer["name"]: layer["flops"] for layer in describe(spec)["layers"]}
    rng = np.random.default_rng(0)
    rows = []

    def tensor(shape, dtype):
        return tf.cast(tf.constant(rng.standard_normal(shape).astype(np.float32)), dtype)

    def graph(fn):
        return tf.function(fn, autograph=False)

    def best_ms(fn, *inputs) -> float:
        # A corner of the result comes back to the host, so the kernel has certainly run.
        return min(timed(lambda: fn(*inputs).numpy(), repeats, warmup=2))

    # What calling a traced function costs from Python, with two inputs and a corner of
    # one returned: paid once per call here, never by the kernels inside a training step.
    corner = graph(lambda a, b: tf.reshape(a, [-1])[:1] + tf.cast(tf.reshape(b, [-1])[:1],
                                                                  a.dtype))
    call_ms = best_ms(corner, tensor((spec.batch_size, 64), "float32"),
                      tensor((64, 64), "float32"))

    phases = (("training", "bfloat16" if policy == "mixed_bfloat16" else "float32",
               spec.batch_size), ("validation", "float32", EVAL_BATCH_SIZE))
    for phase, dtype, batch in phases:
        first = True  # the first layer with weights: no gradient of the image it is given
        for layer in model.layers:
            if isinstance(layer, keras.layers.Conv2D):
                _, h, w, cin = layer.input.shape
                _, ho, wo, cout = layer.output.shape
                k = layer.kernel_size
                strides, padding = layer.strides, layer.padding.upper()
                x, kern = tensor((batch, h, w, cin), dtype), tensor((*k, cin, cout), dtype)
                dy = tensor((batch, ho, wo, cout), dtype)
                kernels = {"forward": graph(
                    lambda x, kern, s=strides, p=padding:
                    tf.nn.conv2d(x, kern, s, p)[:1, :1, :1, :1])}
                if phase == "training":
                    kernels["filter gradient"] = graph(
                        lambda x, dy, shape=kern.shape, s=strides, p=padding:
                        tf.compat.v1.nn.conv2d_backprop_filter(
                            x, shape, dy, (1, *s, 1), p)[:1, :1, :1, :1])
                    if not first:
                        kernels["input gradient"] = graph(
                            lambda kern, dy, shape=x.shape, s=strides, p=padding:
                            tf.compat.v1.nn.conv2d_backprop_input(
                                shape, kern, dy, (1, *s, 1), p)[:1, :1, :1, :1])
                inputs = {"forward": (x, kern), "filter gradient": (x, dy),
                          "input gradient": (kern, dy)}
                shape = f"{batch}×{h}×{w}×{cin} → {ho}×{wo}×{cout}, {k[0]}×{k[1]}"
            elif isinstance(layer, keras.layers.Dense):
                n_in, n_out = layer.input.shape[-1], layer.units
                x, kern = tensor((batch, n_in), dtype), tensor((n_in, n_out), dtype)
                dy = tensor((batch, n_out), dtype)
                kernels = {"forward": graph(lambda x, kern: tf.matmul(x, kern)[:1, :1])}
                if phase == "training":
                    kernels["weight gradient"] = graph(
                        lambda x, dy: tf.matmul(x, dy, transpose_a=True)[:1, :1])
                    if not first:
                        kernels["input gradient"] = graph(
                            lambda kern, dy: tf.matmul(dy, kern, transpose_b=True)[:1, :1])
                inputs = {"forward": (x, kern), "weight gradient": (x, dy),
                          "input gradient": (kern, dy)}
                shape = f"{batch}×{n_in} → {n_out}"
            else:
                continue
            first = False
            flop = batch * per_image[layer.name]  # each of a layer's kernels does as much
            for what, fn in kernels.items():
                ms = max(best_ms(fn, *inputs[what]) - call_ms, 1e-3)
                rows.append({"phase": phase, "layer": layer.name, "kernel": what,
                             "shape": shape, "arithmetic": dtype, "batch": batch,
                             "GFLOP": flop / 1e9, "best ms": ms,
                             "GFLOP/s": flop / ms / 1e6, "call ms (subtracted)": call_ms})
    return rows


def kernel_seconds(rows: list[dict], images: int, val_images: int) -> float | None:
    """An epoch's kernel time: every training kernel once per training step, every
    validation kernel once per validation batch (None without kernel rows)."""
    if not rows:
        return None
    total = 0.0
    for phase, n in (("training", images), ("validation", val_images)):
        phase_rows = [row for row in rows if row["phase"] == phase]
        if phase_rows and n:
            steps = -(-n // phase_rows[0]["batch"])
            total += steps * sum(row["best ms"] for row in phase_rows) / 1000
    return total


def split_sizes(spec, n_train: int) -> tuple[int, int]:
    """(training images, validation images) per epoch after the engine's split."""
    from fmnist_core.training.validation import split_validation

    x = np.zeros((n_train, 1), np.uint8)
    fit_xy, val_xy = split_validation(x, x[:, 0], spec.validation_split)
    return len(fit_xy[0]), 0 if val_xy is None else len(val_xy[0])


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    engine_env()
    from fmnist_core.nets import precision
    from fmnist_core.nets.anatomy import describe
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.nets.device import device_info
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

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
        kernels: dict = {}
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
                kernels[spec, arithmetic] = kernel_rows(spec, policy, 5 if args.smoke else 20)
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
            kernel_s = kernel_seconds(kernels[spec, arithmetic], images, val_images)
            derivation.append(
                f"{label} ({arithmetic}): {images:,} × {flops_image / 1e6:.1f} MFLOP (train) + "
                f"{val_images:,} × {forward_image / 1e6:.1f} MFLOP (validation) = "
                f"{flops_epoch / 1e12:.3f} TFLOP / {peak / 1e9:.1f} GFLOP/s ({arithmetic}) = "
                f"{floor:.1f} s floor; measured {steady:.1f} s = {ratio:.2f}× floor"
                + (f" ({fp32_ratio:.2f}× the FP32 floor)" if arithmetic != "float32" else "")
                + (f"; its kernels timed apart {kernel_s:.1f} s = {kernel_s / floor:.2f}× "
                   f"floor, the epoch {steady / kernel_s:.2f}× its kernels" if kernel_s else ""))
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
                "kernel s": kernel_s,
                "kernels × floor": kernel_s / floor if kernel_s else None,
                "epoch × kernels": steady / kernel_s if kernel_s else None,
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
    engine_kernels = kernels.get((engine_spec, rows[-1]["arithmetic"]), [])
    if engine_kernels:
        print_table("The engine preset's kernels, each timed apart (best of several calls; "
                    "matmul rate above for comparison)", engine_kernels)
    load_note()
    write_result("epoch_time", {
        "smoke": args.smoke, "rows": rows, "peak": peak_rows, "peak_flops": peaks,
        "train_flops_per_epoch_60000": full_epoch, "histories": histories,
        "derivation": derivation,
        "kernels": {f"{spec.batch_size}/{arithmetic}": rows_
                    for (spec, arithmetic), rows_ in kernels.items()},
        "note": "epoch seconds are the engine's per-epoch figure and include its validation "
                "pass, so the floor counts the validation images' forward FLOPs too",
    })


if __name__ == "__main__":
    main()
