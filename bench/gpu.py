"""The GPU run, ready: what a GPU changes, measured in one pass of at most about 5 minutes.

Run through `bench/gpu.sh` on a machine with a CUDA GPU and JAX (or TensorFlow); on any other
machine it measures the CPU the same way. Four measurements, each timed from outside:

- **seed-cnn epoch**: the CLI trains the seed-cnn preset for 3 epochs on the full data; the
  faster of epochs 2 and 3 (the first carries the compilation).
- **end to end**: `quick` and `best` through the CLI, process start to exit, with their test
  accuracy (`best` is cut to `--best-epochs`, 20 by default, to fit the 5 minutes; its preset
  has 22).
- **engine overhead**: the studio's `TrainingJob` against a plain `model.fit` of the same
  model, data, split, batch size and arithmetic (bench/engine_overhead.py's two runs), quick,
  1 epoch, in the order A B B A; the ratio of the median `fit` times.
- **classroom drain**: 30 quick runs (1 epoch on 6,000 training images each, 30 owners)
  queued at once on the server's own queue and worker processes, `--cap` trainings at once
  (2 by default: two processes share one card); from the first submit to the last stored
  result, with each run's wait and training time.

    bash bench/gpu.sh            # on the GPU machine (see docs/benchmarks.md)
    bash bench/gpu.sh --smoke    # seconds, on the CPU: 600 images, 1 epoch, 3 drained runs

--smoke is part of `make test` (tests/test_gpu_bench.py), so the script cannot rot while no
GPU machine is at hand. Each section's failure is recorded in the JSON and the table (the
others still run); the exit status is 1 when any section failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from common import ROOT, engine_env, print_table, write_result

from fmnist_core.words import plural

FULL = {"images": None, "epochs": 3, "quick_epochs": None, "best_epochs": 20, "drain_runs": 30,
        "drain_images": 6000, "limit_test": None}
# tiny enough for `make test` on 2 cores; the figures only show the script runs end to end
SMOKE = {"images": 600, "epochs": 1, "quick_epochs": 1, "best_epochs": 1, "drain_runs": 3,
         "drain_images": 300, "limit_test": 500}
RUN_TIMEOUT = 900  # seconds one CLI run may take before the section counts as failed


def cli_run(preset: str, plan: dict[str, Any], epochs: int, home: Path) -> tuple[dict, float]:
    """(the CLI's JSON result with its epochs, wall seconds from process start to exit)."""
    command = [sys.executable, "-m", "fmnist_core", "train", "--preset", preset,
               "--epochs", str(epochs), "--json", "--home", str(home)]
    if plan["images"]:
        command += ["--train-images", str(plan["images"])]
    if plan["limit_test"]:
        command += ["--limit-test", str(plan["limit_test"])]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, env={**os.environ, "STUDIO_HOME": str(home)})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{preset} exited {done.returncode}: {done.stderr.strip()[-600:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    from fmnist_core.store.runs import RunStore

    result["epoch_seconds"] = [row["seconds"] for row in RunStore(home).epochs(result["run_id"])]
    return result, wall


def seed_cnn_epoch(plan: dict[str, Any], scratch: Path) -> dict[str, Any]:
    result, wall = cli_run("seed-cnn", plan, plan["epochs"], scratch / "epoch")
    later = result["epoch_seconds"][1:] or result["epoch_seconds"]
    return {"epoch_seconds": min(later), "all_epochs": result["epoch_seconds"],
            "device": result["device"], "test_accuracy": result["test_accuracy"],
            "wall_seconds": wall}


def end_to_end(plan: dict[str, Any], scratch: Path) -> dict[str, Any]:
    out = {}
    from fmnist_core.nets.spec import presets

    for preset, epochs in (("quick", plan["quick_epochs"]), ("best", plan["best_epochs"])):
        epochs = epochs or presets()[preset].epochs  # None: the preset's own
        result, wall = cli_run(preset, plan, epochs, scratch / preset)
        out[preset] = {"epochs": epochs, "test_accuracy": result["test_accuracy"],
                       "wall_seconds": wall, "train_seconds": result["seconds"]}
    return out


def engine_overhead(plan: dict[str, Any], scratch: Path) -> dict[str, Any]:
    from engine_overhead import engine_run, plain_run

    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.nets.spec import preset
    from fmnist_core.store.runs import RunStore

    spec = preset("quick").replace(epochs=1)
    data = load_dataset("fashion_mnist")
    store = RunStore(scratch / "overhead")
    engine, plain = [], []
    for order in ("engine", "plain", "plain", "engine"):
        if order == "engine":
            engine.append(engine_run(spec, data, store, plan["images"], plan["limit_test"]))
        else:
            plain.append(plain_run(spec, data, plan["images"], plan["limit_test"], scratch))
    engine_fit = median([r["fit_seconds"] for r in engine])
    plain_fit = median([r["fit_seconds"] for r in plain])
    return {"engine_fit_seconds": engine_fit, "plain_fit_seconds": plain_fit,
            "ratio": engine_fit / plain_fit}


def classroom_drain(plan: dict[str, Any], scratch: Path, cap: int) -> dict[str, Any]:
    from fmnist_core.nets.spec import preset
    from fmnist_core.store.runs import RunStore
    from fmnist_core.training.jobqueue import JobQueue

    spec = preset("quick").replace(epochs=1, train_images=plan["drain_images"])
    store = RunStore(scratch / "drain")
    queue = JobQueue(store, max_concurrent=cap, limit_test=plan["limit_test"],
                     tick_seconds=0.5)
    try:
        started = time.perf_counter()
        handles = [queue.submit(spec, owner=f"student-{i:02d}")
                   for i in range(plan["drain_runs"])]
        for handle in handles:
            if not handle.wait(RUN_TIMEOUT):
                raise TimeoutError(f"run {handle.run_id} had not ended after {RUN_TIMEOUT} s")
        wall = time.perf_counter() - started
    finally:
        queue.close()
    rows = [store.get_run(h.run_id) for h in handles]
    failed = [r["id"] for r in rows if r["status"] != "completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} drained runs did not complete: {failed[:3]}")
    trains = [float(r["train_seconds"]) for r in rows]
    return {"runs": len(rows), "cap": cap, "wall_seconds": wall,
            "runs_per_minute": 60 * len(rows) / wall, "median_train_seconds": median(trains),
            "test_accuracy_median": median(float(r["test_accuracy"]) for r in rows)}


SECTIONS = {"seed-cnn epoch": seed_cnn_epoch, "end to end": end_to_end,
            "engine overhead": engine_overhead, "classroom drain": classroom_drain}


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One line a measurement, for the printed table."""
    rows = []

    def add(what: str, measured: str) -> None:
        rows.append({"what": what, "measured": measured})

    for name, result in results.items():
        if "error" in result:
            add(name, f"failed: {result['error']}")
        elif name == "seed-cnn epoch":
            add(name, f"{result['epoch_seconds']:.2f} s ({result['device']})")
        elif name == "end to end":
            for preset, row in result.items():
                add(f"{preset} ({plural(row['epochs'], 'epoch')}), start to exit",
                    f"{row['test_accuracy']:.2%} test in {row['wall_seconds']:.1f} s")
        elif name == "engine overhead":
            add(name, f"{result['ratio']:.3f}× ({result['engine_fit_seconds']:.2f} s against "
                      f"{result['plain_fit_seconds']:.2f} s)")
        elif name == "classroom drain":
            add(f"{plural(result['runs'], 'quick run')} drained, {result['cap']} at once",
                f"{result['wall_seconds']:.0f} s ({result['runs_per_minute']:.1f} runs a "
                f"minute, {result['median_train_seconds']:.1f} s training each)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="seconds on any CPU: 600 images, 1 epoch, 3 drained runs")
    parser.add_argument("--cap", type=int, default=2, help="trainings at once in the drain")
    parser.add_argument("--best-epochs", type=int, default=FULL["best_epochs"],
                        help="epochs of the best preset's end-to-end run")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append",
                        help="run only these measurements")
    args = parser.parse_args(argv)
    engine_env()
    plan = SMOKE if args.smoke else {**FULL, "best_epochs": args.best_epochs}
    results: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        for name, section in SECTIONS.items():
            if args.only and name not in args.only:
                continue
            scratch = Path(tmp) / name.replace(" ", "-")
            scratch.mkdir()
            try:
                results[name] = (section(plan, scratch, args.cap) if name == "classroom drain"
                                 else section(plan, scratch))
            except Exception as err:  # noqa: BLE001 - one failed section, the others still run
                results[name] = {"error": f"{type(err).__name__}: {err}"[:600]}
    total = time.perf_counter() - started
    print_table(f"GPU run ({'smoke' if args.smoke else 'full'}), {total:.0f} s in all",
                table_rows(results))
    path = write_result("gpu", {"smoke": args.smoke, "plan": plan, "cap": args.cap,
                                "total_seconds": total, "results": results})
    print(f"JSON: {path}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
