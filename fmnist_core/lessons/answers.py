"""A lesson's answer, computed from the runs' stored results, and a guess judged against it.

Pure functions of the store's rows (`RunStore.list_runs`, `RunStore.epochs`, the lessons'
tags): a run belongs to a setup when it was queued for it (a tag) or when its spec is the
setup's spec exactly (a run of the same network started from Train counts too).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any, Callable, Iterable

from fmnist_core.lessons.catalog import CHOICE, HIGHEST, RATIO, VALUE, Lesson
from fmnist_core.words import duration, percent, plural

# Runs whose results a lesson reads: finished with a test accuracy (a run stopped by hand
# trained less than its setup says, so it does not count).
FINISHED = ("completed",)
# A run that ended without a result a lesson reads, in the words a student reads after
# "Your run of Max pooling ".
ENDED_WORDS = {"stopped": "was stopped before its end",
               "diverged": "did not learn (it diverged)",
               "failed": "failed",
               "interrupted": "was interrupted (the server restarted)",
               "cancelled": "was cancelled before it started",
               "completed": "finished without a test accuracy"}

Tags = dict[str, tuple[str, str]]  # run id → (lesson id, setup key)


@dataclasses.dataclass(frozen=True)
class SetupResult:
    """One setup's runs averaged: `value` is the lesson's measure (None: none measured)."""

    key: str
    label: str
    runs: int
    value: float | None
    test_accuracy: float | None
    train_seconds: float | None


def belongs(lesson: Lesson, run: dict[str, Any], tags: Tags) -> str | None:
    """The key of the setup of `lesson` that `run` is a run of, or None."""
    tagged = tags.get(run["id"])
    if tagged is not None:
        return tagged[1] if tagged[0] == lesson.id else None
    for setup in lesson.setups:
        if run["spec"] == setup.spec:
            return setup.key
    return None


def setup_runs(lesson: Lesson, runs: Iterable[dict[str, Any]], tags: Tags,
               owner: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The finished runs of each setup (only `owner`'s when given), newest first."""
    grouped: dict[str, list[dict[str, Any]]] = {s.key: [] for s in lesson.setups}
    for run in sorted(runs, key=lambda r: -r["created"]):
        if run["status"] not in FINISHED or run["test_accuracy"] is None:
            continue
        if owner is not None and run["owner"] != owner:
            continue
        key = belongs(lesson, run, tags)
        if key is not None:
            grouped[key].append(run)
    return grouped


def ended_early(lesson: Lesson, runs: Iterable[dict[str, Any]], tags: Tags,
                owner: str) -> dict[str, dict[str, Any]]:
    """The setups of `lesson` whose latest run of `owner`'s ended without a result (none
    of theirs has finished since): {setup key: that run}; its status is a key of
    ENDED_WORDS."""
    latest: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: -r["created"]):
        if run["owner"] != owner or run["status"] not in ENDED_WORDS:
            continue
        key = belongs(lesson, run, tags)
        if key is not None and key not in latest:
            latest[key] = run
    return {key: run for key, run in latest.items()
            if run["status"] not in FINISHED or run["test_accuracy"] is None}


def overfit_gap(epochs: list[dict[str, Any]]) -> float | None:
    """Training minus validation accuracy at the last complete epoch (None without one)."""
    done = [e for e in epochs if e.get("complete", True) and e.get("accuracy") is not None
            and e.get("val_accuracy") is not None]
    return done[-1]["accuracy"] - done[-1]["val_accuracy"] if done else None


def later_epoch_seconds(epochs: list[dict[str, Any]]) -> float | None:
    """The median seconds of the complete epochs after the first (which also traces the
    network: a fixed cost that would blur a comparison of the work); None without one, so
    that what the page says ("an epoch after the first") is always what it measured."""
    done = [e["seconds"] for e in epochs if e.get("complete", True) and e.get("seconds")]
    return statistics.median(done[1:]) if len(done) > 1 else None


def measure(lesson: Lesson, run: dict[str, Any],
            epochs_of: Callable[[str], list[dict[str, Any]]] | None = None) -> float | None:
    """The lesson's measure of one run; None where a run cannot give it (the knock-out is
    measured on the trained model, by the page: `fmnist_core.explain.knockout`)."""
    if lesson.measure == "overfit_gap":
        return overfit_gap(epochs_of(run["id"])) if epochs_of else None
    if lesson.measure == "epoch_seconds":
        return later_epoch_seconds(epochs_of(run["id"])) if epochs_of else None
    if lesson.measure == "knockout":
        return None
    value = run.get(lesson.measure)
    return float(value) if value is not None else None


