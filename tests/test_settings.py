"""The class's settings: their defaults, kept in the run store for every server of a class,
and held where a run is queued (the sentence a student reads, the per-student limit and the
class's cap)."""

import dataclasses
import logging

import numpy as np
import pytest

from fmnist_core.data.datasets import Dataset
from fmnist_core.nets.spec import preset, presets
from fmnist_core.store import settings
from fmnist_core.store.queue import OwnerLimitError
from fmnist_core.store.settings import ClassSettings, SettingsError
from fmnist_core.training.executors import ProcessExecutor
from fmnist_core.training.jobqueue import JobQueue
from waiting import wait_for

# every test that uses `store` runs on SQLite and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.databases("sqlite", "postgresql")

N_IMAGES = 256  # the tiny data's training images
# a run that trains until it is stopped (200 epochs of 32 batches)
LONG = preset("dense").replace(dense_units=8, epochs=200, batch_size=8)


def tiny_data(n=N_IMAGES):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n, dtype=np.uint8)
    return Dataset("fashion_mnist", x, y, x[:64], y[:64], tuple("abcdefghij"), "test")


@pytest.fixture
def make_queue(store):
    """A lone user's server queue on `store` (no passcode unless `classroom`), training in
    threads on tiny data, stepped by the test (no tick); its runs are stopped after."""
    made = []

    def make(**kwargs):
        data = tiny_data()
        made.append(JobQueue(store, dataset_loader=lambda name: data, tick_seconds=None,
                             **{"worker_processes": False, "classroom": lambda: False,
                                **kwargs}))
        return made[-1]

    yield make
    for queue in made:
        for handle in queue.jobs():
            queue.stop(handle.run_id, owner=None)
        for handle in queue.jobs():
            handle.wait(60)
        queue.close()


def test_a_class_starts_with_limits_and_a_lone_user_with_the_servers_own():
    lesson = settings.defaults(classroom=True, runs_per_student=2, trainings_at_once=3)
    assert (lesson.train_images, lesson.max_epochs) == (settings.CLASS_TRAIN_IMAGES,
                                                        settings.CLASS_MAX_EPOCHS)
    assert lesson.presets == tuple(presets()) and lesson.knobs == settings.KNOBS
    assert not lesson.locked
    assert (lesson.runs_per_student, lesson.trainings_at_once) == (2, 3)  # the server's
    alone = settings.defaults(classroom=False)
    assert alone.train_images is None and alone.max_epochs is None
    assert (alone.runs_per_student, alone.trainings_at_once) == (1, 1)
    alone.check(preset("best").replace(epochs=200), n_train=60_000)  # nothing refused


def test_settings_are_checked_and_kept_in_a_fixed_order():
    assert ClassSettings(presets=["quick", "dense"]).presets == ("dense", "quick")
    with pytest.raises(ValueError, match="Argument `knobs` must hold 'filters'"):
        ClassSettings(knobs=("conv_blocks", "kernel_size"))
    with pytest.raises(ValueError, match="Argument `presets` must name some of"):
        ClassSettings(presets=("tiny",))
    with pytest.raises(ValueError, match="Argument `train_images` must be an integer from "
                                         "100 to 60000, received 50"):
        ClassSettings(train_images=50)
    with pytest.raises(ValueError, match="Argument `presets` must name at least one"):
        ClassSettings(presets=())


def test_the_teachers_settings_are_kept_for_every_server_and_forgotten_on_request(
        store, make_store):
    assert settings.load(store.db, classroom=True) == settings.defaults(True)
    chosen = ClassSettings(train_images=6_000, max_epochs=2, presets=("quick", "seed-cnn"),
                           knobs=("epochs", "kernel_size"), runs_per_student=2,
                           trainings_at_once=3)
    settings.save(store.db, chosen)
    other_server = make_store()
    # saved, they hold whether the server has a passcode or not
    assert settings.load(other_server.db, classroom=True) == chosen
    assert settings.load(other_server.db, classroom=False) == chosen
    settings.save(store.db, dataclasses.replace(chosen, max_epochs=None))  # saved again
    assert settings.load(other_server.db, classroom=True).max_epochs is None
    settings.clear(store.db)
    assert settings.load(other_server.db, classroom=False) == settings.defaults(False)
    # some fields only: the others stay the defaults, this server's limits among them
    settings.save(store.db, chosen, fields=("max_epochs",))
    assert settings.load(store.db, classroom=False, trainings_at_once=4) == ClassSettings(
        max_epochs=2, trainings_at_once=4)


def test_settings_that_cannot_be_read_are_the_defaults_and_said_in_the_log(store, caplog):
    with store.db.transaction() as tx:
        tx.execute("INSERT INTO class_settings (key, value) VALUES ('max_epochs', '\"lots\"')")
        tx.execute("INSERT INTO class_settings (key, value) VALUES ('from_a_newer_release', "
                   "'1')")
    with caplog.at_level(logging.WARNING, logger="fmnist_core.store.settings"):
        assert settings.load(store.db, classroom=True) == settings.defaults(True)
    assert "cannot be read; the defaults apply" in caplog.text
    with store.db.transaction() as tx:
        tx.execute("DELETE FROM class_settings WHERE key='max_epochs'")
    assert settings.load(store.db, classroom=True) == settings.defaults(True)  # key ignored


