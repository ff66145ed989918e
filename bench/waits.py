"""What a waiting student was told and when their run really started: the line's predicted
start judged (bench/classroom_load.py).

The Train page says a queued run "starts in about 1 min 40 s (place 3)", "starts in under a
minute", "starts any moment now", or, when no time can be told, "starts as soon as a
training ends". A prediction said as "about" is judged as that point; "under a minute" as
the range 0–60 s (right when the run started within it); a start not told is counted apart.

Short waits are all "under a minute", which says little of the arithmetic behind it, so
`LineWatch` also reads the line's own figure (`LineClock`, as the page does, from the
servers' shared store) for each run the first time it is seen queued.

    said = told("Queued: starts in about 1 min 40 s (place 3). 2 waiting ahead …")
    error(said, actual=80.0)     # 0.25: predicted 100 s, waited 80 s
    judge([{"told": said, "actual_s": 80.0}, …])
"""

from __future__ import annotations

import dataclasses
import re
import statistics
import threading
import time
from pathlib import Path

START = re.compile(r"Queued: (starts [^(]+?) \(place (\d+)\)")
ABOUT = re.compile(r"starts in about (?:(\d+) h)? ?(?:(\d+) min)? ?(?:(\d+) s)?$")
# The target: the wait a student was told within this share of the wait they had.
TARGET = 0.30
# A wait shorter than this is judged as this long: a run claimed as its page was drawn
# would otherwise divide by nothing.
SHORTEST_WAIT_S = 1.0


@dataclasses.dataclass(frozen=True)
class Told:
    """A start as a waiting student read it.

    Attributes:
        words: e.g. "starts in about 1 min 40 s".
        place: their place in line.
        low, high: the wait said, in seconds (equal for "about"; 0 and 60 for "under a
            minute"); None when no time was told.
    """

    words: str
    place: int
    low: float | None
    high: float | None


def told(text: str) -> Told | None:
    """The start a page's text tells, None when it tells none (not queued)."""
    found = START.search(text)
    if found is None:
        return None
    words, place = found.group(1).strip(), int(found.group(2))
    if words == "starts in under a minute":
        return Told(words, place, 0.0, 60.0)
    if words == "starts any moment now":
        return Told(words, place, 0.0, 0.0)
    about = ABOUT.match(words)
    if about is None:  # "starts as soon as a training ends", "starts once 3 trainings …"
        return Told(words, place, None, None)
    hours, minutes, seconds = (int(g or 0) for g in about.groups())
    wait = 3600.0 * hours + 60.0 * minutes + seconds
    return Told(words, place, wait, wait)


def error(said: Told, actual: float) -> float | None:
    """(told − actual) / actual of the wait, 0 inside a range said; None when no time was
    told."""
    if said.low is None:
        return None
    actual = max(actual, SHORTEST_WAIT_S)
    if said.low <= actual <= said.high:
        return 0.0
    nearest = said.low if actual < said.low else said.high
    return (nearest - actual) / actual


def judge(predictions: list[dict]) -> dict:
    """Median and p90 of the predictions' errors, and how many met TARGET.

    Args:
        predictions: {"told": Told, "actual_s": seconds waited} per queued run.
    """
    errors = [e for p in predictions if (e := error(p["told"], p["actual_s"])) is not None]
    spread = sorted(abs(e) for e in errors)
    return {
        "queued_runs": len(predictions),
        "told": len(errors),
        "not_told": len(predictions) - len(errors),
        "said_as_about": sum(p["told"].low is not None and p["told"].low == p["told"].high
                             and p["told"].low > 0 for p in predictions),
        "said_under_a_minute": sum(p["told"].words == "starts in under a minute"
                                   for p in predictions),
        "error_median": round(statistics.median(errors), 3) if errors else None,
        "abs_error_median": round(statistics.median(spread), 3) if spread else None,
        "abs_error_p90": round(_p90(spread), 3) if spread else None,
        "within_target": sum(e <= TARGET for e in spread),
        "target": TARGET,
    }


def _p90(ordered: list[float]) -> float:
    """The 90th percentile, by linear interpolation between the closest ranks."""
    rank = 0.9 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def figure(place: int, starts_in: float | None) -> Told:
    """The line's own figure as a `Told`, unrounded."""
    words = f"{starts_in:.1f} s" if starts_in is not None else "not told"
    return Told(words, place, starts_in, starts_in)


class LineWatch:
    """The line's figure for every run the first time it is seen queued, read as a server's
    page reads it (`LineClock`) from the run store the servers share.

    Args:
        home: the servers' STUDIO_HOME.
        url: their database URL (None: SQLite in `home`).
        cap: trainings at once.
        train_limit, test_limit: the servers' STUDIO_TRAIN_LIMIT and STUDIO_TEST_LIMIT.

    Attributes:
        first: run id → (time.time() when first seen queued, its place, seconds to its
            start or None).
    """

    def __init__(self, home: Path, url: str | None, cap: int, train_limit: int | None,
                 test_limit: int | None):
        from fmnist_core.store.runs import RunStore

        self.store = RunStore(home, url, recover=False)  # a reader: it recovers nothing
        self.max_concurrent = cap
        self.train_limit, self.test_limit = train_limit, test_limit
        self.first: dict[str, tuple[float, int, float | None]] = {}

    # what a LineClock reads of a queue ---------------------------------------------------

    def images(self, dataset: str, spec=None) -> tuple[int, int]:
        from fmnist_core.data.datasets import load_dataset

        data = load_dataset(dataset)
        n_test = min(self.test_limit or len(data.x_test), len(data.x_test))
        return spec.images(len(data.x_train), self.train_limit), n_test

    def job(self, run_id: str):
        return None  # every run trains on a server: its progress is in the store

    # -----------------------------------------------------------------------------------

    def watch(self, stop: threading.Event, every: float = 0.5) -> threading.Thread:
        """Reads the line every `every` seconds until `stop`, in a thread of its own."""
        from fmnist_core.training.line_clock import LineClock

        clock = LineClock(self)

        def loop() -> None:
            while not stop.wait(every):
                try:
                    places = clock.places()
                except Exception:  # noqa: BLE001 - a busy database: the next read
                    continue
                now = time.time()
                for place in places:
                    if place.place and place.run_id not in self.first:
                        self.first[place.run_id] = (now, place.place, place.starts_in)

        thread = threading.Thread(target=loop, name="line-watch", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.store.close()
