"""What each change to the `best` recipe pays: test accuracy and time, one change at a time.

Every variant is `best`'s network (2 × [2 × Conv 3×3 same + batch norm → MaxPool 2] (32, 64)
→ Dense 256, dropout 0.4, Adam 0.002 gliding to 0) trained by the studio's TrainingJob on the
full official data, with the data already in memory, as the server trains it; wall time runs
from `job.start()` to the end of the job (training, validation after every epoch, the test,
saving). The variants differ only in the fields named in their row:

    old        the preset before augmentation: 8 epochs, no flip, no label smoothing
    longer     16 epochs, no flip, no label smoothing
    flip       16 epochs, flip augmentation
    smoothing  16 epochs, label smoothing 0.1
    both       16 epochs, flip augmentation and label smoothing 0.1
    test-flip  16 epochs, both, and the test-time flip (each answer averaged with the mirror's)
    preset     the `best` preset as it is now (22 epochs, both, and the test-time flip)
    narrow     the preset with 16 filters in the first block instead of 32 (its two convs at
               28×28 hold most of the arithmetic)
    3-blocks   the preset with three blocks of two convs, 16, 32 and 64 filters (the third
               at 7×7, pooled to 3×3 before the dense layer)

Each row is compared with the target of `best` (≥ 94.0 % test in ≤ 15 min); only `preset`
is judged. One variant takes 5–13 minutes on 2 cores.

    .venv/bin/python bench/recipe.py [--smoke] [--only flip,both]

--smoke: 2,000 training and 1,000 test images, 1 epoch per variant, not judged.
"""

from __future__ import annotations

import argparse

from common import (engine_env, load_note, print_table, run_in_scratch_store, verdict,
                    warm_keras, write_result)

GOAL, BUDGET = 0.940, 15 * 60.0
_PLAIN = dict(augment="none", label_smoothing=0.0, test_flip=False)
VARIANTS = {
    "old": dict(_PLAIN, epochs=8),
    "longer": dict(_PLAIN, epochs=16),
    "flip": dict(_PLAIN, epochs=16, augment="flip"),
    "smoothing": dict(_PLAIN, epochs=16, label_smoothing=0.1),
    "both": dict(_PLAIN, epochs=16, augment="flip", label_smoothing=0.1),
    "test-flip": dict(epochs=16, augment="flip", label_smoothing=0.1, test_flip=True),
    "preset": {},
    "narrow": dict(filters=(16, 64)),
    "3-blocks": dict(conv_blocks=3, filters=(16, 32, 64)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny version, not judged")
    parser.add_argument("--only", default=",".join(VARIANTS),
                        help=f"comma-separated variants, of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    engine_env()
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.nets.spec import preset

    data = load_dataset("fashion_mnist")
    warm_keras()
    limit_train, limit_test = (2000, 1000) if args.smoke else (None, None)
    rows, details = [], []
    for name in names:
        spec = preset("best").replace(**VARIANTS[name])
        if args.smoke:
            spec = spec.replace(epochs=1)
        print(f"training {name}: {spec.summary()}, {spec.epochs} epoch(s)", flush=True)
        snap, run, wall = run_in_scratch_store(spec, data, limit_train, limit_test,
                                               prefix="bench-recipe-")
        history = snap["history"]
        accuracy = snap["test_accuracy"]
        judged = name == "preset" and not args.smoke
        rows.append({
            "variant": name, "epochs": len(history), "augment": spec.augment,
            "smoothing": spec.label_smoothing, "test flip": spec.test_flip, "wall s": wall,
            "s per epoch": float(run["train_seconds"]) / max(1, len(history)),
            "last val acc": history[-1].get("val_accuracy") if history else None,
            "test acc": accuracy,
            "target": f"≥ {GOAL:.1%} in ≤ {BUDGET / 60:.0f} min",
            "met": verdict(accuracy >= GOAL and wall <= BUDGET) if judged else "–",
        })
        details.append({"variant": name, "spec": spec.to_dict(), "history": history,
                        "device": run["device"]})
    title = "The best recipe, one change at a time (full official data)"
    if args.smoke:
        title += " (smoke: 2,000 images, 1 epoch, not judged)"
    print_table(title, rows)
    load_note()
    write_result("recipe", {"smoke": args.smoke, "rows": rows, "runs": details})


if __name__ == "__main__":
    main()