def test_the_queue_refuses_a_spec_beyond_the_settings_with_one_sentence(store, make_queue):
    queue = make_queue()
    settings.save(store.db, ClassSettings(train_images=200, max_epochs=2, presets=("quick",),
                                          knobs=("kernel_size", "epochs")))
    fits = preset("quick").replace(epochs=2, train_images=200)
    refused = {
        "epochs": (fits.replace(epochs=3),
                   "Your teacher set at most 2 epochs for this class; choose 2 or fewer."),
        # no number of images: all 256 of the server
        "train_images": (fits.replace(train_images=None),
                         "Your teacher set at most 200 training images per run for this "
                         "class; choose 200 or fewer."),
        "dense_units": (fits.replace(dense_units=64), "Your teacher fixed the dense units at "
                        "128 for this class; keep 128."),
        "batch_norm": (fits.replace(batch_norm=True),
                       "Your teacher turned batch norm off for this class; leave it off."),
        "preset": (preset("seed-cnn").replace(epochs=2, train_images=200),
                   "Your teacher set this class to start from the quick preset; choose it."),
    }
    for field, (spec, sentence) in refused.items():
        with pytest.raises(SettingsError) as err:
            queue.submit(spec, "alice")
        assert (err.value.field, str(err.value)) == (field, sentence)
    assert store.list_runs() == []  # nothing queued
    # the knobs left open, within the bounds: queued and trained
    handle = queue.submit(fits.replace(kernel_size=5), "alice")
    assert handle.wait(120) and handle.status == "completed"
    run = store.get_run(handle.run_id)
    assert (run["spec"].kernel_size, run["spec"].train_images) == (5, 200)


def test_a_server_with_a_passcode_holds_a_class_to_its_defaults(store, make_queue):
    lesson = make_queue(classroom=lambda: True)
    with pytest.raises(SettingsError, match=f"at most {settings.CLASS_MAX_EPOCHS} epochs"):
        lesson.submit(preset("quick").replace(epochs=settings.CLASS_MAX_EPOCHS + 1), "al")
    # a lone user's server on the same store: no limits beyond its own
    alone = make_queue()
    alone.check_settings(preset("quick").replace(epochs=settings.CLASS_MAX_EPOCHS + 1))


def test_runs_per_student_and_trainings_at_once_follow_the_teacher(store, make_queue):
    queue = make_queue()
    settings.save(store.db, ClassSettings(runs_per_student=2, trainings_at_once=2))
    first, second = queue.submit(LONG, "alice"), queue.submit(LONG, "alice")
    with pytest.raises(OwnerLimitError, match="already have a training"):
        queue.submit(LONG, "alice")
    assert [queue.position(h) for h in (first, second)] == [0, 0]  # two at once
    waiting = queue.submit(LONG, "bob")
    assert queue.position(waiting) == 1 and queue.max_concurrent == 2
    # the teacher lowers one and raises the other: runs already in line keep their places
    settings.save(store.db, ClassSettings(runs_per_student=1, trainings_at_once=3))
    with pytest.raises(OwnerLimitError):
        queue.submit(LONG, "bob")
    queue.pump()  # what the tick does every second
    assert queue.position(waiting) == 0 and store.count("running") == 3


def test_the_worker_processes_kept_follow_the_class_cap(store, make_queue):
    executor = ProcessExecutor(slots=1)
    queue = make_queue(executor=executor)
    settings.save(store.db, ClassSettings(trainings_at_once=3))
    queue.pump()
    assert executor.slots == 3
    settings.save(store.db, ClassSettings(trainings_at_once=1))
    queue.pump()
    assert executor.slots == 1


def test_the_sentences_say_each_lock_as_it_is():
    start = preset("seed-cnn")
    assert settings.locked_words(["kernel_size"], start) == "fixed the kernel size at 3"
    assert settings.locked_words(["batch_norm"], start) == "turned batch norm off"
    assert settings.locked_words(["filters", "kernel_size", "batch_norm"], start) == (
        "fixed the filters at 64 then 64 and the kernel size at 3, and turned batch norm off")
    one = ClassSettings(max_epochs=1)
    with pytest.raises(SettingsError, match=r"at most 1 epoch for this class; choose 1\.$"):
        one.check(preset("quick"), n_train=1000)


def test_runs_already_in_line_keep_their_spec_when_the_teacher_changes_the_settings(
        store, make_queue):
    queue = make_queue()
    ahead = queue.submit(LONG, "alice")  # holds the only slot
    waiting = queue.submit(LONG.replace(epochs=5), "bob")
    settings.save(store.db, ClassSettings(max_epochs=3))
    with pytest.raises(SettingsError):
        queue.submit(LONG.replace(epochs=5), "carol")  # a new run: the new settings
    queue.stop(ahead.run_id, "alice")
    assert ahead.wait(60)
    wait_for(lambda: queue.position(waiting) == 0, what="bob's run to start")
    assert store.get_run(waiting.run_id)["spec"].epochs == 5
