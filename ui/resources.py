"""What a page asks the server for, made once and shared by every session: the dataset,
the run store and the training queue, and per run its model and what is computed from it
(feature extractor, epoch replay, Grad-CAM, the check for unusual inputs, test-set
probabilities). The objects that must outlive a cache clearing hang on the process
(`ui.process_wide`); the rest are Streamlit caches.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import numpy as np
import streamlit as st

from fmnist_core.data.datasets import Dataset, DatasetNotFoundError, load_dataset
from fmnist_core.nets import limits
from fmnist_core.nets.limits import env_int
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.store.runs import RunStore, default_home
from fmnist_core.training.cluster import ClusterUnavailableError
from fmnist_core.training.executor_choice import executor_from_env
from fmnist_core.training.jobqueue import JobQueue
from fmnist_core.training.line_clock import LineClock
from ui.passcode import classroom
from ui.process_wide import held, process_wide, shared_run_store
from ui.sessions import start_session_reaper
from ui.store_outage import catch_store_errors, store_unavailable

_LOGGER = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Loading the dataset…")
def _dataset(name: str) -> Dataset:
    return load_dataset(name)


def dataset(name: str | None = None) -> Dataset:
    """The session's dataset; on a missing one, the sentence on the page and the run stops."""
    name = name or st.session_state.get("dataset", "fashion_mnist")
    try:
        return _dataset(name)
    except DatasetNotFoundError as err:
        st.error(str(err))
        st.stop()


