"""Time to accuracy: the quick and best presets trained by the studio's TrainingJob.

Each preset is trained as a student would (its own epochs, batch size, learning rate and
target accuracy, whatever the engine has tuned them to) on the full official Fashion-MNIST,
and evaluated on the full official test set. Wall time runs from `job.start()` to the end of
the job (build, fit with validation, test evaluation and saving), with the dataset already
in memory as it is in the server.

Targets: quick reaches 90 % test accuracy in ≤ 30 s wall; best reaches ≥ 94.0 % in ≤ 15 min.

    .venv/bin/python bench/time_to_accuracy.py [--smoke]

--smoke: 2,000 training and 1,000 test images, 1 epoch per preset, not judged.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import (bench_args, engine_env, load_note, print_table, run_job, verdict,
                    warm_keras, write_result)

GOALS = {"quick": (0.90, 30.0), "best": (0.940, 15 * 60.0)}  # test accuracy, wall seconds


def first_epoch_reaching(history: list[dict], goal: float) -> tuple[int | None, float | None]:
    """(epoch, fit seconds up to its end) of the first epoch whose validation accuracy
    reached `goal`; (None, None) if none did."""
    seconds = 0.0
    for row in history:
        seconds += row.get("seconds", 0.0)
        if row.get("val_accuracy", 0.0) >= goal:
            return row["epoch"], seconds
    return None, None


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    engine_env()
    from fmnist_core.datasets import load_dataset
    from fmnist_core.runs import RunStore
    from fmnist_core.spec import preset

    limit_train, limit_test = (2000, 1000) if args.smoke else (None, None)
    data = load_dataset("fashion_mnist")
    warm_keras()
    rows, details = [], []
    with tempfile.TemporaryDirectory(prefix="bench-tta-") as tmp:
        store = RunStore(Path(tmp) / "studio")
        for name, (goal, budget) in GOALS.items():
            spec = preset(name)
            if args.smoke:
                spec = spec.replace(epochs=1)
            print(f"training {name}: {spec.summary()}, {spec.epochs} epoch(s), "
                  f"batch {spec.batch_size}", flush=True)
            job, wall = run_job(spec, store, dataset=data, limit_train=limit_train,
                                limit_test=limit_test, timeout=2 * 3600)
            snap = job.snapshot()
            run = store.get_run(job.run_id)
            history = snap["history"]
            accuracy = snap["test_accuracy"]
            epoch, fit_to_goal = first_epoch_reaching(history, goal)
            ok = accuracy >= goal and wall <= budget
            target = (f"≥ {goal:.0%} in ≤ {budget:.0f} s" if budget < 60
                      else f"≥ {goal:.1%} in ≤ {budget / 60:.0f} min")
            rows.append({
                "preset": name,
                "batch_size": spec.batch_size,
                "epochs (spec)": spec.epochs,
                "epochs run": len(history),
                "train images": len(data.x_train[:limit_train]),
                "test images": len(data.x_test[:limit_test]),
                "wall s": wall,
                "fit s": float(run["train_seconds"]),
                "test acc": accuracy,
                "target": target,
                "met": verdict(None if args.smoke else ok),
                "first epoch val ≥ goal": epoch,
                "fit s to it": fit_to_goal,
            })
            details.append({"preset": name, "spec": spec.to_dict(), "history": history,
                            "stop_reason": run["stop_reason"], "device": run["device"]})
    title = "Time to accuracy on the official data (wall: start → trained, tested, saved)"
    if args.smoke:
        title += " (smoke: 2,000 images, 1 epoch, not judged)"
    print_table(title, rows)
    print_table("Validation accuracy per epoch",
                [{"preset": d["preset"], "epoch": h["epoch"], "seconds": h.get("seconds"),
                  "accuracy": h.get("accuracy"), "val_accuracy": h.get("val_accuracy")}
                 for d in details for h in d["history"]])
    load_note()
    write_result("time_to_accuracy", {"smoke": args.smoke, "rows": rows, "runs": details})


if __name__ == "__main__":
    main()
