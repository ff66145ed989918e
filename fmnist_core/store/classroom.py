"""The class as a teacher sees it: who trained what, the leaderboard, the line.

Pure functions of the store's rows (`RunStore.list_runs`, `owner_names`), so the teacher's
page only lays them out.
"""

from __future__ import annotations

from typing import Any

from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store import line_times
from fmnist_core.words import plural


def student_label(owner: str, names: dict[str, str]) -> str:
    """The name a student gave, else "student" and the start of their id."""
    return names.get(owner) or f"student {owner[:6]}"


def images_text(spec: ModelSpec) -> str:
    """A run's training images (validation included) for a table: "12,000", or "all" for a
    spec that names no number, which trained on every image the server allowed (a run
    stored before runs named theirs is one)."""
    return "all" if spec.train_images is None else f"{spec.train_images:,}"


def shared_names(names: dict[str, str]) -> list[tuple[str, int]]:
    """The names more than one browser uses (letter case aside), with how many, by name: two
    students who both call themselves "Ann" cannot be told apart on the teacher's page."""
    counts: dict[str, list[str]] = {}
    for name in names.values():
        counts.setdefault(name.casefold(), []).append(name)
    return sorted(((spelled[0], len(spelled)) for spelled in counts.values()
                   if len(spelled) > 1), key=lambda pair: pair[0].casefold())


def leaderboard(runs: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Every student of the class, best first: those with a tested run by their best test
    accuracy (with the run and the network that got it), then those without one by name.
    A student is anyone with a run or a name.

    Returns:
        Rows of {"rank", "student", "test_accuracy", "run", "model", "epochs", "images",
        "runs"}; a student without a tested run has rank, test accuracy, run, model, epochs
        and images None.
    """
    best: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {owner: 0 for owner in names}
    for run in runs:
        counts[run["owner"]] = counts.get(run["owner"], 0) + 1
        if run["test_accuracy"] is None or run["status"] not in ("completed", "stopped"):
            continue
        held = best.get(run["owner"])
        if held is None or run["test_accuracy"] > held["test_accuracy"]:
            best[run["owner"]] = run
    ordered = sorted(best.values(), key=lambda r: (-r["test_accuracy"], r["created"]))
    rows = [{"rank": rank, "student": student_label(run["owner"], names),
             "test_accuracy": run["test_accuracy"], "run": run["id"],
             "model": run["spec"].summary(), "epochs": run["epochs_run"],
             "images": images_text(run["spec"]), "runs": counts[run["owner"]]}
            for rank, run in enumerate(ordered, start=1)]
    waiting = sorted((owner for owner in counts if owner not in best),
                     key=lambda owner: student_label(owner, names).lower())
    return rows + [{"rank": None, "student": student_label(owner, names),
                    "test_accuracy": None, "run": None, "model": None, "epochs": None,
                    "images": None, "runs": counts[owner]} for owner in waiting]


def by_student(runs: list[dict[str, Any]], names: dict[str, str]
               ) -> list[tuple[str, list[dict[str, Any]]]]:
    """The runs grouped by student (alphabetically), each group newest first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(student_label(run["owner"], names), []).append(run)
    return [(label, sorted(group, key=lambda r: -r["created"]))
            for label, group in sorted(groups.items(), key=lambda item: item[0].lower())]


def line(runs: list[dict[str, Any]], queued: list[dict[str, Any]],
         names: dict[str, str],
         places: dict[str, line_times.Place] | None = None) -> list[dict[str, Any]]:
    """Runs training now, then the waiting line in order, as table rows narrow enough for a
    projector: how far each training is and how long it has left, and about when each
    waiting run starts, from their places (`line_times.line`, by run id)."""
    running = sorted((r for r in runs if r["status"] == "running"),
                     key=lambda r: r.get("started") or r["created"])
    places = places or {}
    return [{"place": place, "student": student_label(r["owner"], names), "run": r["id"],
             "model": r["spec"].brief(), **_timing(places.get(r["id"]), r["spec"].epochs)}
            for place, r in [("training", r) for r in running]
            + [(str(i), r) for i, r in enumerate(queued, start=1)]]


def _timing(place: line_times.Place | None, epochs: int) -> dict[str, str]:
    """A line row's "progress" and "time" cells."""
    if place is None:  # not timed, or it left the line since the rows were read
        return {"progress": plural(epochs, "epoch"), "time": "–"}
    if place.place:
        return {"progress": f"waiting · {plural(epochs, 'epoch')}",
                "time": line_times.start_words(place)}
    return {"progress": training_progress(place.progress or {}, epochs),
            "time": line_times.left_words(place)}


def training_progress(progress: dict[str, Any], epochs: int) -> str:
    """"epoch 2/5 · batch 120/422" from a training run's live snapshot's fields;
    "preparing · 5 epochs" before its first batch."""
    per_epoch = progress.get("batches_per_epoch")
    if not per_epoch or not progress.get("epoch"):
        return f"preparing · {plural(epochs, 'epoch')}"
    return (f"epoch {progress['epoch']}/{progress.get('epochs') or epochs} · batch "
            f"{progress.get('batch') or 0}/{per_epoch}")


def default_run(runs: list[dict[str, Any]], owner: str | None
                ) -> tuple[str | None, str]:
    """The run a page opens on, and why, in words a student reads after "Showing ".

    A stopped run of a few batches is not what a student wants to look at first: their best
    completed run comes first, then their best stopped one, then the class's best completed
    run (a classmate's), then any.

    Args:
        runs: finished runs with a saved model (`completed` or `stopped`).
        owner: the student's owner id.

    Returns:
        (run id, e.g. "your best completed run"), or (None, "") when there is none.
    """
    def best(group: list[dict[str, Any]]) -> dict[str, Any] | None:
        return max(group, key=lambda r: (r["test_accuracy"] or 0.0, r["created"]),
                   default=None)

    mine = [r for r in runs if r["owner"] == owner]
    for group, why in (
            ([r for r in mine if r["status"] == "completed"], "your best completed run"),
            (mine, "your best run (none of yours completed: it was stopped)"),
            ([r for r in runs if r["status"] == "completed"], "the class's best completed run"),
            (runs, "the class's best run")):
        chosen = best(group)
        if chosen is not None:
            return chosen["id"], why
    return None, ""
