"""Engine overhead: the studio's TrainingJob against a plain `model.fit` of the same model.

For the seed-cnn and quick presets, one epoch each: A is a `TrainingJob` (worker thread,
progress callback, snapshots, run store, test evaluation, saved model), B is what a plain
Keras user writes with the engine's own `build_model` / `compile_model`: the same seed, data,
train/validation split, batch size, epochs and arithmetic (`fmnist_core.precision`),
`model.fit(..., verbose=0)`, and W is A in a
worker process, as the server trains (`fmnist_core.worker`: one process reused for every
run, loading the data itself, its progress relayed back). They alternate (A B W, W B A,
A B W) after one unmeasured warm-up of each, and the median of the per-round ratios is
reported. The headline ratios compare the `model.fit` calls (A's and W's are the engine's
own `train_seconds`, timed around its `model.fit`); the end-to-end ratios compare A's and
W's start → done with B's build + fit + test evaluation + save.

    .venv/bin/python bench/engine_overhead.py [--smoke]

--smoke: 2,000 training images, two rounds (A B W, W B A) without warm-up, not judged.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from common import (bench_args, engine_env, load_note, median, print_table, run_job, verdict,
                    warm_keras, write_result)

PRESETS = ("seed-cnn", "quick")
TARGET_RATIO = 1.03


def plain_fit_kwargs(spec, x, y) -> tuple[tuple, dict]:
    """(positional args, keyword args) of the plain `model.fit` that mirrors
    `TrainingJob._train`: the engine's own train/validation split and validation batch size
    where it has them, else Keras's `validation_split`."""
    from fmnist_core import fitloop as training

    kwargs = {"batch_size": spec.batch_size, "epochs": spec.epochs, "verbose": 0}
    split = getattr(training, "split_validation", None)
    if split is None:
        kwargs["validation_split"] = spec.validation_split
        return (x, y), kwargs
    fit_xy, val_xy = split(x, y, spec.validation_split)
    if val_xy is not None:
        kwargs["validation_data"] = val_xy
        if hasattr(training, "EVAL_BATCH_SIZE"):
            kwargs["validation_batch_size"] = training.EVAL_BATCH_SIZE
    return fit_xy, kwargs


def plain_run(spec, data, limit_train, limit_test, out_dir: Path) -> dict:
    """B: build, compile, fit, evaluate and save without the engine's job machinery."""
    import keras

    from fmnist_core import fitloop as training
    from fmnist_core import precision
    from fmnist_core.device import device_info
    from fmnist_core.model import build_model, compile_model

    started = time.perf_counter()
    x, y = data.x_train[:limit_train], data.y_train[:limit_train]
    keras.utils.set_random_seed(spec.seed)
    args, kwargs = plain_fit_kwargs(spec, x, y)
    # the arithmetic the engine trains in here (float32, or bfloat16 on a CPU made for it)
    policy = precision.training_policy(device_info())
    model = compile_model(build_model(spec, data.num_classes, dtype=policy), spec,
                          steps_per_epoch=math.ceil(len(args[0]) / spec.batch_size))
    fit_started = time.perf_counter()
    history = model.fit(*args, **kwargs)
    fit_seconds = time.perf_counter() - fit_started
    model.evaluate(data.x_test[:limit_test], data.y_test[:limit_test],
                   batch_size=getattr(training, "EVAL_BATCH_SIZE", None), verbose=0)
    model.save(out_dir / "plain.keras")
    total = time.perf_counter() - started
    val = history.history.get("val_accuracy")
    return {"fit_seconds": fit_seconds, "total_seconds": total,
            "val_accuracy": float(val[-1]) if val else None}


def engine_run(spec, data, store, limit_train, limit_test, worker=None) -> dict:
    """A (W with a worker process): the studio's TrainingJob, waited for from `start()` to
    its end."""
    job, wall = run_job(spec, store, dataset=data if worker is None else None,
                        limit_train=limit_train, limit_test=limit_test, worker=worker)
    row = store.get_run(job.run_id)
    history = job.snapshot()["history"]
    return {"fit_seconds": float(row["train_seconds"]), "total_seconds": wall,
            "val_accuracy": history[-1].get("val_accuracy") if history else None}


def fresh_keras() -> None:
    """Every run in this process starts from a clean Keras state, as every job in a worker
    process does: models and traced functions left from earlier runs slowed later ones here
    (a plain seed-cnn epoch went from 43 s to 83 s by the third round)."""
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()


