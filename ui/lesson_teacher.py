"""The teacher's Lessons view: put the class on a lesson, reveal the class's results, who
is on which lesson, and the class's guesses against the outcomes."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from fmnist_core.lessons import answers, catalog
from fmnist_core.lessons.catalog import Lesson
from fmnist_core.store import classroom
from fmnist_core.store import lessons as stored
from fmnist_core.store import settings as class_settings
from fmnist_core.store.settings import ClassSettings, SettingsError
from ui import charts, lesson_run, resources
from ui import class_settings as class_settings_view
from ui.figures import classes

NO_LESSON = ""
# Up to this many guesses in a bar, the chart's axis ticks every whole guess.
FEW_GUESSES = 10


def steer() -> None:
    """The class's lesson and whether its results are revealed to the students."""
    store = resources.run_store()
    current, revealed = stored.class_lesson(store)
    ids = [NO_LESSON] + [x.id for x in catalog.LESSONS]
    with st.form("class_lesson"):
        chosen = st.selectbox(
            "Put the class on", ids, index=ids.index(current) if current in ids else 0,
            format_func=lambda i: (f"Lesson {catalog.lesson(i).number}: "
                                   f"{catalog.lesson(i).title}" if i else "No lesson"))
        reveal = st.toggle("Reveal the class's results to every student", value=revealed,
                           help="With it, every student on the class's lesson sees the class's "
                                "results and the class's answer against their guess; without "
                                "it, a student sees the class's results once their own runs of "
                                "the lesson have finished.")
        if st.form_submit_button("Save"):
            stored.set_class_lesson(store, chosen or None, bool(chosen) and reveal)
            st.session_state["teacher_notice"] = (
                f"The class is on lesson {catalog.lesson(chosen).number}"
                + (", its results revealed." if reveal else ".") if chosen
                else "The class is on no lesson.")
            st.rerun()
    if current in ids[1:]:
        refused = refusals(catalog.lesson(current))
        for label, sentence in refused:
            st.warning(f"The class's settings refuse this lesson's setup “{label}”: its Run "
                       f"tells your students “{sentence}” Change the settings under "
                       "Settings to let the class run it.")
        if refused:
            allow(catalog.lesson(current))


def widened(now: ClassSettings, lesson: Lesson) -> ClassSettings:
    """`now` with the most epochs and training images a run may have raised to what
    `lesson`'s setups need (the presets and knobs left as they are)."""
    epochs = max(setup.spec.epochs for setup in lesson.setups)
    images = [setup.spec.train_images for setup in lesson.setups]
    most_images = now.train_images
    if most_images is not None:
        most_images = None if None in images else max(most_images, *images)
    most_epochs = None if now.max_epochs is None else max(now.max_epochs, epochs)
    return dataclasses.replace(now, train_images=most_images, max_epochs=most_epochs)


def allow(lesson: Lesson) -> None:
    """A button that raises the class's epochs and training images to what `lesson`'s
    setups need, where that is what refuses them."""
    queue, _ = resources.queue_or_refusal(retry=False)
    now, _ = resources.form_settings(queue)
    wider = widened(now, lesson)
    if wider == now:
        return  # the presets or knobs refuse them: only Settings can say which to open
    if st.button(f"Let the class run lesson {lesson.number}", key="lesson_allow",
                 help="Raises the most epochs and training images a run may have to what "
                      "this lesson's setups need; every other setting stays."):
        class_settings.save(resources.run_store().db, wider, ["max_epochs", "train_images"])
        for key in class_settings_view.KEYS:  # the Settings form shows the new values
            st.session_state.pop(key, None)
        st.session_state["teacher_notice"] = class_settings_view.changes(
            now, wider, f"Lesson {lesson.number} can run")
        st.rerun()


def refusals(lesson: Lesson) -> list[tuple[str, str]]:
    """(setup label, the sentence a student reads) for each setup of `lesson` that the
    class's settings refuse now."""
    queue, _ = resources.queue_or_refusal(retry=False)
    settings, _ = resources.form_settings(queue)
    refused = []
    for setup in lesson.setups:
        n_train, _ = resources.run_images(queue, setup.spec.dataset, setup.spec)
        try:
            settings.check(setup.spec, n_train)
        except SettingsError as err:
            refused.append((setup.label, lesson_run.refused_words(err, setup)))
    return refused


def finished(runs: list[dict], tags) -> dict[str, int]:
    """How many lessons each student has a finished run of every setup of."""
    counts: dict[str, int] = {}
    for lesson in catalog.LESSONS:
        owners = [{run["owner"] for run in found}
                  for found in answers.setup_runs(lesson, runs, tags).values()]
        for owner in set.intersection(*owners):
            counts[owner] = counts.get(owner, 0) + 1
    return counts


def progress() -> None:
    """Who is on which lesson, and the guesses judged against the class's outcomes."""
    store = resources.run_store()
    names, runs, tags = store.owner_names(), store.list_runs(), stored.tags(store)
    guesses, latest = stored.guesses(store), stored.latest_lessons(store)
    if not guesses:
        st.caption("No student has made a guess yet.")
        return
    done = finished(runs, tags)
    rows = [{"student": classroom.student_label(owner, names),
             "lesson": f"{catalog.lesson(latest[owner]).number}. "
                       f"{catalog.lesson(latest[owner]).title}",
             "guesses": len(made), "lessons finished": done.get(owner, 0)}
            for owner, made in guesses.items() if _known(latest.get(owner))]
    if rows:
        st.dataframe(pd.DataFrame(rows).sort_values("student"), hide_index=True)
    counts = {"right": [], "wrong": [], "no outcome yet": []}
    for lesson in catalog.LESSONS:
        everyone = answers.results(lesson, answers.setup_runs(lesson, runs, tags),
                                   store.epochs)
        outcome = answers.answer(lesson, everyone)
        judged = [answers.judge(lesson, made[lesson.id], outcome)
                  for made in guesses.values() if lesson.id in made]
        counts["right"].append(sum(1 for j in judged if j is True))
        counts["wrong"].append(sum(1 for j in judged if j is False))
        counts["no outcome yet"].append(sum(1 for j in judged if j is None))
    fig = classes.grouped_bars([f"lesson {x.number}" for x in catalog.LESSONS], counts,
                               "The class's guesses against the class's outcomes")
    if max(max(v) for v in counts.values()) <= FEW_GUESSES:
        fig.update_yaxes(dtick=1)  # a count of students: no tick at 0.2 of one
    charts.show(fig, key="teacher_lesson_guesses")
    st.caption("A guess is judged against the class's outcome: the setups' results "
               "averaged over every student's runs (lesson 2's outcome is measured on each "
               "student's own network, so its guesses show as no outcome yet here).")


def _known(lesson_id: str | None) -> bool:
    try:
        catalog.lesson(lesson_id)
        return True
    except ValueError:
        return False
