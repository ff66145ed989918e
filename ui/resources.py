"""What a page asks the server for, made once and shared by every session: the dataset,
the run store and the training queue, and per run its model and what is computed from it
(feature extractor, epoch replay, Grad-CAM, the check for unusual inputs, test-set
probabilities). The objects that must outlive a cache clearing hang on the process
(`ui.process_wide`); the rest are Streamlit caches.
"""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import streamlit as st

from fmnist_core.data.datasets import Dataset, DatasetNotFoundError, load_dataset
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.store.runs import RunStore, default_home
from fmnist_core.training.cluster import ClusterUnavailableError
from fmnist_core.training.executor_choice import executor_from_env
from fmnist_core.training.jobqueue import JobQueue, env_int
from fmnist_core.training.line_clock import LineClock
from ui.passcode import classroom
from ui.process_wide import process_wide, shared_run_store
from ui.sessions import start_session_reaper
from ui.store_outage import catch_store_errors, store_unavailable


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


def _job_queue(store: RunStore) -> JobQueue:
    def make() -> JobQueue:
        executor = executor_from_env(env_int("STUDIO_MAX_CONCURRENT_TRAININGS", 1))
        # with a teacher's passcode, the class's default settings apply until the teacher saves
        queue = JobQueue(store, executor=executor, classroom=classroom)
        start_session_reaper(store)
        return queue

    return process_wide("job_queue", make)


def job_queue() -> JobQueue:
    """The server's one training queue (created with the run store); when the Ray cluster
    it should train on cannot be used, one sentence on the page and the run stops (tried
    again on the next rerun)."""
    store = run_store()
    try:
        return _job_queue(store)
    except ClusterUnavailableError as err:
        st.error(str(err))
        st.stop()


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