def test_slice(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The test images the pages evaluate on (all of them unless STUDIO_TEST_LIMIT)."""
    limit = env_int("STUDIO_TEST_LIMIT", None)
    return data.x_test[:limit], data.y_test[:limit]


def run_store() -> RunStore:
    """The server's run store; when it cannot be opened (a read-only or full STUDIO_HOME),
    one sentence on the page and the run stops. It is tried again on the next rerun, since
    a failed resource is not cached. When its database cannot be reached, the sentence says
    so and the page comes back by itself once it answers (`store_unavailable`)."""
    catch_store_errors()
    try:
        return shared_run_store()
    except StoreUnavailableError as err:
        store_unavailable(err)
        st.stop()
    except (OSError, sqlite3.Error) as err:
        reason = getattr(err, "strerror", None) or str(err)
        st.error(f"The run store in {default_home()} cannot be written ({reason}); point "
                 "STUDIO_HOME at a writable folder with free space and restart the studio.")
        st.stop()


# A Ray cluster that refused this server (a wrong token, its head away) is asked again this
# long after, and only by the Train page: each try can take as long as `ray.init` waits
# (20 s and more), so a class's reruns never wait on it, and a fixed token or a head back is
# found within a minute.
CLUSTER_RETRY_SECONDS = 60.0


def _job_queue(store: RunStore) -> JobQueue:
    def make() -> JobQueue:
        executor = executor_from_env(env_int("STUDIO_MAX_CONCURRENT_TRAININGS", 1))
        # with a teacher's passcode, the class's default settings apply until the teacher saves
        queue = JobQueue(store, executor=executor, classroom=classroom)
        start_session_reaper(store)
        return queue

    return process_wide("job_queue", make)


def queue_or_refusal(retry: bool = True) -> tuple[JobQueue | None, str | None]:
    """The server's one training queue, or (None, the sentence saying why) while the Ray
    cluster it should train on cannot be used.

    A refusal is remembered: later calls answer it at once, and only a call with `retry`
    (the Train page's) asks the cluster again, once CLUSTER_RETRY_SECONDS have passed.
    """
    store = run_store()
    objects = held()
    if "job_queue" in objects:
        return objects["job_queue"], None
    refused = objects.get("cluster_refusal")
    if refused is not None and (
            not retry or time.monotonic() - refused[1] < CLUSTER_RETRY_SECONDS):
        return None, refused[0]
    try:
        return _job_queue(store), None
    except ClusterUnavailableError as err:
        objects["cluster_refusal"] = (str(err), time.monotonic())
        return None, str(err)


def start_training_queue() -> None:
    """Makes the server's queue as the server starts (`ui.serve`), before any page is
    opened: a restarted server then adopts its runs on the cluster, stores those that ended
    meanwhile and trains the waiting line at once. A store or cluster that cannot be used
    yet is left to the first page, which says why."""
    try:
        store = shared_run_store()
        if "job_queue" not in held():
            _job_queue(store)
    except ClusterUnavailableError as err:
        held()["cluster_refusal"] = (str(err), time.monotonic())
        _LOGGER.warning("The training queue was not started with the server: %s", err)
    except (StoreUnavailableError, OSError, sqlite3.Error):
        _LOGGER.warning("The training queue was not started with the server; the first page "
                        "opened tries again and says why.", exc_info=True)


def job_queue() -> JobQueue:
    """The server's one training queue (created with the run store); while the Ray cluster
    it should train on cannot be used, one sentence on the page and the run stops
    (`queue_or_refusal`)."""
    queue, refusal = queue_or_refusal()
    if queue is None:
        st.error(refusal)
        st.stop()
    return queue


def form_settings(queue: JobQueue | None):
    """(the class's settings, this server's training-image limit) for the Train form
    (`JobQueue.settings`), also while no queue can be made."""
    if queue is not None:
        return queue.settings(), queue.limit_train
    from fmnist_core.store import settings as class_settings

    return class_settings.load(
        run_store().db, classroom=classroom(),
        runs_per_student=env_int("STUDIO_MAX_JOBS_PER_OWNER", 1),
        trainings_at_once=env_int("STUDIO_MAX_CONCURRENT_TRAININGS", 1)), \
        env_int("STUDIO_TRAIN_LIMIT", None)


def run_images(queue: JobQueue | None, data_name: str, spec) -> tuple[int, int]:
    """(training, test) images a run of `spec` gets on this server (`JobQueue.images`),
    also while no queue can be made."""
    if queue is not None:
        return queue.images(data_name, spec)
    return limits.run_images(dataset(data_name), spec, env_int("STUDIO_TRAIN_LIMIT", None),
                               env_int("STUDIO_TEST_LIMIT", None))


def line_clock() -> LineClock:
    """When each run of the class's line starts and ends (`LineClock`), one per server, so
    the waiting students' pages share each spec's estimate."""
    queue = job_queue()
    # named after its queue: a clock reads the queue it was made with
    return process_wide(f"line_clock-{id(queue)}", lambda: LineClock(queue))


# Pictures decoded at once on this server: a class uploading together waits its turn rather
# than holding a picture's memory each at the same moment.
DECODES_AT_ONCE = 2


@st.cache_data(max_entries=64, show_spinner=False)
def preprocessed(source: bytes | np.ndarray, dataset: str, invert: bool | str, trim: bool,
                 fit: bool, center: bool):
    """`preprocess(source, …)` once per picture and switches (a rerun of the page, or a
    classmate's same upload, reads it back), at most DECODES_AT_ONCE at a time.

    Returns:
        (the `Preprocessed`, None), or (None, the sentence saying why the picture cannot be
        used): a refusal is kept too, so a costly bad file is not decoded again.
    """
    from fmnist_core.data.decoding import ImageError
    from fmnist_core.data.preprocessing import preprocess

    decoding = process_wide("decodes", lambda: threading.BoundedSemaphore(DECODES_AT_ONCE))
    with decoding:
        try:
            return preprocess(source, dataset, invert=invert, trim=trim, fit=fit,
                              center=center), None
        except ImageError as err:
            return None, str(err)


@st.cache_resource(max_entries=12, show_spinner="Loading the model…")
def model(run_id: str):
    return run_store().load_model(run_id)


@st.cache_resource(max_entries=12)
def extractor(run_id: str):
    from fmnist_core.explain.inspection import FeatureExtractor

    return FeatureExtractor(model(run_id))


@st.cache_resource(max_entries=4, show_spinner="Loading the run's epochs…")
def replay(run_id: str):
    """The run's stored epochs in one network (`EpochReplay`), or None for a run trained
    before the studio kept them."""
    from fmnist_core.explain.replay import EpochReplay

    store = run_store()
    checkpoints = store.checkpoints(run_id)
    if not checkpoints:
        return None
    run = store.get_run(run_id)
    return EpochReplay(run["spec"], checkpoints, _dataset(run["spec"].dataset).num_classes)


@st.cache_data(max_entries=24, show_spinner="Classifying the test set at that epoch…")
def epoch_test_probabilities(run_id: str, epoch: int, dataset_name: str,
                             limit: int | None) -> np.ndarray:
    """(n, 10) float32 probabilities on the test images with the weights after `epoch`."""
    return replay(run_id).predict(epoch, _dataset(dataset_name).x_test[:limit])


@st.cache_data(max_entries=12, show_spinner="Classifying the test set…")
def test_probabilities(run_id: str, dataset_name: str, limit: int | None) -> np.ndarray:
    """(n, 10) float32 probabilities of a run on the test images."""
    from fmnist_core.explain.inspection import predict_proba

    return predict_proba(model(run_id), _dataset(dataset_name).x_test[:limit])


@st.cache_resource(max_entries=12)
def grad_cam(run_id: str):
    """The run's `GradCam` (its sub-models built once per layer), or None for a model
    without a conv layer (the dense baseline)."""
    from fmnist_core.explain.gradcam import GradCam

    try:
        return GradCam(model(run_id))
    except ValueError:
        return None


@st.cache_resource(max_entries=12)
def unusual_check(run_id: str):
    """The run's fitted check for unusual inputs (`fmnist_core.explain.ood.OodModel`), or None for
    a run trained before runs kept one, or whose file cannot be read. A run's files are
    complete before it is listed as finished, so a None is never stale."""
    from fmnist_core.explain import ood

    path = run_store().run_file(run_id, ood.FILE_NAME)
    try:
        return ood.OodModel.load(path) if path.is_file() else None
    except ValueError:
        return None


@st.cache_data(max_entries=48, show_spinner=False)
def sweep(run_id: str, image: np.ndarray, label: int):
    """The run's confidence in `label` for the image shifted and rotated
    (`fmnist_core.explain.probes.sweep`, one batched prediction)."""
    from fmnist_core.explain.probes import sweep as probe_sweep

    return probe_sweep(model(run_id), image, label)