def results(lesson: Lesson, grouped: dict[str, list[dict[str, Any]]],
            epochs_of: Callable[[str], list[dict[str, Any]]] | None = None
            ) -> list[SetupResult]:
    """Each setup's runs averaged (the class's when `grouped` is everyone's)."""
    rows = []
    for setup in lesson.setups:
        runs = grouped.get(setup.key, [])
        rows.append(SetupResult(
            setup.key, setup.label, len(runs),
            _mean(measure(lesson, r, epochs_of) for r in runs),
            _mean(r["test_accuracy"] for r in runs),
            _mean(r["train_seconds"] for r in runs)))
    return rows


def answer(lesson: Lesson, rows: list[SetupResult]) -> str | float | None:
    """The question's answer from the averaged results: a setup's label (CHOICE) or a
    number (NUMBER); None until every setup it needs has a measured run."""
    values = [row.value for row in rows]
    if lesson.compare == VALUE:
        return values[0]
    if any(v is None for v in values):
        return None
    if lesson.compare == HIGHEST:
        return rows[max(range(len(rows)), key=lambda i: values[i])].label
    if lesson.compare == RATIO:
        return values[1] / values[0] if values[0] else None
    raise ValueError(f"Argument `lesson` has an unknown compare {lesson.compare!r}.")


def judge(lesson: Lesson, guess: str | float | None, outcome: str | float | None) -> bool | None:
    """Whether the guess was right (None: no guess or no outcome yet). A NUMBER guess is
    right within the lesson's tolerance."""
    if guess is None or outcome is None:
        return None
    if lesson.kind == CHOICE:
        return guess == outcome
    allowed = lesson.tolerance * abs(outcome) if lesson.relative else lesson.tolerance
    return abs(float(guess) - float(outcome)) <= allowed + 1e-9


def shown(lesson: Lesson, value: str | float | None) -> str:
    """An answer or a guess in words: the label, "3.2×", "4 epochs", "1.5 points"."""
    if value is None:
        return "–"
    if lesson.kind == CHOICE:
        return str(value)
    if lesson.unit == "×":
        return f"{float(value):.1f}×"
    if lesson.unit == "epochs":
        return _epochs(value)
    return _points(value)


def class_sentence(lesson: Lesson, rows: list[SetupResult]) -> str:
    """"The class's runs: 3×3 kernels: 90.6% test accuracy, 41 s of training on average
    (12 runs); …" with each setup's mean test accuracy and training time, and the lesson's
    own measure where it is neither; says so when none has finished."""
    counted = [row for row in rows if row.runs]
    if not counted:
        return "No run of this lesson has finished in the class yet."
    parts = []
    for row in counted:
        said = [f"{percent(row.test_accuracy)} test accuracy"]
        if lesson.measure == "epochs_run" and row.value is not None:
            said.insert(0, f"stopped after {_epochs(row.value)}")
        if lesson.measure == "overfit_gap" and row.value is not None:
            said.append(f"training {_points(row.value * 100)} above validation")
        if lesson.measure == "epoch_seconds" and row.value is not None:
            said.append(f"{duration(row.value)} an epoch after the first")
        if row.train_seconds is not None:
            said.append(f"{duration(row.train_seconds)} of training")
        average = " on average" if row.runs > 1 else ""
        parts.append(f"{row.label}: {', '.join(said)}{average} ({plural(row.runs, 'run')})")
    return "The class's runs: " + "; ".join(parts) + "."


def _epochs(value: float) -> str:
    """"4 epochs", "4.5 epochs" (an average of whole epochs, one decimal)."""
    value = round(float(value), 1)
    return plural(int(value), "epoch") if value.is_integer() else f"{value:.1f} epochs"


def _points(value: float) -> str:
    """"1 point", "12.3 points" (percentage points, one decimal)."""
    value = round(float(value), 1)
    return plural(int(value), "point") if value.is_integer() else f"{value:.1f} points"


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(kept) / len(kept) if kept else None
