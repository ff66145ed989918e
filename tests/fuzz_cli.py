"""Command lines a stranger can type, as Hypothesis strategies (see tests/fuzzing.py).

`python -m fmnist_core` runs in this process (`main(argv)`) against a scratch STUDIO_HOME
holding a finished run (its model built but never trained) and an unfinished one (no model
file). The commands: `describe` with random spec flags and presets, `predict` with pictures,
damaged, empty, missing and odd files and run ids of every kind, `runs` and `runs export`
with odd ids and destinations, and random tokens anywhere. `train` is never sent: the fuzz
starts no training (and the command is replaced by a refusal while it runs).

Every path the fuzz writes is in the scratch folder: the command runs with it as its working
directory, generated tokens hold no '/', '~' or '..', and the paths for --home, --csv and
--tensorboard are made there. stdout is UTF-8 with strict errors, as on a terminal; stderr
escapes what UTF-8 cannot hold, as Python's does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import fuzz_images
import fuzz_text
from fuzzing import Outcome, Target, crash, result, sentence, unexpected
from hypothesis import strategies as st

from fmnist_core import __main__ as cli
from fmnist_core.nets.links import FIELDS
from fmnist_core.nets.spec import presets

PROG = "python -m fmnist_core"
_USAGE_ERROR = re.compile(rf"^{re.escape(PROG)}(?: [a-z]+)*: error: (.*)$")


@dataclasses.dataclass(frozen=True)
class Made:
    """A path argument, made in the example's own folder when the command runs.

    Attributes:
        kind: "file" (holding `data`), "folder", "missing", or "missing folder" (a name
            inside a folder that does not exist).
        name: The file's name.
        data: A file's bytes.
    """

    kind: str
    name: str
    data: bytes = b""


@dataclasses.dataclass(frozen=True)
class Run:
    """The scratch store's "finished" or "unfinished" run id, an "absent" one (the store's
    form, no such run), or its "home" folder."""

    which: str


@dataclasses.dataclass(frozen=True)
class Joined:
    """`--flag=value` in one token, the value an argument of any kind."""

    flag: str
    value: Any


def _safe(token: str) -> bool:
    """A token that a shell could pass and that names nothing outside the scratch folder
    (no NUL, no surrogate but the ones undecodable bytes become, no '/', '~' or '..'), and
    is never the train command."""
    try:
        os.fsencode(token)
    except UnicodeEncodeError:
        return False
    return ("\x00" not in token and "/" not in token and "~" not in token and ".." not in token
            and token != "train")


def tokens() -> st.SearchStrategy[str]:
    return fuzz_text.values().filter(_safe)


def file_names() -> st.SearchStrategy[str]:
    """Printable names, unicode, spaces and leading dashes included, with a picture's
    extension or another."""
    stem = st.text(st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="/"),
                   min_size=1, max_size=24)
    ending = st.sampled_from(("", ".png", ".jpg", ".tif", ".gif", ".webp", ".bmp", ".txt",
                              ".PNG"))
    return st.tuples(stem, ending).map("".join).filter(lambda n: _safe(n) and n != ".")


def made(kinds: tuple[str, ...] = ("file", "file", "file", "folder", "missing",
                                   "missing folder")) -> st.SearchStrategy[Made]:
    """A path argument; a file's bytes a picture half the time, else any upload, empty or
    text."""
    real = fuzz_images.pictures()
    contents = st.sampled_from((real, real, real, fuzz_images.uploads(), st.just(b""),
                                st.text(max_size=40).map(str.encode))).flatmap(lambda c: c)
    return st.builds(Made, st.sampled_from(kinds), file_names(), contents)


def run_ids() -> st.SearchStrategy[Any]:
    """The store's runs most of the time, else ids of the right form or anything."""
    return st.sampled_from((
        st.just(Run("finished")), st.just(Run("finished")), st.just(Run("unfinished")),
        st.just(Run("absent")), st.text("0123456789abcdefABCDEF", min_size=11, max_size=13),
        tokens())).flatmap(lambda ids: ids)


