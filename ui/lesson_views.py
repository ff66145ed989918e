"""The Lessons page's views: a lesson's why, the guess asked before Run, the student's runs,
the answer against the guess and the class's results, and the view that shows why."""

from __future__ import annotations

import streamlit as st

from fmnist_core.lessons import answers, catalog
from fmnist_core.lessons.catalog import CHOICE, Lesson
from fmnist_core.nets import links
from fmnist_core.store import lessons as stored
from fmnist_core.words import plural
from ui import charts, knockout_views, resources
from ui.figures import comparison


def class_banner(current: str | None) -> str | None:
    """"Your class is on lesson 3: Pooling." when the teacher put the class on lesson
    `current` (a lesson id, None: none); returns its id."""
    if current is None:
        return None
    try:
        chosen = catalog.lesson(current)
    except ValueError:  # a lesson of a newer release: no banner rather than a wrong one
        return None
    st.info(f"Your class is on lesson {chosen.number}: {chosen.title}.")
    return chosen.id


def finished_setups(lesson: Lesson, owner: str, runs: list[dict], tags) -> set[str]:
    """The setups of `lesson` with a finished run of `owner`'s."""
    mine = answers.setup_runs(lesson, runs, tags, owner=owner)
    return {key for key, found in mine.items() if found}


def pick(owner: str, runs: list[dict], tags, class_on: str | None) -> Lesson:
    """The lesson picker (the class's lesson first time round) and the path's progress."""
    done = [x for x in catalog.LESSONS
            if finished_setups(x, owner, runs, tags) == {s.key for s in x.setups}]
    st.caption(f"You finished {len(done)} of {plural(len(catalog.LESSONS), 'lesson')}."
               if done else "You have not finished a lesson yet"
               + (": start with lesson 1." if class_on is None else "."))
    ids = [x.id for x in catalog.LESSONS]
    if st.session_state.get("lesson") not in ids:
        st.session_state["lesson"] = class_on or ids[0]
    chosen = st.selectbox(
        "Lesson", ids, key="lesson",
        format_func=lambda i: (f"{catalog.lesson(i).number}. {catalog.lesson(i).title}"
                               + (" ✓" if catalog.lesson(i) in done else "")))
    return catalog.lesson(chosen)


def ask(lesson: Lesson, owner: str) -> str | float | None:
    """The question and the student's guess (kept in the store as soon as it is given)."""
    store = resources.run_store()
    saved = stored.guesses(store, owner).get(owner, {}).get(lesson.id)
    key = f"guess_{lesson.id}"
    st.subheader(lesson.question, anchor=False)
    if lesson.kind == CHOICE:
        if key not in st.session_state and saved in lesson.choices:
            st.session_state[key] = saved
        guess = st.radio("Your guess", lesson.choices, index=None, key=key)
    else:
        if key not in st.session_state and isinstance(saved, (int, float)):
            st.session_state[key] = float(saved)
        guess = st.number_input(f"Your guess ({lesson.unit})", min_value=0.0, value=None,
                                step=0.5, key=key)
    if guess is not None and guess != saved:
        stored.save_guess(store, owner, lesson.id, guess)
    if guess is None:
        st.caption("Guess first: the Run button opens once you have answered.")
    return guess


def setups(lesson: Lesson) -> None:
    """What Run queues, each with the images it trains on here and a link that opens it
    filled in on Train."""
    queue, _ = resources.queue_or_refusal(retry=False)
    for setup in lesson.setups:
        n_train, _ = resources.run_images(queue, setup.spec.dataset, setup.spec)
        text, link = st.columns([4, 1], vertical_alignment="center")
        text.markdown(f"**{setup.label}**: {setup.spec.summary()}, "
                      f"{plural(n_train, 'training image')}, "
                      f"{plural(setup.spec.epochs, 'epoch')}.")
        link.page_link("pages/train.py", label="Open in Train", icon=":material/tune:",
                       query_params=links.to_query(setup.spec))


def outcome(lesson: Lesson, owner: str, guess, runs: list[dict], tags,
            revealed: bool) -> None:
    """The student's own answer against the guess, then the class's results (and, once the
    teacher revealed them, the class's answer against the guess)."""
    store = resources.run_store()
    mine = answers.setup_runs(lesson, runs, tags, owner=owner)
    own = answers.results(lesson, {k: v[:1] for k, v in mine.items()}, store.epochs)
    if lesson.measure == "knockout" and mine[lesson.setups[0].key]:
        own = [knockout_views.lost_result(lesson, mine[lesson.setups[0].key][0])]
    found = answers.answer(lesson, own)
    if found is None:
        st.caption("Your answer appears here once your runs of this lesson have finished.")
    else:
        _against(lesson, "Your runs say", found, guess)
    if lesson.seed_note:
        st.caption(lesson.seed_note)
    if found is None and not revealed:
        st.caption("The class's results show once your runs have finished (or when the "
                   "teacher reveals them).")
    else:
        everyone = answers.results(lesson, answers.setup_runs(lesson, runs, tags),
                                   store.epochs)
        st.markdown(answers.class_sentence(lesson, everyone))
        class_found = answers.answer(lesson, everyone) if revealed else None
        if class_found is not None:
            _against(lesson, "Your teacher revealed the class's answer. The class's runs say",
                     class_found, guess)
    why(lesson, mine)


def _against(lesson: Lesson, who: str, found, guess) -> None:
    """"<who>: **5×5 kernels**. You guessed 3×3 kernels: not this time." in the colour of
    the verdict."""
    said = f"{who}: **{answers.shown(lesson, found)}**."
    right = answers.judge(lesson, guess, found)
    if right is None:
        st.info(f"{said} You made no guess.")
    elif right:
        st.success(f"{said} You guessed {answers.shown(lesson, guess)}: right.")
    else:
        st.warning(f"{said} You guessed {answers.shown(lesson, guess)}: not this time.")


def why(lesson: Lesson, mine: dict[str, list[dict]]) -> None:
    """The view that shows why: the curves overlaid, or the filters and the knock-out."""
    latest = {s.label: mine[s.key][0] for s in lesson.setups if mine.get(s.key)}
    if not latest:
        return
    store = resources.run_store()
    if lesson.id == "edge-kernel":
        knockout_views.edge_next_to_learned(next(iter(latest.values()))["id"])
        knockout_views.panel(next(iter(latest.values()))["id"], key="lesson")
        return
    curves = {label: store.epochs(run["id"]) for label, run in latest.items()}
    if lesson.measure == "overfit_gap":  # training and validation of each, on one axis
        curves = {f"{label} · {part}": [{**r, "accuracy": r[metric]} for r in rows]
                  for label, rows in curves.items()
                  for part, metric in (("training", "accuracy"),
                                       ("validation", "val_accuracy"))}
        charts.show(comparison.overlay(curves, "accuracy"), key=f"why_{lesson.id}")
        return
    if lesson.measure == "epoch_seconds":  # each epoch's time: the first also traces
        timed = comparison.overlay(curves, "seconds")
        timed.update_layout(yaxis_title="seconds of the epoch")
        charts.show(timed, key=f"why_time_{lesson.id}")
    charts.show(comparison.overlay(curves, "val_accuracy"), key=f"why_{lesson.id}")
