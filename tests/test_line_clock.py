"""LineClock: the line's times read from a real queue and store, each spec's estimate kept a
while, runs training here or on another server."""

import logging

import pytest

from fmnist_core.nets import estimate
from fmnist_core.nets.spec import preset
from fmnist_core.store import line_times
from fmnist_core.training import line_clock
from fmnist_core.training.jobqueue import JobQueue
from fmnist_core.training.line_clock import ESTIMATE_SECONDS, LineClock

SPEC = preset("quick").replace(epochs=2)


class Holding:
    """An executor whose jobs start and never finish: each holds its slot, and the test
    writes the progress a training would report."""

    name = "thread"

    def __init__(self):
        self.jobs = []

    def start(self, job):
        job.mark_started()
        self.jobs.append(job)

    def where(self):
        return "nowhere (a test)"

    def close(self):
        pass


class Clock:
    """`time.time` that the test moves on."""

    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def queue(store, small_data):
    made = JobQueue(store, max_concurrent=1, dataset_loader=lambda name: small_data,
                    executor=Holding(), tick_seconds=None, limit_train=1000)
    yield made
    made.close()


def test_each_waiting_run_starts_when_the_runs_ahead_end_and_leaves_when_cancelled(queue):
    clock = Clock()
    lined = LineClock(queue, clock=clock)
    training = queue.submit(SPEC, "ann")
    second, third = queue.submit(SPEC, "bob"), queue.submit(SPEC.replace(epochs=4), "cat")
    # 30 s after its claim, training all along, 40 s left at its measured pace
    clock.now = queue.store.get_run(training.run_id)["started"] + 30.0
    queue.job(training.run_id).update(eta=40.0, elapsed=30.0, epochs=2, epoch=1, batch=3,
                                      batches_per_epoch=15, steps_done=3)
    places = lined.places()
    assert [(p.run_id, p.place) for p in places] == [
        (training.run_id, 0), (second.run_id, 1), (third.run_id, 2)]
    cost = lined.cost(SPEC, "float32")
    # the training ends after its measured 40 s and its test; each waiting run follows
    assert places[0].ends_in == pytest.approx(40.0 + cost.other)
    assert places[1].starts_in == places[0].ends_in
    assert places[1].ends_in == pytest.approx(places[1].starts_in + cost.total)
    assert places[2].starts_in == places[1].ends_in
    # twice the epochs: a longer run
    assert places[2].ends_in - places[2].starts_in > cost.total
    assert places[0].progress["batch"] == 3 and places[0].progress["batches_per_epoch"] == 15
    assert lined.place(third.run_id).after == 2
    # the second cancels: the third moves up and starts when the training ends
    queue.stop(second.run_id, "bob")
    moved = lined.place(third.run_id)
    assert (moved.place, moved.starts_in) == (1, places[0].ends_in)
    assert lined.place(second.run_id) is None


def test_a_run_training_on_another_server_is_timed_from_the_progress_it_stores(store, queue):
    elsewhere = store.enqueue(SPEC, "ann")
    assert store.claim_next("other-server", cap=1, executor="thread")["id"] == elsewhere
    waiting = queue.submit(SPEC, "bob")  # the class's one slot is taken elsewhere
    clock = Clock()
    lined = LineClock(queue, clock=clock)
    cost = lined.cost(SPEC, "float32")
    half = cost.total / 2  # half its estimated time since its claim, training all along
    clock.now = store.get_run(elsewhere)["started"] + half
    store.update_progress(elsewhere, {"eta": 25.0, "epochs": 2, "elapsed": half})
    assert lined.place(waiting.run_id).starts_in == pytest.approx(25.0 + cost.other)
    # before its pace is steady: its estimate less the time since it was claimed
    store.update_progress(elsewhere, {"eta": None, "epochs": 2, "elapsed": half})
    assert lined.place(waiting.run_id).starts_in == pytest.approx(cost.total - half)
    store.request_stop(elsewhere, "teacher")  # stopping: it ends after its batch and test
    assert lined.place(waiting.run_id).starts_in == pytest.approx(cost.other)