def spec_values(name: str) -> st.SearchStrategy[str]:
    """A flag's value: one near the field's own range or choices half the time, else any."""
    default = FIELDS[name].default
    if name == "filters":
        near = st.lists(st.integers(-1, 600).map(str), max_size=4).map(",".join)
    elif isinstance(default, bool) or name == "test_flip":
        near = st.sampled_from(("true", "false", "yes", "off", "1", "maybe"))
    elif isinstance(default, int):
        near = st.integers(-2, 300).map(str)
    elif isinstance(default, float) or default is None:
        near = st.floats(-0.5, 12, allow_nan=False).map(repr)
    else:
        near = fuzz_text.choices()
    return st.one_of(near, near, fuzz_text.numbers(), tokens())


def _sometimes(part: st.SearchStrategy[list], one_in: int) -> st.SearchStrategy[list]:
    """`part` once in `one_in` draws, else nothing."""
    return st.sampled_from([part] + [st.just([])] * (one_in - 1)).flatmap(lambda p: p)


def _option(flag: str, value: st.SearchStrategy) -> st.SearchStrategy[list]:
    """[flag, value], or [flag=value]."""
    return st.one_of(st.tuples(st.just(flag), value).map(list),
                     value.map(lambda v: [Joined(flag, v)]))


@st.composite
def _command(draw, head: list, parts: list[st.SearchStrategy[list]]) -> list:
    """`head`, then the parts in any order, and once in four a random token or two."""
    drawn = [draw(part) for part in parts]
    order = draw(st.permutations(range(len(drawn))))
    argv = list(head) + [token for i in order for token in drawn[i]]
    for token in draw(_sometimes(st.lists(tokens(), min_size=1, max_size=2), 4)):
        argv.insert(draw(st.integers(1, len(argv))), token)
    return argv


def argvs() -> st.SearchStrategy[list]:
    spec_flags = [_option("--" + name.replace("_", "-"), spec_values(name)) for name in FIELDS]
    preset = st.sampled_from(sorted(presets())) | tokens()
    home = _sometimes(_option("--home", st.one_of(st.just(Run("home")),
                                                  made(("folder", "missing", "file")))), 6)
    where = made(("missing", "missing", "folder", "file", "missing folder"))
    json_flag = _sometimes(st.just(["--json"]), 2)
    help_flag = _sometimes(st.just(["--help"]), 20)
    describe = _command(["describe"], [
        _sometimes(_option("--preset", preset), 2), json_flag, help_flag,
        _sometimes(st.just(["--verbose"]), 4),
        st.lists(st.sampled_from(spec_flags), max_size=5).flatmap(
            lambda chosen: st.tuples(*chosen).map(lambda parts: sum(parts, [])))])
    predict = _command(["predict"], [
        _option("--run", run_ids()), json_flag, help_flag, home,
        _sometimes(_option("--top", st.integers(-3, 12).map(str) | fuzz_text.numbers()), 3),
        st.lists(made(), min_size=1, max_size=3)])
    runs = _command(["runs"], [json_flag, help_flag, home])
    export = _command(["runs", "export"], [
        run_ids().map(lambda run: [run]), _sometimes(_option("--csv", where), 2),
        _sometimes(_option("--tensorboard", where), 3), help_flag, home])
    return st.one_of(describe, predict, runs, export, st.lists(tokens(), max_size=4))


@dataclasses.dataclass
class World:
    """The scratch folder and store the commands run against."""

    root: Path
    home: Path
    runs: dict[str, str]
    count: itertools.count = dataclasses.field(default_factory=itertools.count)

    def argv(self, items: list) -> list[str]:
        """The example's arguments as strings, its files made in a fresh folder."""
        folder = self.root / f"example-{next(self.count)}"
        folder.mkdir()
        return [self._text(item, folder) for item in items]

    def _text(self, item: Any, folder: Path) -> str:
        if isinstance(item, Joined):
            return f"{item.flag}={self._text(item.value, folder)}"
        if isinstance(item, Run):
            return str(self.home) if item.which == "home" else self.runs[item.which]
        if not isinstance(item, Made):
            return item
        path = folder / item.name
        if item.kind == "missing folder":
            path = folder / "absent" / item.name
        elif path.exists():  # an earlier argument of the example made it already
            pass
        elif item.kind == "folder":
            path.mkdir()
        elif item.kind == "file":
            path.write_bytes(item.data)
        return str(path)


