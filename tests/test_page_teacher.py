"""A browser's runs across reloads, a student's name, and the teacher's view, under AppTest.

AppTest cannot send cookies, so a reload is a new AppTest whose cookie lookup returns the
first session's token (what the browser sends back).
"""

import re
import time

import pytest

from fmnist_core.nets.spec import preset
from pagetools import page_test, page_text
from ui import identity
from waiting import wait_for

PASSCODE = "blue-heron-42"


@pytest.fixture
def teacher_env(monkeypatch):
    monkeypatch.setenv("STUDIO_TEACHER_PASSCODE", PASSCODE)


@pytest.fixture
def class_settings(app_home):
    """Saves the class's settings in the pages' shared store for one test (every page test
    reads them), then forgets them."""
    from fmnist_core.store import settings
    from fmnist_core.store.runs import RunStore

    store = RunStore(app_home)
    yield lambda **fields: settings.save(store.db, settings.ClassSettings(**fields))
    settings.clear(store.db)


def unlock(at, code=PASSCODE):
    at.text_input(key="teacher_attempt").input(code)
    at.button(key="FormSubmitter:teacher_unlock-Unlock").click().run()
    return at


def test_a_reload_keeps_the_run_and_another_browser_gets_nothing(monkeypatch):
    from ui import resources

    at = page_test("pages/train.py")
    at.selectbox(key="preset").set_value("dense").run()
    at.number_input(key="spec_epochs").set_value(200).run()
    at.button(key="start").click().run()
    run_id, token = at.session_state["job_id"], at.session_state["owner_token"]
    queue = resources.job_queue()
    try:
        monkeypatch.setattr(identity, "_cookie_token", lambda name: token)
        again = page_test("pages/train.py")  # the same browser, a new session
        assert again.session_state["owner"] == at.session_state["owner"]
        assert again.session_state["job_id"] == run_id and not again.exception
        assert again.button(key="start").disabled  # no second run behind the first
        monkeypatch.setattr(identity, "_cookie_token", lambda name: None)
        other = page_test("pages/train.py")  # another browser: a new owner
        assert other.session_state["owner"] != at.session_state["owner"]
        assert "No training of yours is running" in page_text(other)
        forged = token.split(".")[0] + "." + "0" * 32
        monkeypatch.setattr(identity, "_cookie_token", lambda name: forged)
        assert page_test("pages/train.py").session_state["owner"] != at.session_state["owner"]
        # the reloaded session still has Stop, and it works
        wait_for(lambda: any(b.key == "stop" for b in again.run().button), timeout=120,
                 what="the Stop button after the reload", every=0.5)
        again.button(key="stop").click().run()
        assert queue.get(run_id).wait(60)
        assert queue.get(run_id).status == "stopped"
    finally:
        if not queue.get(run_id).done:
            queue.stop(run_id, owner=None)
            queue.get(run_id).wait(60)


def test_a_name_is_kept_for_the_browser_and_shown_next_to_its_runs(monkeypatch, app_home):
    from fmnist_core.store.runs import RunStore

    at = page_test("pages/data.py")  # the sidebar, where the name is typed
    at.text_input(key="student_name").input("  Ada   Lovelace ").run()
    # (AppTest reruns the page without the router, so the sidebar shows on first runs only)
    assert at.session_state["student_name"] == "Ada Lovelace"
    me, token = at.session_state["owner"], at.session_state["owner_token"]
    store = RunStore(app_home)
    assert store.owner_names()[me] == "Ada Lovelace"
    mine = store.create_run(preset("dense"), me, status="completed")
    monkeypatch.setattr(identity, "_cookie_token", lambda name: token)
    again = page_test("pages/data.py")  # a reload: the name comes back with the browser
    assert again.text_input(key="student_name").value == "Ada Lovelace"
    again.switch_page("pages/runs.py").run()
    table = again.dataframe[0].value
    assert table.loc[mine, "student"] == "Ada Lovelace (you)"
    monkeypatch.setattr(identity, "_cookie_token", lambda name: None)
    classmate = page_test("pages/runs.py")
    assert classmate.dataframe[0].value.loc[mine, "student"] == "Ada Lovelace"


