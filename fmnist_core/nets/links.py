"""A spec as a link's query string, and back: `?preset=seed-cnn&filters=32,64&kernel_size=5`.

The keys are the spec's field names; a link names the preset it started from and only the
fields that differ from it, so a teacher's link stays short and readable. Reading a link
checks every value as the form would; a bad or impossible one is one sentence for the
page, which then shows the defaults. A link carries settings only: it never starts a
training and never carries who someone is.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from fmnist_core.data.datasets import DATASETS
from fmnist_core.nets.spec import (ACTIVATIONS, AUGMENTS, FIELD_LABELS, LR_SCHEDULES,
                                   MAX_CONV_BLOCKS, OPTIMIZERS, PADDINGS, POOLINGS, ModelSpec,
                                   SpecError, presets)

PRESET_KEY = "preset"
FIELDS = {f.name: f for f in dataclasses.fields(ModelSpec)}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
SHOWN_LENGTH = 40  # characters of a link's value that a sentence repeats
# The fields whose value is a word, with their words: read here, so that a sentence about a
# wrong one repeats it as inline code (the spec's own sentence quotes it as Python would,
# and the page's Markdown would draw a "[sign in](https://…)" there as a link).
CHOICES = {"dataset": DATASETS, "padding": PADDINGS, "activation": ACTIVATIONS,
           "pooling": POOLINGS, "optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES,
           "augment": AUGMENTS}


def to_query(spec: ModelSpec, preset: str | None = None) -> dict[str, str]:
    """The query parameters of `spec`: `preset` (default: the closest preset) and the
    fields that differ from it."""
    table = presets()
    if preset not in table:
        preset = min(table, key=lambda name: _differences(spec, table[name]))
    query = {PRESET_KEY: preset}
    base = table[preset].to_dict()
    for name, value in spec.to_dict().items():
        if name == "dataset" and value == "fashion_mnist":
            continue
        if base.get(name) != value:
            query[name] = _text(value)
    return query


def from_query(params: Mapping[str, Any]) -> tuple[ModelSpec | None, str | None]:
    """The spec a link describes: (spec, None), or (None, the sentence for the page) for a
    link with an unknown key, an unreadable value or an impossible spec. Other keys of the
    page (such as `run`) are not the spec's and are ignored by the caller."""
    values = {k: _first(v) for k, v in params.items() if k == PRESET_KEY or k in FIELDS}
    name = values.pop(PRESET_KEY, None)
    table = presets()
    if name is not None and name not in table:
        return None, (f"The link asks for the preset {_shown(name)}, which does not exist "
                      f"(there are {', '.join(table)}); the form shows the defaults.")
    base = table[name] if name else ModelSpec()
    changes: dict[str, Any] = {}
    for key, text in values.items():
        try:
            changes[key] = _parse(key, text)
        except ValueError:
            return None, (f"The link's {_shown(f'{key}={text}')} cannot be read as "
                          f"{_kind(key)}; the form shows the defaults.")
    try:
        return base.replace(**changes), None
    except SpecError as err:
        return None, f"The link's settings are not possible: {err.student} The form shows " \
                     "the defaults."
    except (TypeError, ValueError) as err:
        return None, f"The link's settings are not possible ({err}); the form shows the defaults."


def _shown(text: str) -> str:
    """Text from a link as a sentence repeats it: one line of printable characters, at most
    SHOWN_LENGTH, as inline code, so the page's Markdown shows it as typed (a value such as
    "[sign in](https://…)" is no link there); “” when nothing printable is left."""
    kept = "".join(ch for ch in " ".join(text.split()) if ch.isprintable() and ch != "`")
    if len(kept) > SHOWN_LENGTH:
        kept = kept[: SHOWN_LENGTH - 1] + "…"
    return f"`{kept}`" if kept else "“”"


def _differences(spec: ModelSpec, other: ModelSpec) -> int:
    mine, theirs = spec.to_dict(), other.to_dict()
    return sum(mine[k] != theirs[k] for k in mine)


def _first(value: Any) -> str:
    return str(value[0] if isinstance(value, (list, tuple)) and value else value).strip()


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


def _kind(key: str) -> str:
    default = FIELDS[key].default
    if key == "filters":
        return f"at most {MAX_CONV_BLOCKS} whole numbers separated by commas"
    if key in CHOICES:
        return f"one of {', '.join(CHOICES[key])}"
    if key == "target_accuracy":
        return "a number or none"
    if key == "train_images":
        return "a whole number or all"
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "a whole number"
    if isinstance(default, float):
        return "a number"
    return f"a value for {FIELD_LABELS.get(key, key).lower()}"


def _parse(key: str, text: str) -> Any:
    """One field's value from its text; ValueError when it cannot be read."""
    default = FIELDS[key].default
    lowered = text.lower()
    if key == "filters":
        filters = tuple(int(part) for part in text.split(",") if part.strip())
        if len(filters) > MAX_CONV_BLOCKS:
            raise ValueError(text)
        return filters
    if key in CHOICES:
        if text not in CHOICES[key]:
            raise ValueError(text)
        return text
    if key == "target_accuracy":
        return None if lowered in ("", "none", "off") else _number(text)
    if key == "train_images":  # no number: every training image there is
        return None if lowered in ("", "none", "all") else int(text)
    if isinstance(default, bool):
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ValueError(text)
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return _number(text)
    return text


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value
