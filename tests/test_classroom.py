from fmnist_core.store import classroom
from fmnist_core.store.line_times import Place
from fmnist_core.nets.spec import preset


def run(run_id, owner, status="completed", acc=None, created=0.0, spec="quick"):
    return {"id": run_id, "owner": owner, "status": status, "test_accuracy": acc,
            "created": created, "spec": preset(spec), "epochs_run": 2, "started": created}


RUNS = [run("a1", "ann", acc=0.88, created=1), run("a2", "ann", acc=0.91, created=2,
                                                   spec="seed-cnn"),
        run("b1", "bob", acc=0.93, created=3), run("b2", "bob", "failed", created=4),
        run("c1", "cat", "running", created=5), run("d1", "dan", "diverged", 0.1, created=6)]
NAMES = {"ann": "Ann", "bob": "Bob"}


def test_the_leaderboard_has_each_students_best_tested_run_then_every_other_student():
    table = classroom.leaderboard(RUNS, {**NAMES, "zoe": "Zoe"})
    assert [(r["rank"], r["student"], r["test_accuracy"], r["run"]) for r in table] == [
        (1, "Bob", 0.93, "b1"), (2, "Ann", 0.91, "a2"),
        # no tested run: a running one, a diverged one, none at all (only a name)
        (None, "student cat", None, None), (None, "student dan", None, None),
        (None, "Zoe", None, None)]
    assert [r["runs"] for r in table[2:]] == [1, 1, 0]
    assert table[1]["model"] == preset("seed-cnn").summary() and table[1]["runs"] == 2


def test_runs_group_by_student_name_and_unnamed_students_by_id():
    groups = classroom.by_student(RUNS, NAMES)
    assert [label for label, _ in groups] == ["Ann", "Bob", "student cat", "student dan"]
    assert [r["id"] for r in groups[0][1]] == ["a2", "a1"]  # newest first


def test_the_line_lists_training_runs_then_the_queue_in_order():
    queued = [run("q1", "eve", "queued", created=7), run("q2", "bob", "queued", created=8)]
    rows = classroom.line(RUNS + queued, queued, NAMES)
    assert [(r["place"], r["student"], r["run"]) for r in rows] == [
        ("training", "student cat", "c1"), ("1", "student eve", "q1"), ("2", "Bob", "q2")]


def test_the_line_says_how_far_each_training_is_and_when_each_waiting_run_starts():
    queued = [run("q1", "eve", "queued", created=7), run("q2", "bob", "queued", created=8)]
    progress = {"epoch": 2, "epochs": 5, "batch": 120, "batches_per_epoch": 422}
    places = {"c1": Place("c1", 0, 0.0, 200.0, progress=progress),
              "q1": Place("q1", 1, 200.0, 290.0, 1), "q2": Place("q2", 2, None, None, 2)}
    rows = classroom.line(RUNS + queued, queued, NAMES, places)
    assert [(r["run"], r["model"], r["progress"], r["time"]) for r in rows] == [
        ("c1", "Conv 16 → Dense 128", "epoch 2/5 · batch 120/422", "about 3 min 20 s left"),
        ("q1", "Conv 16 → Dense 128", "waiting · 3 epochs", "starts in about 3 min 20 s"),
        ("q2", "Conv 16 → Dense 128", "waiting · 3 epochs",
         "starts once 2 trainings have ended")]
    # a training still building its network; a run that left the line meanwhile
    places["c1"] = Place("c1", 0, 0.0, None, progress={"epoch": 0, "epochs": 5})
    del places["q2"]
    rows = classroom.line(RUNS + queued, queued, NAMES, places)
    assert [(r["progress"], r["time"]) for r in rows] == [
        ("preparing · 3 epochs", "time left not known yet"),
        ("waiting · 3 epochs", "starts in about 3 min 20 s"), ("3 epochs", "–")]


def test_a_page_opens_on_the_students_best_completed_run_not_a_short_stopped_one():
    finished = [run("s1", "ann", "stopped", 0.50, created=9),  # newest: 5 batches, stopped
                run("a1", "ann", acc=0.88, created=1), run("a2", "ann", acc=0.91, created=2),
                run("b1", "bob", acc=0.93, created=3)]
    assert classroom.default_run(finished, "ann") == ("a2", "your best completed run")
    only_stopped = [run("s1", "ann", "stopped", 0.50), run("b1", "bob", acc=0.93)]
    assert classroom.default_run(only_stopped, "ann")[0] == "s1"
    assert classroom.default_run(finished, "eve") == ("b1", "the class's best completed run")
    assert classroom.default_run([], "ann") == (None, "")


def test_names_that_several_browsers_share_are_found_whatever_their_case():
    names = {"a": "Ann", "b": "ann", "c": "Bob", "d": "Ann", "e": "Zoe", "f": "zoe"}
    assert classroom.shared_names(names) == [("Ann", 3), ("Zoe", 2)]
    assert classroom.shared_names({"a": "Ann"}) == []


def test_a_runs_training_images_read_as_a_count_or_all():
    assert classroom.images_text(preset("quick").replace(train_images=12000)) == "12,000"
    assert classroom.images_text(preset("quick")) == "all"  # as every run before the field
    counted = {**run("c2", "cat", acc=0.9), "spec": preset("quick").replace(train_images=500)}
    table = classroom.leaderboard([*RUNS, counted], NAMES)
    assert {r["student"]: r["images"] for r in table if r["rank"]} == {
        "Bob": "all", "Ann": "all", "student cat": "500"}
    assert all(r["images"] is None for r in table if r["rank"] is None)
