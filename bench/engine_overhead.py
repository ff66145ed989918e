"""Engine overhead: the studio's TrainingJob against a plain `model.fit` of the same model.

For the seed-cnn and quick presets, one epoch each: A is a `TrainingJob` (worker thread,
progress callback, snapshots, run store, test evaluation, saved model), B is what a plain
Keras user writes with the engine's own `build_model` / `compile_model`: the same seed, data,
train/validation split, batch size, epochs and arithmetic (`fmnist_core.nets.precision`), fed as
the engine feeds its batches (`fmnist_core.data.feed`), `model.fit(..., verbose=0)`, and W is A in
a worker process, as the server trains (`fmnist_core.training.worker`: one process reused for every
run, loading the data itself, its progress relayed back). C is B with the arrays handed to
`fit` as they are: Keras's own tf.data pipeline, whose autotuner stalls an iterator's end by
up to seconds (see `fmnist_core.data.feed`); it is shown, not judged, and run in the first
two rounds only. They alternate (A B W C, C W B A, A B W, W B A, A B W) after one unmeasured
warm-up of each.

The judged ratio is the median of the five per-round ratios (A's `fit` over B's in the same
round, W's over B's), with the interval that holds the true median at 94 % whatever the
scatter (between the smallest and the largest ratio for five rounds; see
`common.median_interval`). On this 2-core virtual machine the same epoch takes up to a third
longer from one minute to the next (the plain quick fit 3.8–5.9 s in one run), so a round's
ratio moves by more than the 3 % target: the verdict is yes when the whole interval is
≤ 1.03×, no when all of it is above, and unresolved otherwise, and no single figure is
taken for more than it can tell. Best against best (each one's fastest `fit`) is printed
beside it. The ratios compare the `model.fit` calls (A's and W's are the engine's own
`train_seconds`, timed around its `model.fit`); the end-to-end ratios (median of rounds)
compare A's and W's start → done with B's build + fit + test evaluation + save.

    .venv/bin/python bench/engine_overhead.py [--smoke]

--smoke: 2,000 training images, two rounds (A B W C, C W B A) without warm-up, not judged.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from common import (bench_args, engine_env, interval_verdict, load_note, median,
                    median_interval, print_table, run_job, verdict, warm_keras, write_result)

PRESETS = ("seed-cnn", "quick")
TARGET_RATIO = 1.03
ARRAYS_ROUNDS = 2  # rounds that also time C, the arrays fed by Keras's own pipeline


def plain_fit_kwargs(spec, x, y, fed: bool = True) -> tuple[tuple, dict]:
    """(positional args, keyword args) of the plain `model.fit` that mirrors
    `TrainingJob._train`: the engine's own train/validation split and validation batch size
    where it has them, else Keras's `validation_split`. `fed`: the batches come as the
    engine feeds them (`fmnist_core.data.feed`: on TensorFlow a tf.data pipeline without
    autotuning); else the arrays go to `fit` as most Keras code passes them."""
    from fmnist_core.training import validation as training

    feed = _feed() if fed else None
    kwargs = {"epochs": spec.epochs, "verbose": 0}
    split = getattr(training, "split_validation", None)
    if split is None:
        kwargs.update(batch_size=spec.batch_size, validation_split=spec.validation_split)
        return (x, y), kwargs
    fit_xy, val_xy = split(x, y, spec.validation_split)
    eval_batch = getattr(training, "EVAL_BATCH_SIZE", None)
    if feed is None:
        args = fit_xy
        kwargs["batch_size"] = spec.batch_size
    else:
        args, extra = feed.training_input(*fit_xy, spec.batch_size, seed=spec.seed)
        kwargs.update(extra)
    if val_xy is not None:
        kwargs["validation_data"] = val_xy if feed is None else \
            feed.labelled_input(*val_xy, eval_batch)
        if isinstance(kwargs["validation_data"], tuple) and eval_batch:
            kwargs["validation_batch_size"] = eval_batch
    return args, kwargs


def _feed():
    """`fmnist_core.data.feed`, or None in an engine from before it."""
    try:
        from fmnist_core.data import feed
    except ImportError:
        return None
    return feed


def plain_run(spec, data, limit_train, limit_test, out_dir: Path, fed: bool = True) -> dict:
    """B: build, compile, fit, evaluate and save without the engine's job machinery (C:
    the same with the arrays given to Keras as they are, `fed=False`)."""
    import keras

    from fmnist_core.training import validation as training
    from fmnist_core.nets import precision
    from fmnist_core.nets.device import device_info
    from fmnist_core.nets.model import build_model, compile_model

    started = time.perf_counter()
    x, y = data.x_train[:limit_train], data.y_train[:limit_train]
    keras.utils.set_random_seed(spec.seed)
    args, kwargs = plain_fit_kwargs(spec, x, y, fed)
    n_fit = len(x) - int(len(x) * spec.validation_split)
    # the arithmetic the engine trains in here (float32, or bfloat16 on a CPU made for it)
    policy = precision.training_policy(device_info())
    model = compile_model(build_model(spec, data.num_classes, dtype=policy), spec,
                          steps_per_epoch=math.ceil(n_fit / spec.batch_size))
    fit_started = time.perf_counter()
    history = model.fit(*args, **kwargs)
    fit_seconds = time.perf_counter() - fit_started
    x_test, y_test = data.x_test[:limit_test], data.y_test[:limit_test]
    eval_batch = getattr(training, "EVAL_BATCH_SIZE", None)
    feed = _feed() if fed else None
    test = (x_test, y_test) if feed is None else feed.labelled_input(x_test, y_test,
                                                                      eval_batch)
    if isinstance(test, tuple):
        model.evaluate(*test, batch_size=eval_batch, verbose=0)
    else:
        model.evaluate(test, verbose=0)
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
    long-lived process), the same with `clear_session` first, the server's reused worker
    process (which clears it before every job), and plain `model.fit` on the arrays, fed by
    Keras's own pipeline (the slowdown's cause: `fmnist_core.data.feed`)."""
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset
    from fmnist_core.training.worker import WorkerProcess

    spec = preset("quick").replace(epochs=1)
    series = {"plain fit, state kept": [], "plain fit, clear_session first": [],
              "the server's reused worker": [],
              "plain fit on the arrays (Keras's own pipeline)": []}
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
        for _ in range(jobs):
            fresh_keras()
            series["plain fit on the arrays (Keras's own pipeline)"].append(
                plain_run(spec, data, limit_train, limit_test, out_dir,
                          fed=False)["fit_seconds"])
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
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset
    from fmnist_core.training.worker import WorkerProcess

    limit_train, limit_test = (2000, 500) if args.smoke else (None, None)
    rounds = 2 if args.smoke else 5
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
                                                    worker),
                       "arrays": lambda: plain_run(spec, data, limit_train, limit_test, out_dir,
                                                   fed=False)}
            if not args.smoke:
                for warm_up in runners.values():  # oneDNN, caches, imports
                    fresh_keras()
                    warm_up()
            results = {which: [] for which in runners}
            for r in range(rounds):
                order = ("engine", "plain", "worker", "arrays") if r % 2 == 0 else \
                    ("arrays", "worker", "plain", "engine")
                if r >= ARRAYS_ROUNDS:
                    order = tuple(which for which in order if which != "arrays")
                for which in order:
                    fresh_keras()
                    result = runners[which]()
                    results[which].append(result)
                    raw.append({"preset": name, "round": r + 1, "run": which, **result})
                    print(f"{name} round {r + 1} {which}: fit {result['fit_seconds']:.2f} s, "
                          f"total {result['total_seconds']:.2f} s", flush=True)
            a, b, w, c = (results[which] for which in ("engine", "plain", "worker", "arrays"))
            fastest = {which: min(x["fit_seconds"] for x in results[which])
                       for which in ("engine", "plain", "worker")}
            thread_rounds = [x["fit_seconds"] / y["fit_seconds"] for x, y in zip(a, b)]
            worker_rounds = [x["fit_seconds"] / y["fit_seconds"] for x, y in zip(w, b)]
            fit_ratio, worker_fit = median(thread_rounds), median(worker_rounds)
            thread_low, thread_high, cover = median_interval(thread_rounds)
            worker_low, worker_high, _ = median_interval(worker_rounds)
            verdicts = {interval_verdict(thread_low, thread_high, TARGET_RATIO),
                        interval_verdict(worker_low, worker_high, TARGET_RATIO)}
            met = "no" if "no" in verdicts else ("yes" if verdicts == {"yes"} else
                                                 "unresolved")
            total_ratio = median([x["total_seconds"] / y["total_seconds"]
                                  for x, y in zip(a, b)])
            worker_total = median([x["total_seconds"] / y["total_seconds"]
                                   for x, y in zip(w, b)])
            arrays_fit = median([x["fit_seconds"] / y["fit_seconds"] for x, y in zip(c, b)])
            rows.append({
                "preset": name,
                "batch_size": spec.batch_size,
                "train images": n_train,
                "rounds": rounds,
                "engine fit s": median([x["fit_seconds"] for x in a]),
                "plain fit s": median([x["fit_seconds"] for x in b]),
                "worker fit s": median([x["fit_seconds"] for x in w]),
                "fit ratio": fit_ratio,
                "interval": f"{thread_low:.2f}–{thread_high:.2f}",
                "worker fit ratio": worker_fit,
                "worker interval": f"{worker_low:.2f}–{worker_high:.2f}",
                "interval holds the median": f"{cover:.0%}",
                "target": f"≤ {TARGET_RATIO}×",
                "met": verdict(None) if args.smoke else met,
                "best / best": fastest["engine"] / fastest["plain"],
                "worker best / best": fastest["worker"] / fastest["plain"],
                "end-to-end ratio": total_ratio,
                "worker end-to-end ratio": worker_total,
                "engine val acc": a[-1]["val_accuracy"],
                "plain val acc": b[-1]["val_accuracy"],
                "worker val acc": w[-1]["val_accuracy"],
                "arrays fit s": median([x["fit_seconds"] for x in c]),
                "arrays / plain fit": arrays_fit,
            })
    worker.close()
    slowdown = consecutive_runs(data, limit_train, limit_test, 2 if args.smoke else 4)
    title = ("Engine overhead: TrainingJob (thread, worker process) vs plain model.fit, "
             "1 epoch, median of the rounds' ratios and the interval that holds it")
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
                    "train/validation split, validation batch size and input feed; same seed",
    })


if __name__ == "__main__":
    main()