def test_a_name_markdown_would_act_on_is_refused_and_not_kept(app_home):
    from fmnist_core.store.runs import RunStore

    at = page_test("pages/data.py")  # (the sidebar shows on an AppTest's first runs only)
    at.text_input(key="student_name").input("[Ada](http://10.0.0.9/)").run()
    assert at.session_state["name_problem"].startswith("A name may not hold any of")
    assert at.session_state["student_name"] == ""  # the field is given back its name
    assert at.session_state["owner"] not in RunStore(app_home).owner_names()


def test_without_a_passcode_there_is_no_teacher_page(monkeypatch):
    monkeypatch.delenv("STUDIO_TEACHER_PASSCODE", raising=False)
    at = page_test("pages/data.py")
    assert not at.exception
    # the navigation has no Teacher page: it cannot be opened, not even by its address
    with pytest.raises(ValueError, match="navigation page"):
        at.switch_page("pages/teacher.py")
    # the same server with a passcode has one, behind the passcode
    monkeypatch.setenv("STUDIO_TEACHER_PASSCODE", PASSCODE)
    at = page_test("pages/teacher.py")
    assert not at.exception and "passcode" in page_text(at)
    assert at.text_input(key="teacher_attempt") is not None


def test_a_wrong_passcode_is_one_sentence_and_slows_the_next_try(teacher_env, monkeypatch):
    # this test's own browser and address: every page test shares one store, so other
    # tests' tries and this test's wait must not meet
    monkeypatch.setattr(identity, "client_keys", lambda: ("browser:wrong-try",
                                                          "address:10.9.9.9"))
    at = page_test("pages/teacher.py")
    assert not at.exception and "passcode" in page_text(at)
    unlock(at, "guess")
    assert [e.value for e in at.error] == [
        "That passcode is not right; you can try again in 2 seconds."]
    unlock(at)  # right, but too soon
    assert at.error[0].value.startswith("Too many wrong tries from this browser or address")
    assert "teacher" not in at.session_state


def test_the_teacher_stays_signed_in_across_a_reload_until_they_sign_out(teacher_env,
                                                                         monkeypatch):
    at = unlock(page_test("pages/teacher.py"))
    assert not at.exception and at.session_state["teacher"]
    token = at.session_state["teacher_token"]
    sent = {}
    monkeypatch.setattr(identity, "_cookie_token", lambda name: sent.get(name))
    sent[identity.TEACHER_COOKIE_PREFIX] = token
    monkeypatch.setattr(identity, "_teacher_cookie", lambda: identity.TEACHER_COOKIE_PREFIX)
    again = page_test("pages/teacher.py")  # a reload: the browser sends the teacher's cookie
    assert not at.exception and again.button(key="teacher_sign_out")
    assert not again.text_input  # no passcode asked
    again.button(key="teacher_sign_out").click().run()
    assert again.text_input(key="teacher_attempt") and not again.session_state["teacher"]
    # a forged or expired token opens nothing
    sent[identity.TEACHER_COOKIE_PREFIX] = "9999999999." + "0" * 32
    assert page_test("pages/teacher.py").text_input(key="teacher_attempt")