def test_a_specs_estimate_is_made_once_for_every_poll_and_again_after_a_while(queue,
                                                                            monkeypatch):
    made = []
    real = estimate.for_spec

    def counted(spec, *args, **kwargs):
        made.append(spec)
        return real(spec, *args, **kwargs)

    queue.submit(SPEC, "ann")
    waiting = [queue.submit(SPEC, owner) for owner in ("bob", "cat", "dan")]
    monkeypatch.setattr(estimate, "for_spec", counted)  # (Start's check estimates too)
    clock = Clock()
    lined = LineClock(queue, clock=clock)
    for _ in range(30):  # thirty students' polls: one estimate of the one spec
        assert lined.place(waiting[-1].run_id).starts_in > 0
    assert made == [SPEC]
    clock.now += ESTIMATE_SECONDS + 1
    lined.places()
    assert made == [SPEC, SPEC]  # a finished run may have corrected the pace meanwhile


def test_the_estimate_follows_the_runs_images(queue):
    lined = LineClock(queue)
    # the server's limit (1,000 images) caps a spec that asks for more; fewer cost less
    assert lined.cost(SPEC.replace(train_images=5000), "float32") == lined.cost(SPEC,
                                                                                "float32")
    assert (lined.cost(SPEC.replace(train_images=200), "float32").total
            < lined.cost(SPEC, "float32").total)
    # the whole run as the estimator has it: every epoch, the preparation and the test
    n_train, n_test = queue.images("fashion_mnist", SPEC)
    n_val = int(n_train * SPEC.validation_split)
    guess = estimate.for_spec(SPEC, n_train - n_val, n_val, n_test=n_test, store=queue.store,
                              policy="float32")
    assert lined.cost(SPEC, "float32").total == pytest.approx(guess.total_seconds)


def test_a_run_that_cannot_be_estimated_is_a_start_not_told(queue, monkeypatch, caplog):
    training = queue.submit(SPEC, "ann")
    queue.job(training.run_id).update(eta=30.0)
    odd = queue.submit(preset("dense"), "bob")
    behind = queue.submit(SPEC, "cat")
    real = estimate.for_spec

    def failing(spec, *args, **kwargs):
        if spec.conv_blocks == 0:
            raise RuntimeError("the store's past runs cannot be read")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(estimate, "for_spec", failing)
    with caplog.at_level(logging.WARNING, logger=line_clock.__name__):
        places = {p.run_id: p for p in LineClock(queue).places()}
    # it starts when the training ends; when it ends, and so when the next starts, is unknown
    assert places[odd.run_id].starts_in > 0 and places[odd.run_id].ends_in is None
    assert places[behind.run_id].starts_in is None
    assert line_times.start_words(places[behind.run_id]) == \
        "starts once 2 trainings have ended"
    assert "could not be estimated" in caplog.text


def test_the_rest_of_a_slot_is_what_the_class_latest_runs_took_beyond_training(store, queue):
    def finished(beyond):
        store.create_run(SPEC, "ann", status="completed", started=100.0,
                         finished=100.0 + 30.0 + beyond, train_seconds=30.0)

    clock = Clock()
    lined = LineClock(queue, clock=clock)
    test_only = lined.cost(SPEC, "float32").other  # no finished run: the estimate's test
    for beyond in (4.0, 9.0, 6.0):
        finished(beyond)
    clock.now += ESTIMATE_SECONDS + 1
    cost = lined.cost(SPEC, "float32")
    assert cost.other == pytest.approx(6.0) and cost.other != test_only
    finished(50.0)  # kept a while: thirty polls read the store once
    assert lined.cost(SPEC, "float32") == cost
    clock.now += ESTIMATE_SECONDS + 1
    assert lined.cost(SPEC, "float32").other == pytest.approx(7.5)