def consecutive_runs(data, limit_train, limit_test, jobs: int) -> list[dict]:
    """The same quick epoch again and again in one process: plain `model.fit` in this
    process without clearing Keras's state between runs (what slowed the earlier benchmark's
    long-lived process), the same with `clear_session` first, and the server's reused worker
    process (which clears it before every job)."""
    from fmnist_core.runs import RunStore
    from fmnist_core.spec import preset
    from fmnist_core.worker import WorkerProcess

    spec = preset("quick").replace(epochs=1)
    series = {"plain fit, state kept": [], "plain fit, clear_session first": [],
              "the server's reused worker": []}
    worker = WorkerProcess()
    with tempfile.TemporaryDirectory(prefix="bench-consecutive-") as tmp:
        store, out_dir = RunStore(Path(tmp) / "studio"), Path(tmp)
        fresh_keras()
        for _ in range(jobs):
            series["plain fit, state kept"].append(
                plain_run(spec, data, limit_train, limit_test, out_dir)["fit_seconds"])
        for _ in range(jobs):
            fresh_keras()
            series["plain fit, clear_session first"].append(
                plain_run(spec, data, limit_train, limit_test, out_dir)["fit_seconds"])
        for _ in range(jobs):
            series["the server's reused worker"].append(
                engine_run(spec, data, store, limit_train, limit_test, worker)["fit_seconds"])
    worker.close()
    rows = []
    for what, seconds in series.items():
        row = {"process": what}
        row.update({f"job {i + 1}": value for i, value in enumerate(seconds)})
        row["last / first"] = seconds[-1] / seconds[0]
        rows.append(row)
        print(f"{what}: {', '.join(f'{v:.1f}' for v in seconds)} s", flush=True)
    return rows


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    engine_env()
    from fmnist_core.datasets import load_dataset
    from fmnist_core.runs import RunStore
    from fmnist_core.spec import preset
    from fmnist_core.worker import WorkerProcess

    limit_train, limit_test = (2000, 500) if args.smoke else (None, None)
    rounds = 2 if args.smoke else 3
    data = load_dataset("fashion_mnist")
    warm_keras()
    n_train = len(data.x_train[:limit_train])
    rows, raw = [], []
    worker = WorkerProcess()
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        store, out_dir = RunStore(Path(tmp) / "studio"), Path(tmp)
        for name in PRESETS:
            spec = preset(name).replace(epochs=1)
            runners = {"engine": lambda: engine_run(spec, data, store, limit_train, limit_test),
                       "plain": lambda: plain_run(spec, data, limit_train, limit_test, out_dir),
                       "worker": lambda: engine_run(spec, data, store, limit_train, limit_test,
                                                    worker)}
            if not args.smoke:
                for warm_up in runners.values():  # oneDNN, caches, imports
                    fresh_keras()
                    warm_up()
            results = {"engine": [], "plain": [], "worker": []}
            for r in range(rounds):
                order = ("engine", "plain", "worker") if r % 2 == 0 else \
                    ("worker", "plain", "engine")
                for which in order:
                    fresh_keras()
                    result = runners[which]()
                    results[which].append(result)
                    raw.append({"preset": name, "round": r + 1, "run": which, **result})
                    print(f"{name} round {r + 1} {which}: fit {result['fit_seconds']:.2f} s, "
                          f"total {result['total_seconds']:.2f} s", flush=True)
            a, b, w = results["engine"], results["plain"], results["worker"]
            fit_ratio = median([x["fit_seconds"] / y["fit_seconds"] for x, y in zip(a, b)])
            total_ratio = median([x["total_seconds"] / y["total_seconds"]
                                  for x, y in zip(a, b)])
            worker_fit = median([x["fit_seconds"] / y["fit_seconds"] for x, y in zip(w, b)])
            worker_total = median([x["total_seconds"] / y["total_seconds"]
                                   for x, y in zip(w, b)])
            rows.append({
                "preset": name,
                "batch_size": spec.batch_size,
                "train images": n_train,
                "rounds": rounds,
                "engine fit s": median([x["fit_seconds"] for x in a]),
                "plain fit s": median([x["fit_seconds"] for x in b]),
                "worker fit s": median([x["fit_seconds"] for x in w]),
                "fit ratio": fit_ratio,
                "worker fit ratio": worker_fit,
                "target": f"≤ {TARGET_RATIO}×",
                "met": verdict(None if args.smoke else
                               max(fit_ratio, worker_fit) <= TARGET_RATIO),
                "end-to-end ratio": total_ratio,
                "worker end-to-end ratio": worker_total,
                "engine val acc": a[-1]["val_accuracy"],
                "plain val acc": b[-1]["val_accuracy"],
                "worker val acc": w[-1]["val_accuracy"],
            })
    worker.close()
    slowdown = consecutive_runs(data, limit_train, limit_test, 2 if args.smoke else 4)
    title = ("Engine overhead: TrainingJob (thread, worker process) vs plain model.fit, "
             "1 epoch, median of rounds")
    if args.smoke:
        title += " (smoke: 2,000 images, not judged)"
    print_table(title, rows)
    print_table("Every measured run", raw)
    print_table("The long-lived-process slowdown: quick, 1 epoch, the same process job after "
                "job (fit seconds)", slowdown)
    load_note()
    write_result("engine_overhead", {
        "smoke": args.smoke, "rows": rows, "runs": raw, "target_ratio": TARGET_RATIO,
        "consecutive": slowdown,
        "baseline": "build_model + compile_model + model.fit(verbose=0) with the engine's "
                    "train/validation split and validation batch size; same seed",
    })


if __name__ == "__main__":
    main()