def test_the_teacher_stops_and_deletes_a_classmates_run_and_sees_the_leaderboard(
        teacher_env, app_home, trained_run, class_settings):
    from fmnist_core.store.runs import RunStore
    from ui import resources

    class_settings(max_epochs=None)  # a run that trains until it is stopped
    store = RunStore(app_home)
    store.set_owner_name("someone-else", "Grace")
    queue = resources.job_queue()
    busy = queue.submit(preset("dense").replace(epochs=200), "runaway-student")
    try:
        at = unlock(page_test("pages/teacher.py"))
        assert not at.exception and at.session_state["teacher"]
        table = at.dataframe[0].value  # the Class view: one table
        assert {"Grace", "student runawa"} <= set(table["student"])
        assert list(table["student"]) == sorted(table["student"], key=str.lower)  # grouped
        assert table.set_index("run").loc[busy.run_id[:6], "test acc"] == "–"
        assert table.set_index("run").loc[busy.run_id[:6], "images"] == "all"
        # stop the runaway run
        at.selectbox(key="teacher_pick").set_value(busy.run_id).run()
        at.button(key=f"teacher_stop_{busy.run_id}").click().run()
        assert busy.wait(60) and busy.status == "stopped"
        assert "Stop sent for student runawa's run" in page_text(at)
        # delete it, after a confirmation; the row says the run's state as it is now
        at.selectbox(key="teacher_pick").set_value(busy.run_id).run()
        assert f"student runawa's run {busy.run_id[:6]} is stopped" in page_text(at)
        assert at.selectbox(key="teacher_pick").format_func(busy.run_id).endswith(
            "· Dense 128")  # no state in the picker, which is not redrawn while open
        at.button(key=f"teacher_delete_{busy.run_id}").click().run()
        assert "This cannot be undone" in page_text(at)
        at.button(key="teacher_delete_yes").click().run()
        assert busy.run_id not in [r["id"] for r in store.list_runs()]
        # the leaderboard lists every student: Grace with her best run, Ada with none yet
        store.set_owner_name("no-run-yet", "Ada")
        at.segmented_control(key="teacher_view").set_value("Leaderboard").run()
        board = at.table[0].value.set_index("student")
        assert "Grace" in board.index and trained_run[:6] in list(board["run"])
        assert board.loc["Grace", "images"] == "all"  # its spec names no number
        assert board.loc["Ada", "best test acc"] == "no finished run yet"
        at.segmented_control(key="teacher_view").set_value("Line").run()
        assert not at.exception
    finally:
        store.set_owner_name("someone-else", "")  # the shared run's owner: other tests' too
        store.set_owner_name("no-run-yet", "")
        # the test deletes the run when all goes well: stop it only while it is still there
        if busy.run_id in {r["id"] for r in store.list_runs()} and not busy.done:
            queue.stop(busy.run_id, owner=None)
            busy.wait(60)


def test_signing_every_browser_out_gives_every_browser_a_new_identity(teacher_env, monkeypatch,
                                                                       app_home):
    from fmnist_core.store.runs import RunStore

    student = page_test("pages/data.py")
    me, token = student.session_state["owner"], student.session_state["owner_token"]
    store = RunStore(app_home)
    mine = store.create_run(preset("dense"), me, status="completed")
    try:
        monkeypatch.setattr(identity, "_cookie_token", lambda name: token)
        assert page_test("pages/data.py").session_state["owner"] == me  # the same browser
        at = unlock(page_test("pages/teacher.py"))
        at.button(key="teacher_rotate").click().run()
        assert "Passcode" in [t.label for t in at.text_input]  # the teacher, signed out too
        again = page_test("pages/runs.py")  # the student's browser, with its old cookie
        assert again.session_state["owner"] != me
        assert again.dataframe[0].value.loc[mine, "student"] == "classmate"  # the run stays
    finally:
        store.delete_run(mine, owner=None)


def test_the_teachers_settings_bound_and_lock_the_students_form(teacher_env, class_settings):
    from fmnist_core.store import settings
    from ui import resources

    at = unlock(page_test("pages/teacher.py"))
    at.segmented_control(key="teacher_view").set_value("Settings").run()
    assert not at.exception
    # a class's defaults until the teacher saves
    assert at.number_input(key="settings_epochs").value == settings.CLASS_MAX_EPOCHS
    assert at.number_input(key="settings_images").value == settings.CLASS_TRAIN_IMAGES
    at.number_input(key="settings_epochs").set_value(2)
    at.number_input(key="settings_images").set_value(500)
    at.pills(key="settings_presets").set_value(["seed-cnn", "quick"])
    at.pills(key="settings_knobs").set_value(
        [k for k in settings.KNOBS if k not in ("kernel_size", "batch_norm")])
    at.button(key="FormSubmitter:class_settings-Save").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [
        "Saved: at most 500 training images per run (was 12,000); at most 2 epochs per run "
        "(was 3); starting from seed-cnn or quick (was any preset); kernel size and batch "
        "norm fixed, for runs started from now on (those already queued or training keep "
        "theirs)."]

    student = page_test("pages/train.py")  # a student's browser
    assert not student.exception
    assert student.selectbox(key="preset").options == ["seed-cnn", "quick", "custom"]
    epochs = student.number_input(key="spec_epochs")
    assert (epochs.value, epochs.max) == (2, 2)  # seed-cnn's 5, bounded
    images = student.number_input(key="spec_train_images")
    assert (images.value, images.max) == (500, 500)
    kernel = student.select_slider(key="spec_kernel_size")
    assert kernel.disabled and kernel.value == 3
    captions = [c.value for c in student.caption]
    assert "Your teacher fixed the kernel size at 3." in captions
    assert "Your teacher set at most 2 epochs and 500 training images." in captions
    student.toggle(key="spec_every_setting").set_value(True).run()
    assert student.toggle(key="spec_batch_norm").disabled
    assert "Your teacher turned batch norm off." in [c.value for c in student.caption]
    # what the form offers, the queue takes
    student.selectbox(key="preset").set_value("quick").run()
    student.button(key="start").click().run()
    assert not student.exception and not student.error
    queue = resources.job_queue()
    job = queue.get(student.session_state["job_id"])
    spec = resources.run_store().get_run(job.run_id)["spec"]
    assert (spec.epochs, spec.train_images, spec.kernel_size) == (2, 500, 3)
    if not job.done:
        queue.stop(job.run_id, owner=None)
    assert job.wait(60)

    at.button(key="settings_defaults").click().run()
    assert at.success[0].value.startswith("Back to the defaults: at most 12,000 training "
                                          "images per run (was 500); at most 3 epochs per "
                                          "run (was 2); starting from any preset")
    assert at.number_input(key="settings_epochs").value == settings.CLASS_MAX_EPOCHS


