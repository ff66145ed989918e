"""Text a stranger can send, as Hypothesis strategies (see tests/fuzzing.py): a link's query
string, a passcode try, a display name.

- link: any keys (the spec's fields, `preset`, other pages' keys, random text), each with
  one value or a list of them (a repeated key), the values numbers of any size, NaN and
  infinity spelled out, negative, in other scripts' digits, comma lists, choices, random
  unicode and 4 KB strings;
- passcode: the right one, near misses, random unicode with NUL bytes and lone surrogates,
  4 KB, empty, tried in turns by several browsers on one guard;
- display name: unicode, 4 KB, HTML, Markdown, control characters, surrogates, bidi controls.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import tempfile
from typing import Any, Callable, Iterator

from fuzzing import (PAGE_SENTENCE_LENGTH, Outcome, Target, crash, result, sentence, stateless,
                     unexpected)
from hypothesis import strategies as st

from fmnist_core.nets import links

from fmnist_core.store import owners
from fmnist_core.nets.spec import ModelSpec, presets

# Every code point, lone surrogates included (Hypothesis leaves those out by default).
ANY_CHARACTER = st.characters(codec=None, categories=None)
_SPECIAL = ("", " ", "\x00", "\n", "\r\n", "\t", "\u200b", "\u202e", "\ufeff", "\ud800",
            "\udfff", "\U0010ffff", "é", "👩🏽‍🏫", "١٢٣")
_NUMBERS = ("nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e-400", "-0", "0",
            "0x10", "1_000", "١٢", "4.0", "+3", " 3 ", "3.", ".5", "9" * 5000, "64," * 1000,
            "32,,64", ",", "none", "off", "true", "FALSE", "yes", "2**31")
_MARKUP = ("<b>bold</b>", "<script>alert(1)</script>", "[click](https://example.com)",
           "**x**", "# title", "`code`", "![img](x.png)", "&amp;", "| a | b |", "<!--", "\\")


def texts(max_size: int = 60) -> st.SearchStrategy[str]:
    """Short random text of any code points, special fragments, or a 4 KB string."""
    return st.one_of(
        st.text(ANY_CHARACTER, max_size=max_size),
        st.lists(st.sampled_from(_SPECIAL + _MARKUP) | st.text(max_size=8), max_size=6).map(
            "".join),
        long_texts(),
    )


def long_texts() -> st.SearchStrategy[str]:
    """4 KB of text: a random piece repeated (drawing 4,096 characters one by one would
    make these inputs a hundred times slower to generate than to check)."""
    return st.tuples(st.text(ANY_CHARACTER, min_size=1, max_size=64),
                     st.integers(4000, 4096)).map(lambda p: (p[0] * p[1])[:p[1]])


def numbers() -> st.SearchStrategy[str]:
    """Numbers as a link or a flag spells them."""
    return st.one_of(
        st.sampled_from(_NUMBERS),
        st.integers(-(10**30), 10**30).map(str),
        st.integers(-5, 600).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.lists(st.integers(-5, 1000), max_size=5).map(lambda xs: ",".join(map(str, xs))),
    )


def choices() -> st.SearchStrategy[str]:
    """Values the spec's choice fields and presets know, in any case."""
    words = ["max", "avg", "none", "same", "valid", "relu", "gelu", "adam", "sgd", "cosine",
             "flip", "mnist", "fashion_mnist", *presets()]
    return st.sampled_from(words) | st.sampled_from(words).map(str.upper)


def values() -> st.SearchStrategy[str]:
    return st.one_of(numbers(), choices(), texts())


def query_params() -> st.SearchStrategy[dict]:
    """A link's query parameters: st.query_params gives each key one value, or all of a
    repeated key's values as a list."""
    keys = st.one_of(st.sampled_from([*links.FIELDS, links.PRESET_KEY, "run", "page"]),
                     texts(20))
    return st.dictionaries(keys, values() | st.lists(values(), max_size=3), max_size=8)


