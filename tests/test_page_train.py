import re
import time

from fmnist_core.words import duration
from pagetools import page_test, page_text


def test_train_page_previews_the_seed_cnn():
    at = page_test("pages/train.py")
    assert not at.exception
    text = page_text(at)
    assert "862,410" in text and "Estimated time per epoch" in text
    assert "All 5 epochs" in text  # the total, not only one epoch
    assert "No training of yours is running" in text
    # the layer table has readable headers and numbers
    assert not at.dataframe  # behind its switch
    at.toggle(key="show_layers").set_value(True).run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["Layer", "Type", "Output shape", "Parameters",
                                   "Work per image (MFLOP)"]
    assert list(table["Layer"])[:3] == ["rescale", "channel", "conv1"]
    assert "26 × 26 × 64" in list(table["Output shape"])
    assert "819,712" in list(table["Parameters"])  # the dense layer: 1600 × 512 + 512
    assert all("e+" not in str(v) for v in table["Work per image (MFLOP)"])
    assert "test-time flip" not in page_text(at)
    # best looks at each test image twice, which no row of the table shows: a sentence does
    at.selectbox(key="preset").set_value("best").run()
    assert "The test-time flip adds no layer" in page_text(at)
    assert "flip" in list(at.dataframe[0].value["Layer"])  # the training flip is a layer


def test_the_preset_box_says_custom_after_an_edit_and_back_after_picking_one():
    at = page_test("pages/train.py")
    assert at.selectbox(key="preset").value == "seed-cnn"
    assert "862,410 parameters" in page_text(at)
    at.select_slider(key="spec_kernel_size").set_value(5).run()
    assert at.selectbox(key="preset").value == "custom"
    assert "862,410 parameters" not in page_text(at) and "Custom" in page_text(at)
    at.selectbox(key="preset").set_value("quick").run()
    assert at.selectbox(key="preset").value == "quick"
    assert at.select_slider(key="spec_kernel_size").value == 3


def test_impossible_spec_is_one_sentence_for_a_student_and_start_is_disabled():
    at = page_test("pages/train.py")
    at.slider(key="spec_conv_blocks").set_value(3).run()
    at.select_slider(key="spec_kernel_size").set_value(9).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "A 9×9 kernel does not fit the 1×1 map that the third block sees; use fewer blocks, "
        "a smaller kernel or 'same' padding."]
    assert at.button(key="start").disabled


def test_train_a_tiny_job_to_completion_with_curves_and_test_accuracy():
    at = page_test("pages/train.py")
    at.selectbox(key="preset").set_value("quick").run()
    at.number_input(key="spec_epochs").set_value(2).run()
    at.button(key="start").click().run()
    assert not at.exception
    job_id = at.session_state["job_id"]
    deadline = time.time() + 120
    while time.time() < deadline:
        at.run()
        if "Test accuracy" in page_text(at):
            break
        time.sleep(0.5)
    assert not at.exception
    text = page_text(at)
    assert "Test accuracy" in text and "Finished 2 epochs." in text
    # the run to take home: its recipe as a notebook and a script, its model for TFLite
    assert {f"train_{kind}_{job_id}" for kind in ("notebook", "script", "tflite")} <= {
        button.key for button in at.get("download_button")}
    assert len(at.get("plotly_chart")) >= 2, "the curves and the class × epoch view"
    assert "learned last; here at the end:" in text
    (per_epoch,) = [m for m in at.metric if m.label == "Time per epoch"]
    # the estimate next to the actual, the arrow down when faster, up when slower
    assert re.fullmatch(r"[-+][\d.]+ s against ≈ [\d.]+ s estimated", per_epoch.delta)
    assert re.search(r"From Start to the result took [\d.]+ s: training [\d.]+ s \(every "
                     r"epoch and its validation\), and the other [\d.]+ s went to loading the "
                     "images, building the network, testing it on the test images and saving "
                     "it.", text), "the time left unexplained"
    from ui import resources

    run = resources.run_store().get_run(job_id)
    (training,) = [m for m in at.metric if m.label == "Training time"]
    assert training.value == duration(run["train_seconds"])  # what Runs shows
    assert run["status"] == "completed" and run["owner"] == at.session_state["owner"]
    # back on the page later: the finished run is still shown, Start is free again
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/train.py").run()
    assert "Test accuracy" in page_text(at) and not at.button(key="start").disabled
    # the form as it was: quick with 2 epochs instead of its 3, so "custom"
    assert at.number_input(key="spec_epochs").value == 2
    assert at.selectbox(key="preset").value == "custom"


