"""The teacher's Settings view: the class's exercise (training images and epochs per run,
the presets students start from, the knobs they may change, runs per student, trainings at
once), kept in the run store for every server of the class (`fmnist_core.store.settings`)."""

from __future__ import annotations

import os

import streamlit as st

from fmnist_core.nets.spec import MAX_TRAIN_IMAGES, MIN_TRAIN_IMAGES
from fmnist_core.store import settings
from fmnist_core.store.settings import ClassSettings
from fmnist_core.words import plural
from ui import resources

IMAGES_STEP = 1000  # the +/- buttons of the training images
# the form's widgets, forgotten when the settings go back to the defaults
KEYS = ("settings_images", "settings_epochs", "settings_presets", "settings_knobs",
        "settings_per_student", "settings_at_once")


def view() -> None:
    """The form with the class's settings now; Save keeps them, with one sentence saying
    what changed."""
    queue = resources.job_queue()
    now = queue.settings()
    st.caption("What every student's Train form offers and the line accepts, on every server "
               "of this class. A change applies to runs started from then on; runs already "
               "queued or training keep theirs.")
    with st.form("class_settings", border=False):
        c1, c2 = st.columns(2)
        images = c1.number_input(
            "Training images per run", MIN_TRAIN_IMAGES, MAX_TRAIN_IMAGES, now.train_images,
            step=IMAGES_STEP, placeholder="all", key="settings_images",
            help="The Train form's default and the most a run may have (the first images of "
                 "the training set, the validation images among them). Empty: all 60,000.")
        epochs = c2.number_input(
            "Most epochs per run", 1, settings.MAX_EPOCHS, now.max_epochs,
            placeholder=str(settings.MAX_EPOCHS), key="settings_epochs",
            help=f"Empty: up to {settings.MAX_EPOCHS}.")
        presets = st.pills("Presets students may start from", settings.PRESETS,
                           selection_mode="multi", default=list(now.presets),
                           key="settings_presets")
        knobs = st.pills("Knobs students may change", settings.KNOBS, selection_mode="multi",
                         default=list(now.knobs), format_func=settings.knob_label,
                         key="settings_knobs")
        st.caption("A knob left out keeps the value of the preset a student starts from, and "
                   "their form shows it fixed; opening conv blocks opens the filters too. "
                   "With every knob open, a student can still build any network.")
        c1, c2 = st.columns(2)
        per_student = c1.number_input(
            "Runs per student, queued or training", 1, settings.MAX_RUNS_PER_STUDENT,
            now.runs_per_student, key="settings_per_student")
        at_once = c2.number_input(
            "Trainings at once, the whole class", 1, settings.MAX_TRAININGS_AT_ONCE,
            now.trainings_at_once, key="settings_at_once",
            help=f"This server has {plural(os.cpu_count() or 1, 'CPU core')}, and a training "
                 "uses every one: trainings at once share them, unless they run on a cluster.")
        saved = st.form_submit_button("Save", type="primary")
    if saved:
        _save(now, images, epochs, presets, knobs, per_student, at_once)
    if st.button("Back to the defaults", key="settings_defaults",
                 help="Forgets what was saved: a class's defaults and this server's limits."):
        settings.clear(resources.run_store().db)
        for key in KEYS:
            st.session_state.pop(key, None)
        st.session_state.teacher_notice = changes(now, queue.settings(), "Back to the defaults")
        st.rerun()


def _save(now: ClassSettings, images, epochs, presets, knobs, per_student, at_once) -> None:
    """Keeps the form's settings and says what changed, or says what is missing."""
    if not presets:
        st.error("Choose at least one preset the students may start from.")
        return
    knobs = set(knobs) | ({"filters"} if "conv_blocks" in knobs else set())
    new = ClassSettings(train_images=images, max_epochs=epochs, presets=tuple(presets),
                        knobs=tuple(knobs), runs_per_student=per_student,
                        trainings_at_once=at_once)
    settings.save(resources.run_store().db, new)
    st.session_state.teacher_notice = changes(now, new, "Saved")
    st.rerun()


def changes(old: ClassSettings, new: ClassSettings, done: str) -> str:
    """One sentence: `done`, what changed from `old` to `new`, and that it applies to new
    runs; "Nothing changed: …" when nothing did."""
    parts = []
    if new.train_images != old.train_images:
        parts.append(f"{_images(new.train_images)} per run "
                     f"(was {_count(old.train_images, 'all')})")
    if new.max_epochs != old.max_epochs:
        parts.append(f"{_epochs(new.max_epochs)} per run "
                     f"(was {_count(old.max_epochs, f'up to {settings.MAX_EPOCHS}')})")
    if new.presets != old.presets:
        parts.append(f"starting from {_presets(new.presets)} (was {_presets(old.presets)})")
    locked = [settings.knob_label(k).lower() for k in new.locked if k not in old.locked]
    opened = [settings.knob_label(k).lower() for k in old.locked if k not in new.locked]
    if locked:
        parts.append(f"{_names(locked)} fixed")
    if opened:
        parts.append(f"{_names(opened)} open")
    if new.runs_per_student != old.runs_per_student:
        parts.append(f"{plural(new.runs_per_student, 'run')} per student "
                     f"(was {old.runs_per_student})")
    if new.trainings_at_once != old.trainings_at_once:
        parts.append(f"{plural(new.trainings_at_once, 'training')} at once "
                     f"(was {old.trainings_at_once})")
    if not parts:
        return "Nothing changed: the class's settings are as they were."
    return (f"{done}: {'; '.join(parts)}, for runs started from now on (those already "
            "queued or training keep theirs).")


def _images(n: int | None) -> str:
    return "all training images" if n is None else f"at most {plural(n, 'training image')}"


def _epochs(n: int | None) -> str:
    return f"up to {settings.MAX_EPOCHS} epochs" if n is None else f"at most {plural(n, 'epoch')}"


def _count(n: int | None, none: str) -> str:
    return none if n is None else f"{n:,}"


def _presets(names: tuple[str, ...]) -> str:
    return "any preset" if names == settings.PRESETS else _names(names, last=" or ")


def _names(items, last: str = " and ") -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]
