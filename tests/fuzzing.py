"""Property-based fuzzing of what a stranger can send to the studio, shared by
tests/test_fuzz.py (a few hundred inputs, the same each run) and bench/fuzz.py (10,000 a
target).

Every input must give either a result (checked for its own properties) or one sentence: a
documented exception such as `ImageError`, a returned refusal, or the CLI's exit code 2 with
its line on stderr. Anything else, an unexpected exception, a message of several lines or
control characters, a wrong result, or an upload that took more than MAX_DECODE_MB of memory,
is a crash.

The targets and their inputs live in tests/fuzz_images.py (upload bytes),
tests/fuzz_text.py (links, passcodes, display names) and tests/fuzz_cli.py (command lines).

Typical use:

    tally = run_target(targets()["link"], examples=10_000, seed=0)
    print(tally.crashes, tally.examples)
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

# Peak resident memory one upload may take, decode and preprocessing together: a class
# uploads at once. The pictures the studio accepts are bounded by what they take decoded
# (`decoding.MAX_DECODED_BYTES`), so that the largest of them stays within this.
MAX_DECODE_MB = 100
# Characters in a sentence that a page shows (the CLI's usage errors may repeat a long
# argument whole: the user typed it).
PAGE_SENTENCE_LENGTH = 400
OUTCOMES = ("result", "sentence", "crash")
EXAMPLES_KEPT = 5  # crashes kept per target, with their input, for the report

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one input gave.

    Attributes:
        kind: "result", "sentence" or "crash".
        detail: The sentence, or what went wrong for a crash.
        peak_mb: Peak resident memory the call added, in MB (uploads only; None elsewhere or
            where Linux cannot tell).
    """

    kind: str
    detail: str = ""
    peak_mb: float | None = None


def result(detail: str = "") -> Outcome:
    return Outcome("result", detail)


def crash(detail: str) -> Outcome:
    return Outcome("crash", detail)


def is_sentence(text: Any) -> bool:
    """One line of printable text that is not a traceback."""
    return (isinstance(text, str) and bool(text.strip()) and text.isprintable()
            and "Traceback" not in text)


def sentence(text: Any, longest: int | None = None) -> Outcome:
    """A refusal: a sentence when `text` is one (of at most `longest` characters when
    given), else a crash saying why it is not."""
    if not is_sentence(text):
        return crash(f"not one sentence: {str(text)[:300]!r}")
    if longest is not None and len(text) > longest:
        return crash(f"a sentence of {len(text)} characters: {text[:300]!r}")
    return Outcome("sentence", text)


def unexpected(err: BaseException) -> Outcome:
    """A crash for an exception no caller expects, with where it was raised."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return crash(f"{type(err).__name__}{where}: {str(err)[:300]}")


class PeakMemory:
    """Peak resident memory added while the `with` block ran, in MB (`mb`), from Linux's
    high-water mark (VmHWM), which is reset on entry; `mb` is None where that is not
    available. Other threads of the process count too."""

    def __init__(self) -> None:
        self.mb: float | None = None
        self._start: float | None = None

    def __enter__(self) -> PeakMemory:
        try:
            _CLEAR_REFS.write_text("5")  # 5: reset the peak to the current resident size
            self._start = _status_mb("VmRSS")
        except OSError:
            self._start = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is not None:
            self.mb = max(0.0, _status_mb("VmHWM") - self._start)


def _status_mb(key: str) -> float:
    found = re.search(rf"^{key}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if found is None:
        raise OSError(f"no {key} in {_STATUS}")
    return int(found.group(1)) / 1024


@dataclasses.dataclass(frozen=True)
class Target:
    """One door a stranger can knock on.

    Attributes:
        name: Short key, e.g. "link".
        what: What is sent where, for the table.
        inputs: The Hypothesis strategy of its inputs.
        session: A context manager that prepares what the check needs (a scratch run store
            for the CLI) and yields the check: input → Outcome.
    """

    name: str
    what: str
    inputs: Callable[[], st.SearchStrategy]
    session: Callable[[], ContextManager[Callable[[Any], Outcome]]]


@contextlib.contextmanager
def stateless(check: Callable[[Any], Outcome]) -> Iterator[Callable[[Any], Outcome]]:
    """The session of a target whose check needs nothing prepared."""
    yield check


def targets() -> dict[str, Target]:
    """Every target by name, in the order the benchmark runs them."""
    import fuzz_cli
    import fuzz_images
    import fuzz_text

    found = [*fuzz_images.TARGETS, *fuzz_text.TARGETS, fuzz_cli.TARGET]
    return {target.name: target for target in found}


@dataclasses.dataclass
class Tally:
    """Counts of one target's run."""

    target: str
    inputs: int = 0
    results: int = 0
    sentences: int = 0
    crashes: int = 0
    seconds: float = 0.0
    peak_mb: float | None = None
    longest_sentence: int | None = None
    examples: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def add(self, example: Any, outcome: Outcome) -> None:
        self.inputs += 1
        if outcome.kind == "result":
            self.results += 1
        elif outcome.kind == "sentence":
            self.sentences += 1
            self.longest_sentence = max(self.longest_sentence or 0, len(outcome.detail))
        else:
            self.crashes += 1
            if len(self.examples) < EXAMPLES_KEPT:
                self.examples.append({"crash": outcome.detail, "input": repr(example)[:500]})
        if outcome.peak_mb is not None:
            self.peak_mb = max(self.peak_mb or 0.0, outcome.peak_mb)


def run_target(target: Target, examples: int, seed_value: int = 0) -> Tally:
    """Feeds `examples` generated inputs to the target and counts what they gave; never
    stops at a crash (bench/fuzz.py reports them all; tests/test_fuzz.py asserts instead)."""
    tally = Tally(target.name)
    started = time.perf_counter()
    with target.session() as check, warnings.catch_warnings():
        # Pillow warns about every damaged file it reads; the outcome says what counts
        warnings.simplefilter("ignore")

        @seed(seed_value)
        @settings(max_examples=examples, deadline=None, database=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(target.inputs())
        def feed(example: Any) -> None:
            tally.add(example, check(example))

        feed()
    tally.seconds = time.perf_counter() - started
    return tally