def wait_for_error(at, text, timeout=120):
    """Reruns the page until one of its st.error boxes says `text` (the live caption may
    say it a moment before the run's result is drawn)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        if any(text in e.value for e in at.error):
            return
        time.sleep(0.5)
    raise AssertionError(f"no error saying {text!r}: {page_text(at)}")


def test_a_full_disk_while_saving_is_one_sentence_and_the_server_keeps_serving(monkeypatch):
    import errno

    from fmnist_core.store.runs import RunStore
    from ui import resources

    def full_disk(self, run_id, model):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunStore, "write_model_file", full_disk)
    at = page_test("pages/train.py")
    at.selectbox(key="preset").set_value("dense").run()
    at.number_input(key="spec_epochs").set_value(1).run()
    at.button(key="start").click().run()
    job_id = at.session_state["job_id"]
    wait_for_error(at, "could not be saved")
    assert not at.exception
    (sentence,) = [e.value for e in at.error]
    assert sentence == ("Training finished but the model could not be saved (No space left "
                        "on device); free some disk space or check STUDIO_HOME.")
    run = resources.run_store().get_run(job_id)
    assert run["status"] == "failed" and run["error"] == sentence
    # the same server goes on: another page and a new training in this session
    at.switch_page("pages/runs.py").run()
    assert not at.exception and "failed" in at.dataframe[0].value.to_string()
    monkeypatch.undo()
    at.switch_page("pages/train.py").run()
    assert not at.button(key="start").disabled


def test_a_run_store_that_cannot_be_written_is_one_sentence(tmp_path, monkeypatch):
    from ui import process_wide

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STUDIO_HOME", str(blocker / "studio"))
    process_wide.held().pop("run_store", None)
    try:
        at = page_test("pages/train.py")
        assert not at.exception
        (sentence,) = [e.value for e in at.error]
        assert sentence.startswith(f"The run store in {blocker / 'studio'} cannot be written")
        assert "STUDIO_HOME" in sentence and not at.button
    finally:
        monkeypatch.undo()
        process_wide.held().pop("run_store", None)


# The Train page under AppTest in a process of its own, which cannot write where the
# permissions forbid it (tests/readonly.py); prints what the page shows as JSON.
PAGE_IN_A_CHILD = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=60)
at.run()
at.switch_page("pages/train.py").run()
print(json.dumps({"errors": [e.value for e in at.error],
                  "exceptions": [str(e.value) for e in at.exception],
                  "buttons": len(at.button)}))
"""