def test_a_link_beyond_the_teachers_settings_is_one_sentence(teacher_env, class_settings):
    from streamlit.testing.v1 import AppTest
    from pathlib import Path

    class_settings(max_epochs=3)
    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=60)
    at.query_params.update(preset="quick", epochs="10")
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Your teacher set at most 3 epochs for this class, so the form shows the class's "
        "defaults instead of the link's settings."]
    assert at.number_input(key="spec_epochs").value == 3  # seed-cnn's 5, bounded


def test_a_link_naming_no_epochs_or_images_opens_within_the_teachers_settings(
        teacher_env, class_settings):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    class_settings(max_epochs=3, train_images=600)
    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=60)
    at.query_params.update(preset="seed-cnn", kernel_size="5")  # a link from outside the class
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception and not at.warning
    # the link's network, with the class's epochs and training images
    assert at.select_slider(key="spec_kernel_size").value == 5
    assert at.number_input(key="spec_epochs").value == 3  # seed-cnn's 5, bounded
    assert at.number_input(key="spec_train_images").value == 600


def test_the_teachers_line_shows_each_trainings_progress_and_when_each_waiting_run_starts(
        teacher_env, app_home):
    from fmnist_core.store.runs import RunStore
    from ui import resources

    resources.job_queue()  # the page's server, before the runs of the other one
    store = RunStore(app_home)
    # a run training on another server of the school, and one waiting behind it
    store.heartbeat("other-server", "thread")
    # already training there (enqueued, the page's own queue could claim it first)
    busy = store.create_run(preset("dense").replace(epochs=5), "line-trainer",
                            server="other-server", executor="thread", started=time.time())
    store.update_progress(busy, {"eta": 150.0, "epochs": 5, "epoch": 2, "batch": 120,
                                 "batches_per_epoch": 422})
    waiting = store.enqueue(preset("dense").replace(epochs=5), "line-waiter")
    store.touch_owners(["line-waiter"])  # its page is open: it keeps its place
    try:
        at = unlock(page_test("pages/teacher.py"))
        at.segmented_control(key="teacher_view").set_value("Line").run()
        assert not at.exception
        table = at.table[0].value.reset_index().set_index("run")
        assert table.loc[busy[:6], "place"] == "training"
        assert table.loc[busy[:6], "progress"] == "epoch 2/5 · batch 120/422"
        # 150 s at its measured pace, then its test and saving (the server's past runs
        # took a few seconds for them)
        assert re.fullmatch(r"about 2 min [345]0 s left", table.loc[busy[:6], "time"])
        assert (table.loc[waiting[:6], "place"], table.loc[waiting[:6], "progress"]) == (
            "1", "waiting · 5 epochs")
        assert table.loc[waiting[:6], "time"] == "starts in " + table.loc[busy[:6], "time"][
            :-len(" left")]
        assert "at the times estimated for the runs ahead" in page_text(at)
    finally:
        store.cancel_queued(waiting)
        store.finish_run(busy, "stopped")
        store.remove_server("other-server")