def check_link(params: dict) -> Outcome:
    try:
        spec, problem = links.from_query(params)
    except Exception as err:  # noqa: BLE001
        return unexpected(err)
    if (spec is None) == (problem is None):
        return crash(f"gave {spec!r} and {problem!r}: exactly one of them was expected")
    if problem is not None:
        # st.warning shows it as Markdown: a link's text may appear there only as inline code
        if re.search(r"\]\(|<[a-z!/]", re.sub(r"`[^`]*`", "", problem)):
            return crash(f"Markdown or HTML outside inline code: {problem[:300]!r}")
        return sentence(problem, PAGE_SENTENCE_LENGTH)
    if not isinstance(spec, ModelSpec):
        return crash(f"gave a {type(spec).__name__}, not a ModelSpec")
    again, trouble = links.from_query(links.to_query(spec))
    if again != spec:
        return crash(f"the spec's own link reads back as {again!r} ({trouble})")
    return result()


@st.composite
def passcode_tries(draw) -> tuple[str, list[tuple[str, str, float]]]:
    """(the teacher's passcode, [(browser, attempt, seconds since the last try), …])."""
    passcode = draw(texts().filter(bool))
    near = st.sampled_from((passcode, passcode + " ", " " + passcode, passcode.upper(),
                            passcode[:-1], passcode + "\x00", passcode * 2))
    attempt = st.one_of(near, texts())
    who = st.sampled_from(("alice", "bob", "")) | texts(20)
    wait = st.sampled_from((0.0, 1.0, 30.0, 61.0, 3600.0))
    return passcode, draw(st.lists(st.tuples(who, attempt, wait), min_size=1, max_size=4))


@contextlib.contextmanager
def passcode_session() -> Iterator[Callable[[Any], Outcome]]:
    """The tries are rows of a run store: a scratch one, emptied before each example."""
    from fmnist_core.store.runs import RunStore

    with tempfile.TemporaryDirectory(prefix="fuzz-passcode-") as home:
        store = RunStore(home, recover=False)

        def check(example: tuple[str, list[tuple[str, str, float]]]) -> Outcome:
            with store.db.transaction() as tx:
                tx.execute("DELETE FROM passcode_tries")
            return check_passcode(example, store)

        try:
            yield check
        finally:
            store.close()


def check_passcode(example: tuple[str, list[tuple[str, str, float]]], store) -> Outcome:
    passcode, tries = example
    clock = itertools.accumulate(wait for _, _, wait in tries)
    now = [0.0]
    try:
        guard = owners.PasscodeGuard(passcode, store, clock=lambda: now[0])
        answers = []
        for (who, attempt, _), at in zip(tries, clock):
            now[0] = at
            answers.append((attempt, guard.check((f"browser:{who}", "address:10.0.0.7"),
                                                 attempt)))
    except Exception as err:  # noqa: BLE001
        return unexpected(err)
    refusal = None
    for attempt, (right, told) in answers:
        if right and attempt != passcode:
            return crash(f"{attempt!r} unlocked the teacher's view, set to {passcode!r}")
        if right and told is not None:
            return crash(f"the right passcode came with a sentence: {told!r}")
        if not right:
            refusal = sentence(told, PAGE_SENTENCE_LENGTH)
            if refusal.kind == "crash":
                return refusal
    return result() if refusal is None else refusal


def names() -> st.SearchStrategy:
    """What the name box can hold, and a few things it cannot (numbers, None)."""
    return st.one_of(texts(), st.text(ANY_CHARACTER, min_size=30, max_size=80),
                     st.sampled_from(_MARKUP), st.integers(), st.none())


def check_name(text) -> Outcome:
    try:
        name = owners.clean_name(text)
    except ValueError as err:
        return sentence(str(err))
    except Exception as err:  # noqa: BLE001
        return unexpected(err)
    if not isinstance(name, str):
        return crash(f"gave a {type(name).__name__}")
    if len(name) > owners.MAX_NAME_LENGTH:
        return crash(f"gave {len(name)} characters, more than {owners.MAX_NAME_LENGTH}")
    if not name.isprintable():
        return crash(f"gave {name!r}, which is not one printable line")
    if name != name.strip() or "  " in name:
        return crash(f"gave {name!r}, with spaces at an end or doubled")
    if owners.clean_name(name) != name:
        return crash(f"cleaning {name!r} again changes it")
    try:
        name.encode()
    except UnicodeEncodeError:
        return crash(f"gave {name!r}, which cannot be stored as UTF-8")
    return result()


TARGETS = (
    Target("link", "query string → links.from_query", query_params, lambda: stateless(check_link)),
    Target("passcode", "passcode tries → owners.PasscodeGuard.check", passcode_tries,
           passcode_session),
    Target("display name", "name box → owners.clean_name", names, lambda: stateless(check_name)),
)
