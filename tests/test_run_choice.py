"""How a page names runs: the student ("you" for this browser), the label in a picker."""

import time

import pytest

from fmnist_core.nets.spec import preset
from ui import identity, run_choice


@pytest.fixture
def me(monkeypatch):
    monkeypatch.setattr(identity, "known_owner", lambda: "ann-browser")
    return "ann-browser"


def test_a_runs_student_is_their_name_you_or_classmate(me):
    names = {"ann-browser": "Ann", "bob-browser": "Bob"}
    assert run_choice.student(me, names) == "Ann (you)"
    assert run_choice.student(me, {}) == "you"
    assert run_choice.student("bob-browser", names) == "Bob"
    assert run_choice.student("eve-browser", names) == "classmate"


def test_a_runs_label_names_it_its_accuracy_and_its_student(me):
    created = time.mktime((2026, 3, 2, 10, 42, 0, 0, 0, -1))
    run = {"id": "3f9a2c0011", "owner": me, "test_accuracy": 0.912, "status": "completed",
           "created": created, "spec": preset("quick")}
    assert run_choice.run_label(run, short=True) == "3f9a2c · 91.2% · you"
    label = run_choice.run_label(run, {me: "Ada"})
    assert label == f"3f9a2c · {preset('quick').summary()} · 91.2% · 10:42 · Ada (you)"
    running = dict(run, test_accuracy=None, status="running", owner="bob-browser")
    assert run_choice.run_label(running, short=True) == "3f9a2c · running · classmate"
