"""Lessons: the classic tutorials' exercises as a path, a guess before every run."""

import streamlit as st

from fmnist_core.store import lessons as stored
from ui import identity, lesson_views, resources, router

router.require_app()

st.title("Lessons", anchor=False)
st.caption("Seven short experiments from the classic tutorials. Each asks you to guess "
           "first, then runs the networks and shows your answer against your guess and "
           "against the class.")
store = resources.run_store()
owner = identity.owner()
class_on = lesson_views.class_banner()
runs, tags = store.list_runs(), stored.tags(store)
lesson = lesson_views.pick(owner, runs, tags, class_on)
_, revealed = stored.class_lesson(store)

st.markdown(lesson.why)
lesson_views.setups(lesson)
guess = lesson_views.ask(lesson, owner)
lesson_views.show_notice()
lesson_views.run_button(lesson, owner, guess, runs, tags)
lesson_views.outcome(lesson, owner, guess, runs, tags, revealed and class_on == lesson.id)
