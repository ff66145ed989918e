"""Lessons: the classic tutorials' exercises as a path, a guess before every run."""

import streamlit as st

from fmnist_core.store import lessons as stored
from ui import identity, lesson_run, lesson_views, resources, router

router.require_app()

st.title("Lessons", anchor=False)
st.caption("Seven short experiments from the classic tutorials. Each asks you to guess "
           "first, then runs the networks and shows your answer against your guess and "
           "against the class.")
store = resources.run_store()
owner = identity.owner()
seen = lesson_run.watched(owner)  # before the runs are read: a change after it redraws
current, revealed = seen[1]
class_on = lesson_views.class_banner(current)
runs, tags = store.list_runs(), stored.tags(store)
lesson = lesson_views.pick(owner, runs, tags, class_on)

st.markdown(lesson.why)
lesson_views.setups(lesson)
guess = lesson_views.ask(lesson, owner)
lesson_run.show_notice()
lesson_run.run_button(lesson, owner, guess, runs, tags)
lesson_views.outcome(lesson, owner, guess, runs, tags, revealed and class_on == lesson.id)
lesson_run.watch(owner, seen)
