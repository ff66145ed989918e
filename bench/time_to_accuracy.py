"""Time to accuracy: the quick preset from process start, the best preset in the engine.

`quick` is trained as a user of the CLI does, three times with seeds 0, 1 and 2:
`python -m fmnist_core train --preset quick --seed S --json` in a fresh process on the full
official Fashion-MNIST, evaluated on the full official test set. Wall time runs from
starting the process to its exit: Python and TensorFlow start-up, reading the data, building
and tracing the model, training with validation after every epoch, testing, saving the
model, its epoch checkpoints and its unusual-input check. Each seed must meet the target.

`best` is trained by the studio's TrainingJob with the data already in memory, as the
server trains it; wall time runs from `job.start()` to the end of the job.

Targets: quick ≥ 90.0 % test in ≤ 30 s in each of 3 runs (stretch ≥ 91 % in ≤ 20 s);
best ≥ 94.0 % in ≤ 15 min (stretch ≥ 94.5 %).

    .venv/bin/python bench/time_to_accuracy.py [--smoke] [--only quick|best]

--smoke: 2,000 training and 1,000 test images, 1 epoch per preset, one quick seed, not
judged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from common import (ROOT, engine_env, load_note, print_table, run_in_scratch_store, verdict,
                    warm_keras, write_result)

GOALS = {"quick": (0.90, 30.0), "best": (0.940, 15 * 60.0)}  # test accuracy, wall seconds
STRETCH = {"quick": (0.91, 20.0), "best": (0.945, 15 * 60.0)}
QUICK_SEEDS = (0, 1, 2)


def first_epoch_reaching(history: list[dict], goal: float) -> tuple[int | None, float | None]:
    """(epoch, fit seconds up to its end) of the first epoch whose validation accuracy
    reached `goal`; (None, None) if none did."""
    seconds = 0.0
    for row in history:
        seconds += row.get("seconds", 0.0)
        if row.get("val_accuracy", 0.0) >= goal:
            return row["epoch"], seconds
    return None, None


def target_words(name: str) -> str:
    goal, budget = GOALS[name]
    return (f"≥ {goal:.0%} in ≤ {budget:.0f} s" if budget < 60
            else f"≥ {goal:.1%} in ≤ {budget / 60:.0f} min")


def quick_by_cli(seed: int, smoke: bool) -> tuple[dict, float]:
    """(the CLI's JSON result, wall seconds from process start to exit) of one quick run."""
    with tempfile.TemporaryDirectory(prefix="bench-tta-cli-") as home:
        command = [sys.executable, "-m", "fmnist_core", "train", "--preset", "quick",
                   "--seed", str(seed), "--json", "--home", home]
        if smoke:
            command += ["--epochs", "1", "--limit-train", "2000", "--limit-test", "1000"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800,
                              env={**os.environ, "STUDIO_HOME": home})
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"quick seed {seed} failed: {done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        from fmnist_core.store.runs import RunStore

        result["history"] = RunStore(home).epochs(result["run_id"])
        return result, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny version, not judged")
    parser.add_argument("--only", choices=sorted(GOALS), help="one preset only")
    args = parser.parse_args()
    engine_env()
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.nets.spec import preset

    names = [args.only] if args.only else list(GOALS)
    limit_train, limit_test = (2000, 1000) if args.smoke else (None, None)
    rows, details = [], []
    if "quick" in names:
        goal, budget = GOALS["quick"]
        spec = preset("quick")
        for seed in QUICK_SEEDS[:1] if args.smoke else QUICK_SEEDS:
            print(f"training quick by the CLI, seed {seed}: {spec.summary()}, {spec.epochs} "
                  f"epoch(s), batch {spec.batch_size}", flush=True)
            result, wall = quick_by_cli(seed, args.smoke)
            accuracy = result["test_accuracy"]
            epoch, fit_to_goal = first_epoch_reaching(result["history"], goal)
            stretch = accuracy >= STRETCH["quick"][0] and wall <= STRETCH["quick"][1]
            rows.append({
                "preset": "quick", "seed": seed, "measured": "process start → exit (CLI)",
                "batch_size": spec.batch_size, "epochs": result["epochs_run"],
                "wall s": wall, "fit s": result["seconds"], "test acc": accuracy,
                "target": target_words("quick"),
                "met": verdict(None if args.smoke else accuracy >= goal and wall <= budget),
                "stretch ≥ 91 % in ≤ 20 s": "–" if args.smoke else verdict(stretch),
                "first epoch val ≥ goal": epoch, "fit s to it": fit_to_goal,
            })
            details.append({"preset": "quick", "seed": seed, "spec": spec.to_dict(),
                            "history": result["history"], "device": result["device"]})
    if "best" in names:
        goal, budget = GOALS["best"]
        data = load_dataset("fashion_mnist")
        warm_keras()
        spec = preset("best")
        if args.smoke:
            spec = spec.replace(epochs=1)
        print(f"training best: {spec.summary()}, {spec.epochs} epoch(s), batch "
              f"{spec.batch_size}", flush=True)
        snap, run, wall = run_in_scratch_store(spec, data, limit_train, limit_test,
                                               prefix="bench-tta-")
        accuracy = snap["test_accuracy"]
        epoch, fit_to_goal = first_epoch_reaching(snap["history"], goal)
        rows.append({
            "preset": "best", "seed": spec.seed, "measured": "job start → end (server)",
            "batch_size": spec.batch_size, "epochs": len(snap["history"]),
            "wall s": wall, "fit s": float(run["train_seconds"]), "test acc": accuracy,
            "target": target_words("best"),
            "met": verdict(None if args.smoke else accuracy >= goal and wall <= budget),
            "stretch ≥ 91 % in ≤ 20 s": "–",
            "first epoch val ≥ goal": epoch, "fit s to it": fit_to_goal,
        })
        details.append({"preset": "best", "spec": spec.to_dict(), "history": snap["history"],
                        "stop_reason": run["stop_reason"], "device": run["device"]})
    title = "Time to accuracy on the official data"
    if args.smoke:
        title += " (smoke: 2,000 images, 1 epoch, not judged)"
    print_table(title, rows)
    print_table("Validation accuracy per epoch",
                [{"preset": d["preset"], "seed": d.get("seed"), "epoch": h["epoch"],
                  "seconds": h.get("seconds"), "accuracy": h.get("accuracy"),
                  "val_accuracy": h.get("val_accuracy")}
                 for d in details for h in d["history"]])
    load_note()
    write_result("time_to_accuracy" + (f"_{args.only}" if args.only else ""),
                 {"smoke": args.smoke, "rows": rows, "runs": details})


if __name__ == "__main__":
    main()
