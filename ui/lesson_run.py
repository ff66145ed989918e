"""Running a lesson's setups from the Lessons page: Run queues the setups the student has no
result of yet, with the class's settings; where the class allows fewer runs at a time than
the lesson has setups, the next is queued when one ends (while the page stays open); a run
that ended without a result is said so; the page redraws once a run ends or the teacher
changes the class's lesson."""

from __future__ import annotations

import time

import streamlit as st

from fmnist_core.lessons import answers
from fmnist_core.lessons.catalog import Lesson
from fmnist_core.nets.limits import SpecTooCostlyError
from fmnist_core.store import lessons as stored
from fmnist_core.store.queue import OwnerLimitError
from fmnist_core.store.records import ACTIVE_STATUSES
from fmnist_core.store.settings import SettingsError
from fmnist_core.words import markdown_text, plural
from ui import identity, resources

# How often an open Lessons page looks at the store: while a run of the student's trains
# or waits, soon after it ends; otherwise only for the teacher's lesson or reveal, which
# can wait a few seconds (30 open pages read two small rows each time).
BUSY_POLL_SECONDS = 3.0
IDLE_POLL_SECONDS = 6.0
# The session key of a lesson whose other setups wait to be queued: (lesson id, the time
# Run was pressed).
PENDING = "lesson_queue"
NOTICE = "lesson_notice"


def busy_runs(owner: str, runs: list[dict]) -> list[dict]:
    """The student's runs that are waiting or training, of any lesson."""
    return [r for r in runs if r["owner"] == owner and r["status"] in ACTIVE_STATUSES]


def run_button(lesson: Lesson, owner: str, guess, runs: list[dict], tags) -> None:
    """Run, enabled once the student has guessed; what is training or waiting, and which
    runs ended without a result."""
    busy = busy_runs(owner, runs)
    mine = answers.setup_runs(lesson, runs, tags, owner=owner)
    waiting = {answers.belongs(lesson, r, tags) for r in busy} - {None}
    ended = {key: run for key, run in answers.ended_early(lesson, runs, tags, owner).items()
             if key not in waiting}
    todo = [s for s in lesson.setups if not mine[s.key] and s.key not in waiting]
    for setup in lesson.setups:
        if setup.key in ended:
            words = answers.ENDED_WORDS[ended[setup.key]["status"]]
            st.caption(f"Your run of {markdown_text(setup.label)} {words}: it does not count. "
                       "Run queues it again.")
    if waiting:
        st.caption(f"{plural(len(waiting), 'setup')} of this lesson training or waiting; the "
                   "page shows the answer once they finish.")
    if not todo:
        if not waiting:
            st.caption("You have run every setup of this lesson.")
        st.session_state.pop(PENDING, None)
        return
    pending = st.session_state.get(PENDING)
    if pending and any(run["created"] >= pending[1] for run in ended.values()):
        st.session_state.pop(PENDING, None)  # a run of this Run was stopped: no more queued
        pending = None
    go_on = bool(pending) and pending[0] == lesson.id and not busy
    if pending and pending[0] == lesson.id and busy:
        st.caption(f"Then {_later(len(todo))} will be queued as your runs finish, while this "
                   "page stays open.")
    if (st.button(f"Run {plural(len(todo), 'setup')}", type="primary",
                  disabled=guess is None or bool(waiting), key=f"run_{lesson.id}")
            or go_on):
        _queue(lesson, owner, todo, pending[1] if go_on else time.time())


def _queue(lesson: Lesson, owner: str, todo: list, pressed: float) -> None:
    """Queues `todo` in order until the class's limit refuses one; says what was queued."""
    queue, queued = resources.job_queue(), 0
    for setup in todo:
        try:
            job = queue.submit(setup.spec, owner, client=identity.client_address())
        except OwnerLimitError as err:
            if queued == 0:
                return _refused(str(err))
            break
        except SettingsError as err:
            return _refused(refused_words(err, setup), queued)
        except SpecTooCostlyError as err:
            return _refused(str(err), queued)
        stored.tag_run(resources.run_store(), job.run_id, lesson.id, setup.key)
        queued += 1
    rest = len(todo) - queued
    if rest:
        st.session_state[PENDING] = (lesson.id, pressed)
        limit = queue.settings().runs_per_student
        later = _later(rest)
        st.session_state[NOTICE] = (
            f"{plural(queued, 'run')} queued. Your class allows {plural(limit, 'run')} "
            f"waiting or training per student, so {later} will be queued as your runs "
            "finish, while this page stays open.")
    else:
        st.session_state.pop(PENDING, None)
        st.session_state[NOTICE] = f"{plural(queued, 'run')} queued."
    st.rerun()


def _later(rest: int) -> str:
    """"the other setup", "the other 2 setups"."""
    return "the other setup" if rest == 1 else f"the other {plural(rest, 'setup')}"


def refused_words(err: SettingsError, setup) -> str:
    """The sentence a student reads when the class's settings refuse a lesson's setup (the
    form's own advice, "choose 3 or fewer", does not apply: a lesson's setup is fixed)."""
    return (f"{err.reason}, so this lesson's setup “{setup.label}” cannot run here: ask your "
            "teacher to allow it.")


def _refused(sentence: str, queued: int = 0) -> None:
    """Says why a setup was not queued (after the runs that were, if any)."""
    st.session_state.pop(PENDING, None)
    if queued:
        st.session_state[NOTICE] = f"{plural(queued, 'run')} queued. {sentence}"
        st.rerun()
    st.error(sentence)


def show_notice() -> None:
    """What the last Run queued (said once, after the page redrew)."""
    if notice := st.session_state.pop(NOTICE, None):
        st.success(notice)


def watched(owner: str) -> tuple:
    """What the page redraws for when it changes: the student's active runs, the class's
    lesson and whether it is revealed."""
    store = resources.run_store()
    active = tuple(sorted(r["id"] for r in store.list_runs(owner=owner)
                          if r["status"] in ACTIVE_STATUSES))
    return active, stored.class_lesson(store)


def watch(owner: str, seen: tuple) -> None:
    """Redraws the page once `watched` differs from `seen` (what the page was drawn from),
    polled often while a run is active."""
    every = BUSY_POLL_SECONDS if seen[0] else IDLE_POLL_SECONDS

    @st.fragment(run_every=every)
    def poll() -> None:
        if watched(owner) != seen:
            st.rerun()

    poll()