def test_a_read_only_studio_home_is_one_sentence(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from fmnist_core.store.runs import RunStore
    from readonly import make_read_only, make_writable, without_write_override

    root = Path(__file__).resolve().parents[1]
    home = tmp_path / "studio"
    RunStore(home).close()  # a server's store, then mounted read-only
    make_read_only(home)
    try:
        shown = subprocess.run(
            [sys.executable, "-c", PAGE_IN_A_CHILD, str(root / "app.py")], cwd=root,
            env=dict(os.environ, STUDIO_HOME=str(home), PYTHONPATH=str(root)),
            preexec_fn=without_write_override, capture_output=True, text=True, timeout=240)
    finally:
        make_writable(home)
    assert shown.returncode == 0, shown.stderr[-3000:]
    page = json.loads(shown.stdout.strip().splitlines()[-1])
    assert page["exceptions"] == [] and page["buttons"] == 0  # nothing to start
    (sentence,) = page["errors"]
    assert sentence.startswith(f"The run store in {home} cannot be written (")
    assert sentence.endswith("; point STUDIO_HOME at a writable folder with free space and "
                             "restart the studio.")


def test_a_queued_training_says_when_it_starts_and_can_be_cancelled(app_home):
    from fmnist_core.nets.spec import preset
    from fmnist_core.store.runs import RunStore
    from ui import resources

    queue = resources.job_queue()
    # a classmate's run holds the class's only slot, training on another server of the
    # school: its live progress is what that server keeps in the store
    store = RunStore(app_home)
    store.heartbeat("other-server", "thread")
    # already training there (enqueued, this page's own queue could claim it first)
    blocker = store.create_run(preset("dense").replace(epochs=200), "classmate",
                               server="other-server", executor="thread", started=time.time())
    store.update_progress(blocker, {"eta": 150.0, "epochs": 200, "epoch": 3})
    try:
        at = page_test("pages/train.py")
        at.selectbox(key="preset").set_value("dense").run()
        at.button(key="start").click().run()
        assert not at.exception
        # 150 s of the classmate's training, then its test and saving (a few seconds, as
        # the server's past runs took), then this run
        assert re.search(r"Queued: starts in about 2 min [345]0 s \(place 1\)\. 0 waiting "
                         r"ahead of yours, 1 training now; it starts by itself when a slot "
                         r"is free\.", page_text(at)), page_text(at)
        job = queue.get(at.session_state["job_id"])
        assert job.status == "queued" and queue.position(job) == 1
        # the classmate's pace is measured anew: the page follows
        store.update_progress(blocker, {"eta": 20.0, "epochs": 200, "epoch": 190})
        assert "Queued: starts in under a minute (place 1)." in page_text(at.run())
        # no pace any more, and long past its estimate: it ends any moment, never a time
        # gone by
        store.update_run(blocker, started=time.time() - 3600)
        store.update_progress(blocker, {"eta": None, "epochs": 200, "epoch": 200})
        assert "Queued: starts any moment now (place 1)." in page_text(at.run())
        at.button(key="cancel").click().run()
        assert job.status == "cancelled" and "Cancelled before it started." in page_text(at)
        assert not at.exception and not at.button(key="start").disabled
    finally:
        store.finish_run(blocker, "stopped")
        store.remove_server("other-server")


def link_test(**params):
    """The Train page opened from a link with these query parameters."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.switch_page("pages/train.py").run()
    return at


def test_a_shared_link_fills_the_form_and_starts_nothing(app_home):
    from fmnist_core.store.runs import RunStore

    at = link_test(preset="quick", kernel_size="5", filters="8", epochs="4")
    assert not at.exception and not at.warning
    assert at.select_slider(key="spec_kernel_size").value == 5
    assert at.select_slider(key="spec_filters_0").value == 8
    assert at.number_input(key="spec_epochs").value == 4
    assert at.selectbox(key="preset").value == "custom"
    assert "job_id" not in at.session_state
    assert RunStore(app_home).list_runs(owner=at.session_state["owner"]) == []  # no run of its own
    # the page's link follows the form, so a teacher can copy it
    at.select_slider(key="spec_kernel_size").set_value(3).run()
    assert "kernel_size" not in at.query_params and at.query_params["filters"] in (["8"], "8")
    assert at.query_params["preset"] in (["quick"], "quick")


def test_a_link_with_training_images_opens_with_them():
    at = link_test(preset="quick", train_images="600")
    assert not at.exception and not at.warning
    images = at.number_input(key="spec_train_images")
    assert images.value == 600 and images.max == 1000  # this server's STUDIO_TRAIN_LIMIT
    assert at.selectbox(key="preset").value == "quick"  # the images are not the network's
    assert "This server trains on at most 1,000 images." in page_text(at)
    assert at.query_params["train_images"] in (["600"], "600")
    assert "All 3 epochs" in page_text(at)  # the preview of quick on 600 images


def test_a_bad_link_is_one_sentence_and_the_defaults():
    at = link_test(preset="seed-cnn", kernel_size="9", conv_blocks="3")
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == [
        "The link's settings are not possible: A 9×9 kernel does not fit the 1×1 map that the "
        "third block sees; use fewer blocks, a smaller kernel or 'same' padding. The form "
        "shows the defaults."]
    assert at.selectbox(key="preset").value == "seed-cnn"
    assert at.select_slider(key="spec_kernel_size").value == 3


def test_flip_smoothing_and_test_flip_are_in_the_form_and_flip_is_refused_for_digits():
    at = page_test("pages/train.py")
    assert not [w for w in at.toggle if w.key == "spec_test_flip"]  # behind the switch
    at.toggle(key="spec_every_setting").set_value(True).run()
    at.toggle(key="show_layers").set_value(True).run()
    at.segmented_control(key="spec_augment").set_value("flip").run()
    at.slider(key="spec_label_smoothing").set_value(0.1).run()
    at.toggle(key="spec_test_flip").set_value(True).run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["Layer"])[:3] == ["rescale", "channel", "flip"]
    assert list(table["Type"])[2] == "TrainingFlip"  # mirrors only while training
    assert at.query_params["augment"] in (["flip"], "flip")
    assert at.query_params["label_smoothing"] in (["0.1"], "0.1")
    assert at.query_params["test_flip"] in (["true"], "true")
    # the test-time flip without flip training: one sentence, nothing can start
    at.segmented_control(key="spec_augment").set_value("none").run()
    assert [e.value for e in at.error] == [
        "The test-time flip needs flip augmentation: a network that never saw a mirrored "
        "picture while training answers worse for one."]
    assert at.button(key="start").disabled
    at.toggle(key="spec_test_flip").set_value(False).run()
    at.segmented_control(key="spec_augment").set_value("flip").run()
    assert not at.error
    # hidden again, the settings keep their values
    at.toggle(key="spec_every_setting").set_value(False).run()
    assert at.query_params["augment"] in (["flip"], "flip") and not at.error
    # a mirrored digit is no digit: one sentence, and nothing can start
    at.session_state["dataset"] = "mnist"  # the sidebar's dataset box
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Flip augmentation is for clothes, not digits: a mirrored 2 is no digit. Choose "
        "augmentation none for MNIST."]
    assert at.button(key="start").disabled


def test_the_time_from_start_to_the_result_names_only_what_happened():
    from ui.train_view import time_split

    finished = {"elapsed": 60.0, "train_seconds": 54.0, "test_accuracy": 0.9,
                "model_path": "models/x.keras"}
    assert time_split(finished) == (
        "From Start to the result took 60 s: training 54 s (every epoch and its validation), "
        "and the other 6.0 s went to loading the images, building the network, testing it "
        "on the test images and saving it.")
    # a diverged run is neither tested nor saved
    diverged = {"elapsed": 20.0, "train_seconds": 17.0, "test_accuracy": None,
                "model_path": None}
    assert time_split(diverged).endswith(
        "the other 3.0 s went to loading the images and building the network.")
    assert time_split({"elapsed": 3.0, "train_seconds": None}) is None  # not measured yet


def test_an_epoch_is_compared_with_the_estimate_like_with_like():
    from ui.train_view import against_estimate, epoch_figures

    def snap(*seconds, complete=True, prepare=None):
        history = [{"seconds": s, "complete": complete} for s in seconds]
        if history:
            history[0]["prepare_seconds"] = prepare
        return {"estimate": 2.0, "estimate_prepare": 2.5, "history": history}

    # the later epochs against the epoch
    assert epoch_figures(snap(7.0, 3.0, 2.0))[:2] == (2.5, 2.0)
    # a lone first epoch without its measured preparation against the epoch's estimate
    assert epoch_figures(snap(7.0, prepare=4.5))[:2] == (2.5, 2.0)
    # where the preparation could not be told apart: with it, against the estimate with it
    assert epoch_figures(snap(7.0))[:2] == (7.0, 4.5)
    assert epoch_figures(snap(7.0, complete=False))[:2] == (None, 2.0)
    assert epoch_figures({"estimate": None, "history": []})[:2] == (None, None)
    # the arrow points the way the run went: down when faster than estimated
    assert against_estimate(14.0, 17.0) == "-3.0 s against ≈ 17 s estimated"
    assert against_estimate(23.0, 17.0) == "+6.0 s against ≈ 17 s estimated"


def test_a_diverged_run_names_no_class_as_learned_last(monkeypatch):
    import streamlit as st

    from ui import train_view

    captions = []
    monkeypatch.setattr(st, "caption", captions.append)
    monkeypatch.setattr(train_view.charts, "show", lambda *args, **kwargs: None)
    history = [{"epoch": 1, "class_accuracy": [0.0] * 9 + [1.0]}]
    names = tuple(f"class {i}" for i in range(10))
    train_view.class_progress({"status": "diverged", "history": history}, names)
    assert "did not learn" in captions[-1] and "learned last" not in captions[-1]
    train_view.class_progress({"status": "completed", "history": history}, names)
    assert "learned last; here at the end: class 0 (0%) and class 1 (0%)" in captions[-1]


def test_the_estimate_on_the_page_follows_the_arithmetic_the_training_will_use(monkeypatch):
    # a fresh studio's estimate: a float32 training (on a CPU without bfloat16 instructions,
    # or STUDIO_PRECISION=float32) costs about twice a bfloat16 one for best
    from fmnist_core.nets import estimate, precision
    from fmnist_core.nets.spec import preset
    from ui import resources

    shown = {}
    for wanted, policy in (("float32", "float32"), ("bfloat16", precision.MIXED)):
        monkeypatch.setenv(precision.ENV, wanted)
        at = page_test("pages/train.py")
        at.selectbox(key="preset").set_value("best").run()
        assert not at.exception
        (metric,) = [m for m in at.metric if m.label == "Estimated time per epoch"]
        spec = preset("best")
        n_train = min(resources.job_queue().limit_train, 60_000)
        n_val = int(n_train * spec.validation_split)
        guess = estimate.for_spec(spec, n_train - n_val, n_val, store=resources.run_store(),
                                  n_test=len(resources.test_slice(resources.dataset(
                                      "fashion_mnist"))[1]), policy=policy)
        assert metric.value == f"≈ {duration(guess.epoch_seconds)}", wanted
        shown[wanted] = guess.epoch_seconds
    assert shown["float32"] > 1.5 * shown["bfloat16"]
