"""Each lesson's setups trained as the Lessons page queues them, with named seeds, and every
claim the lessons' text makes checked against the runs.

The setups are the catalog's (a few thousand training images, a few epochs), tested on the
full official test set. For each lesson and seed the table gives each setup's test accuracy,
training seconds and the lesson's measure, the answer the page would show, and the claims:

    target      the target accuracy is reached before the 10 epochs (lesson 4)
    memorises   without dropout, training accuracy ends ≥ 95 % on the 600 images (lesson 5)
    longer      an epoch of 64 filters takes longer than one of 16 (lesson 7)
    seed note   a lesson whose answer changes with the seed says so (every CHOICE lesson)

    .venv/bin/python bench/lessons.py [--smoke] [--seeds 0,1,2] [--only pooling,filters]

--smoke: seed 0, 1,000 training and 1,000 test images, at most 2 epochs, claims reported but
not judged. A full run trains 13 setups per seed (under a minute a seed on 2 cores, with the
data loaded once).
"""

from __future__ import annotations

import argparse

from common import (engine_env, load_note, print_table, run_in_scratch_store, verdict,
                    warm_keras, write_result)

SEEDS = (0, 1, 2)
MEMORISED = 0.95  # "training accuracy climbs toward 100 %"


def _train(lesson, setup, seed, data, smoke):
    from fmnist_core.lessons import answers

    spec = setup.spec.replace(seed=seed)
    if smoke:
        spec = spec.replace(epochs=min(spec.epochs, 2), train_images=1000)
    print(f"lesson {lesson.number} · {setup.label} · seed {seed}", flush=True)
    # the queue cuts the training set to the spec's own `train_images` this way too
    snap, run, wall = run_in_scratch_store(spec, data, spec.train_limit(), 1000 if smoke else None,
                                           prefix="bench-lessons-")
    history = snap["history"]
    value = {"overfit_gap": answers.overfit_gap,
             "epoch_seconds": answers.later_epoch_seconds}.get(
                 lesson.measure, lambda _: run.get(lesson.measure))(history)
    return {"lesson": lesson.number, "seed": seed, "setup": setup.label,
            "test acc": run["test_accuracy"], "train s": run["train_seconds"],
            "epochs": run["epochs_run"], "measure": value,
            "last train acc": history[-1].get("accuracy") if history else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny version, not judged")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--only", default="", help="comma-separated lesson ids")
    args = parser.parse_args()
    engine_env()
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.lessons import answers, catalog

    seeds = [0] if args.smoke else [int(s) for s in args.seeds.split(",")]
    chosen = [catalog.lesson(i) for i in args.only.split(",") if i] or list(catalog.LESSONS)
    data = load_dataset("fashion_mnist")
    warm_keras()
    rows, claims = [], []
    for lesson in chosen:
        outcomes = []
        for seed in seeds:
            trained = []
            for setup in lesson.setups:
                row = _train(lesson, setup, seed, data, args.smoke)
                rows.append(row)
                trained.append(row)
            results = [answers.SetupResult(s.key, s.label, 1, r["measure"], r["test acc"],
                                           r["train s"]) for s, r in zip(lesson.setups, trained)]
            found = answers.answer(lesson, results)
            outcomes.append(found)
            claims += _claims(lesson, seed, trained, found)
        if lesson.kind == catalog.CHOICE:
            varies = len(set(outcomes)) > 1
            claims.append({"lesson": lesson.number, "seed": "all", "claim": "seed note",
                           "seen": f"answers {sorted(set(map(str, outcomes)))}",
                           "met": verdict(not varies or lesson.seed_note is not None)})
    title = "Lessons: each setup by seed (official test set)"
    if args.smoke:
        title += " (smoke: 1,000 images, ≤ 2 epochs, not judged)"
    print_table(title, rows)
    if args.smoke:
        claims = [dict(c, met="–") for c in claims]
    print_table("Lessons: the text's claims against the runs", claims)
    load_note()
    write_result("lessons", {"smoke": args.smoke, "seeds": seeds, "rows": rows,
                             "claims": claims})


def _claims(lesson, seed, trained, found) -> list[dict]:
    """The claims of `lesson`'s text that one seed's runs can check."""
    said = []
    if lesson.id == "target":
        epochs = trained[0]["epochs"]
        said.append({"claim": "target", "seen": f"stopped after {epochs} of "
                     f"{lesson.setups[0].spec.epochs} epochs",
                     "met": verdict(epochs < lesson.setups[0].spec.epochs)})
    if lesson.id == "dropout":
        last = trained[0]["last train acc"]
        said.append({"claim": "memorises", "seen": f"train acc {last:.1%}",
                     "met": verdict(last >= MEMORISED)})
    if lesson.id == "filters":
        said.append({"claim": "longer", "seen": f"{found:.2f}×" if found else "–",
                     "met": verdict(bool(found) and found > 1)})
    return [{"lesson": lesson.number, "seed": seed, **c} for c in said]


if __name__ == "__main__":
    main()