@contextlib.contextmanager
def world() -> Iterator[Callable[[list], Outcome]]:
    """A scratch STUDIO_HOME with a finished and an unfinished run; yields the check."""
    from fmnist_core.nets.model import build_model
    from fmnist_core.store.runs import RunStore

    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as tmp, _patched_env(Path(tmp)):
        root = Path(tmp)
        store = RunStore(root / "studio")
        spec = presets()["quick"]
        finished = store.create_run(spec, "fuzz", status="completed")
        store.add_epoch(finished, 1, {"loss": 2.3, "accuracy": 0.1, "val_loss": 2.3,
                                      "val_accuracy": 0.1}, 1.0, batches=4,
                        class_accuracy=[0.1] * 10)
        store.save_model(finished, build_model(spec))  # built, never trained
        store.finish_run(finished, "completed", test_accuracy=0.1, test_loss=2.3)
        unfinished = store.create_run(presets()["seed-cnn"], "fuzz")
        store.close()
        state = World(root, root / "studio", {"finished": finished, "unfinished": unfinished,
                                              "absent": "0123456789ab"})
        yield lambda items: check_cli(state, items)


@contextlib.contextmanager
def _patched_env(root: Path) -> Iterator[None]:
    """STUDIO_HOME in the scratch folder, the working directory there, and no training."""
    saved_home, saved_cwd, saved_train = os.environ.get("STUDIO_HOME"), os.getcwd(), cli._cmd_train

    def never_train(args) -> int:
        raise AssertionError("the fuzz never trains")

    os.environ["STUDIO_HOME"] = str(root / "studio")
    os.chdir(root)
    cli._cmd_train = never_train
    try:
        yield
    finally:
        cli._cmd_train = saved_train
        os.chdir(saved_cwd)
        if saved_home is None:
            os.environ.pop("STUDIO_HOME", None)
        else:
            os.environ["STUDIO_HOME"] = saved_home


def check_cli(state: World, items: list) -> Outcome:
    argv = state.argv(items)
    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", errors="strict", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace",
                              write_through=True)
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli.main(argv)
        except SystemExit as done:  # argparse: 0 after --help, 2 for a usage error
            code = done.code
        except Exception as error:  # noqa: BLE001
            return unexpected(error)
    said = err.getvalue().decode("utf-8")
    lines = said.rstrip("\n").split("\n") if said else []  # a terminal's lines, not splitlines
    if code not in (0, 2):
        return crash(f"exit code {code!r}; stderr {said[-300:]!r}")
    if "Traceback" in said:
        return crash(f"a traceback on stderr: {said[-300:]!r}")
    if code == 0:
        return _check_output(argv, out.getvalue().decode("utf-8"), lines)
    if not lines:
        return crash("exit code 2 and nothing on stderr")
    usage = _USAGE_ERROR.match(lines[-1])
    if usage and lines[0].startswith("usage: "):
        return sentence(usage.group(1))
    for line in lines:  # the studio's own: one "error: …", or "FILE: …" per unusable file
        told = _studio_line(line, argv)
        if told is None or told.kind == "crash":
            return told or crash(f"a line on stderr that is not the studio's: {line[:300]!r}")
    return sentence(lines[-1])


def _studio_line(line: str, argv: list[str]) -> Outcome | None:
    if line.startswith("error: "):
        return sentence(line[len("error: "):])
    if line.startswith("wrote "):
        return result()
    for arg in argv:
        if line.startswith(_escaped(arg) + ": "):
            return sentence(line[len(_escaped(arg)) + 2:])
    return None


def _escaped(text: str) -> str:
    """A file name as the CLI repeats it: what a terminal would not print, escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode()
                   for ch in text)


def _check_output(argv: list[str], printed: str, lines: list[str]) -> Outcome:
    for line in lines:
        told = _studio_line(line, argv)
        if told is None or told.kind == "crash":
            return told or crash(f"a line on stderr that is not the studio's: {line[:300]!r}")
    if "--json" in argv and "--help" not in argv and "-h" not in argv:
        for line in printed.rstrip("\n").split("\n") if printed else []:
            try:
                json.loads(line)
            except ValueError:
                return crash(f"--json printed a line that is not JSON: {line[:300]!r}")
    return result()


TARGET = Target("cli", "argv → python -m fmnist_core describe | predict | runs (in-process)",
                argvs, world)
