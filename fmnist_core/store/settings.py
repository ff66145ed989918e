"""The class's settings: the exercise the teacher set for every student's run.

The teacher sets them once for the class, and every server of a school reads the same, since
they are kept in the run store (the `class_settings` table, one JSON value per key): the
training images a run gets (the form's default and the most it may have), the most epochs,
the presets students may start from, the knobs they may change (every other knob keeps the
value of the preset a student started from), the runs one student may have queued or
training, and the trainings the class runs at once.

With nothing stored, a server with a teacher's passcode starts from the class defaults
below, and a lone user (no passcode) from no limits beyond the server's own. A spec is
checked where it is queued (`ClassSettings.check`), so the form, a link and the command
line meet the same limits.

    settings = load(store.db, classroom=True)
    settings.check(spec, n_train=12_000)      # SettingsError: one sentence for the student
    save(store.db, dataclasses.replace(settings, max_epochs=5))
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any, Iterable

from fmnist_core.nets.spec import (FIELD_LABELS, MAX_TRAIN_IMAGES, MIN_TRAIN_IMAGES,
                                   ModelSpec, presets)
from fmnist_core.store.db import Database
from fmnist_core.words import plural

_LOGGER = logging.getLogger(__name__)

# A class's defaults, for a class of 30 on a 2-core server in a 45-minute lesson: on 12,000
# images a quick or seed-cnn epoch takes seconds rather than a minute, and 3 epochs show a
# curve turning while the line still drains within the lesson. A benchmark of the classroom
# is to tune both.
CLASS_TRAIN_IMAGES = 12_000
CLASS_MAX_EPOCHS = 3
# The most a teacher may set. A student comparing networks needs a few runs at once, and
# each one holds a place in the class's line; a class of 30 training at once (a cluster)
# is the most one lesson asks for.
MAX_RUNS_PER_STUDENT = 10
MAX_TRAININGS_AT_ONCE = 32
MAX_EPOCHS = 200  # the spec's own bound (ModelSpec.epochs)
# The spec fields a student may be allowed to change. The dataset is the sidebar's, and the
# training images are bounded by `train_images`, not locked.
KNOBS = tuple(f.name for f in dataclasses.fields(ModelSpec)
              if f.name not in ("dataset", "train_images"))
PRESETS = tuple(presets())
DEFAULT_START = "seed-cnn"  # the preset a form opens on, when the class may start from it


class SettingsError(ValueError):
    """A spec beyond the class's settings. `str(err)` is the sentence a student reads: what
    the teacher set (`err.reason`, "Your teacher set at most 3 epochs for this class"), then
    what to choose; `err.field` is the spec field it is about ("preset" for a preset the
    class may not start from)."""

    def __init__(self, field: str, reason: str, choice: str):
        super().__init__(f"{reason}; {choice}.")
        self.field = field
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class ClassSettings:
    """What the teacher set for the class's runs; construction validates every field and
    raises `ValueError` naming it."""

    train_images: int | None = None  # per run: the form's default and the most (None: all)
    max_epochs: int | None = None  # the most epochs a run may have (None: the spec's 200)
    presets: tuple[str, ...] = PRESETS  # the presets students may start from
    knobs: tuple[str, ...] = KNOBS  # the fields students may change; the rest are locked
    runs_per_student: int = 1  # queued or training runs one student may have
    trainings_at_once: int = 1  # the class's trainings at once, every server together

    def __post_init__(self) -> None:
        # kept in a fixed order, so two settings that allow the same are equal
        object.__setattr__(self, "presets", _ordered("presets", self.presets, PRESETS))
        object.__setattr__(self, "knobs", _ordered("knobs", self.knobs, KNOBS))
        if self.train_images is not None:
            _int_range("train_images", self.train_images, MIN_TRAIN_IMAGES, MAX_TRAIN_IMAGES)
        if self.max_epochs is not None:
            _int_range("max_epochs", self.max_epochs, 1, MAX_EPOCHS)
        if not self.presets:
            raise ValueError("Argument `presets` must name at least one preset, received ().")
        if "conv_blocks" in self.knobs and "filters" not in self.knobs:
            # a block a student adds needs filters of its own
            raise ValueError("Argument `knobs` must hold 'filters' where it holds "
                             f"'conv_blocks', received {self.knobs!r}.")
        _int_range("runs_per_student", self.runs_per_student, 1, MAX_RUNS_PER_STUDENT)
        _int_range("trainings_at_once", self.trainings_at_once, 1, MAX_TRAININGS_AT_ONCE)

    @property
    def locked(self) -> tuple[str, ...]:
        """The knobs students may not change."""
        return tuple(k for k in KNOBS if k not in self.knobs)

    @property
    def default_start(self) -> str:
        """The preset a student's form opens on."""
        return DEFAULT_START if DEFAULT_START in self.presets else self.presets[0]

    def start(self, name: str) -> ModelSpec:
        """Preset `name` as this class starts from it: at most `max_epochs` epochs, and the
        class's training images."""
        spec = presets()[name]
        epochs = min(spec.epochs, self.max_epochs or spec.epochs)
        return spec.replace(epochs=epochs, train_images=self.train_images)

    def start_of(self, spec: ModelSpec) -> str | None:
        """The first allowed preset whose values `spec` keeps on every locked knob (where it
        could have started), else None."""
        return next((name for name in self.presets if not self._changed(spec, name)), None)

    def check(self, spec: ModelSpec, n_train: int) -> None:
        """Refuses a spec beyond these settings.

        Args:
            spec: the spec to be queued.
            n_train: training images (validation included) it would train on here.

        Raises:
            SettingsError: one sentence saying what the teacher set and what to choose.
        """
        most = self.max_epochs
        if most is not None and spec.epochs > most:
            raise SettingsError("epochs", f"Your teacher set at most {plural(most, 'epoch')} "
                                "for this class", _choose(most))
        most = self.train_images
        if most is not None and n_train > most:
            raise SettingsError(
                "train_images", f"Your teacher set at most {plural(most, 'training image')} "
                "per run for this class", _choose(most))
        if not self.locked or self.start_of(spec) is not None:
            return
        elsewhere = [name for name in PRESETS
                     if name not in self.presets and not self._changed(spec, name)]
        if elsewhere:
            raise SettingsError("preset", "Your teacher set this class to start from "
                                f"{_presets_words(self.presets)}",
                                f"choose {'it' if len(self.presets) == 1 else 'one of them'}")
        nearest = min(self.presets, key=lambda name: len(self._changed(spec, name)))
        field = self._changed(spec, nearest)[0]
        value = getattr(self.start(nearest), field)
        keep = "leave it" if _switch(value) else "keep"
        raise SettingsError(field, f"Your teacher {locked_words([field], self.start(nearest))}"
                            " for this class", f"{keep} {value_text(field, value)}")

    def _changed(self, spec: ModelSpec, name: str) -> list[str]:
        """The locked knobs on which `spec` differs from preset `name`'s start."""
        start = self.start(name)
        return [k for k in self.locked if getattr(spec, k) != getattr(start, k)]


def defaults(classroom: bool, runs_per_student: int = 1,
             trainings_at_once: int = 1) -> ClassSettings:
    """The settings before a teacher saves any: a class's (a server with a teacher's
    passcode) or a lone user's (none beyond the server's own limits).

    Args:
        classroom: whether the server has a teacher's passcode.
        runs_per_student: the server's own per-student limit (`$STUDIO_MAX_JOBS_PER_OWNER`).
        trainings_at_once: the server's own cap (`$STUDIO_MAX_CONCURRENT_TRAININGS`).
    """
    limits = dict(train_images=CLASS_TRAIN_IMAGES, max_epochs=CLASS_MAX_EPOCHS) \
        if classroom else {}
    return ClassSettings(**limits, runs_per_student=min(runs_per_student, MAX_RUNS_PER_STUDENT),
                         trainings_at_once=min(trainings_at_once, MAX_TRAININGS_AT_ONCE))


def load(db: Database, *, classroom: bool, runs_per_student: int = 1,
         trainings_at_once: int = 1) -> ClassSettings:
    """The class's settings: what the teacher saved, over `defaults(...)` (same arguments).

    Raises:
        StoreUnavailableError: the database cannot be reached.
    """
    base = defaults(classroom, runs_per_student, trainings_at_once)
    with db.transaction() as tx:
        rows = tx.all("SELECT key, value FROM class_settings")
    known = {f.name for f in dataclasses.fields(ClassSettings)}
    try:
        # a key a newer release wrote is left to it
        saved = {row["key"]: json.loads(row["value"]) for row in rows if row["key"] in known}
        return dataclasses.replace(base, **saved)
    except (TypeError, ValueError):
        _LOGGER.warning("The class settings in the run store cannot be read; the defaults "
                        "apply until the teacher saves them again.", exc_info=True)
        return base


def save(db: Database, settings: ClassSettings, fields: Iterable[str] | None = None) -> None:
    """Keeps `settings` for every server of the class; they apply to runs queued from now
    on.

    Args:
        db: the run store's database.
        settings: the class's settings.
        fields: the fields to keep (default: every one); the others stay as they were (a
            default, or what was saved before).

    Raises:
        StoreUnavailableError: the database cannot be reached.
    """
    values = dataclasses.asdict(settings)
    if fields is not None:
        values = {name: values[name] for name in fields}
    now = time.time()
    with db.transaction() as tx:
        for name, value in values.items():
            tx.execute("INSERT INTO class_settings (key, value, changed) VALUES (?, ?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value=excluded.value, "
                       "changed=excluded.changed", (name, json.dumps(value), now))


def clear(db: Database) -> None:
    """Forgets what the teacher saved: the defaults apply again."""
    with db.transaction() as tx:
        tx.execute("DELETE FROM class_settings")


def knob_label(field: str) -> str:
    """A knob's name as a heading: "Kernel size", "Batch norm", "Test-time flip"."""
    label = FIELD_LABELS.get(field, field)
    label = label[4:] if label.startswith("The ") else label
    return label[:1].upper() + label[1:]


def value_text(field: str, value: Any) -> str:
    """A knob's value in a sentence: "3", "max", "64 then 64", "0.003", "off"."""
    if _switch(value):
        return "on" if value else "off"
    if field == "filters":
        return " then ".join(str(f) for f in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def locked_words(fields: Iterable[str], start: ModelSpec) -> str:
    """What the teacher did to `fields`, after "Your teacher ": "fixed the kernel size at
    3", "turned batch norm off", "fixed the kernel size at 3 and the pooling at max, and
    turned batch norm off"."""
    fixed, turned = [], []
    for field in fields:
        value = getattr(start, field)
        if _switch(value):
            turned.append(f"{_lower_label(field, False)} {value_text(field, value)}")
        else:
            fixed.append(f"{_lower_label(field, True)} at {value_text(field, value)}")
    parts = ([f"fixed {_and(fixed)}"] if fixed else []) + \
        ([f"turned {_and(turned)}"] if turned else [])
    return (", and " if len(fixed) > 1 else " and ").join(parts)


def _switch(value: Any) -> bool:
    """A value said as on or off: a switch (batch norm), or none (no target accuracy)."""
    return value is None or isinstance(value, bool)


def _lower_label(field: str, article: bool) -> str:
    """"the kernel size", "the dense units" (with `article`), "batch norm"."""
    label = FIELD_LABELS.get(field, field)
    if label.startswith("The "):
        return "the " + label[4:]
    return ("the " if article else "") + label.lower()


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _choose(most: int) -> str:
    return f"choose {most:,}" + (" or fewer" if most > 1 else "")


def _presets_words(names: tuple[str, ...]) -> str:
    """"the quick preset", "the dense or seed-cnn preset"."""
    return ("the " + (names[0] if len(names) == 1 else
                      ", ".join(names[:-1]) + " or " + names[-1]) + " preset")


def _ordered(name: str, values: Iterable[str], known: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"Argument `{name}` must be a tuple of names, received {values!r}.")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"Argument `{name}` must name some of {known}, received {unknown}.")
    return tuple(k for k in known if k in set(values))


def _int_range(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"Argument `{name}` must be an integer from {low} to {high}, "
                         f"received {value!r}.")
