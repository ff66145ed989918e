"""Process-wide objects, created once and shared by every session (st.cache_resource)."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Callable, TypeVar

import numpy as np
import streamlit as st

from fmnist_core.data.datasets import Dataset, DatasetNotFoundError, load_dataset
from fmnist_core.store.db import StoreUnavailableError
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.store.runs import RunStore, default_home
from fmnist_core.training.cluster import ClusterUnavailableError
from fmnist_core.training.executor_choice import executor_from_env
from fmnist_core.training.jobqueue import JobQueue, env_int

T = TypeVar("T")

SESSION_CHECK_SECONDS = 5.0
# A queued run is cancelled once its owner has had no page open for this long
# (STUDIO_ABSENT_GRACE_SECONDS): long enough for a reload, short enough that a closed tab
# does not hold a place in line.
ABSENT_GRACE_SECONDS = 15
MIN_ABSENT_GRACE_SECONDS = 3
# While the run store's database is away, a page checks this often whether it is back.
STORE_CHECK_SECONDS = 3.0


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


def _process_wide(name: str, make: Callable[[], T]) -> T:
    """The one `make()` of this server process, made on first use.

    For what must exist once and outlive any cache clearing: the run store and the queue with
    its executor (a second queue would start a second worker, 0.6 GB, for every clearing).
    The objects hang on the Streamlit runtime, which lives as long as the server; without
    one (AppTest, bare mode) on this function.
    """
    with _PROCESS_LOCK:
        held = _held()
        if name not in held:
            held[name] = make()
        return held[name]


def _held() -> dict:
    """The process-wide objects by name (see `_process_wide`)."""
    from streamlit import runtime

    home = runtime.get_instance() if runtime.exists() else _process_wide
    return home.__dict__.setdefault("studio_process_wide", {})


_PROCESS_LOCK = threading.Lock()


def _run_store() -> RunStore:
    return _process_wide("run_store", RunStore)


def run_store() -> RunStore:
    """The server's run store; when it cannot be opened (a read-only or full STUDIO_HOME),
    one sentence on the page and the run stops. It is tried again on the next rerun, since
    a failed resource is not cached. When its database cannot be reached, the sentence says
    so and the page comes back by itself once it answers (`store_unavailable`)."""
    _catch_store_errors()
    try:
        return _run_store()
    except StoreUnavailableError as err:
        store_unavailable(err)
        st.stop()
    except (OSError, sqlite3.Error) as err:
        reason = getattr(err, "strerror", None) or str(err)
        st.error(f"The run store in {default_home()} cannot be written ({reason}); point "
                 "STUDIO_HOME at a writable folder with free space and restart the studio.")
        st.stop()


def run_page(page) -> None:
    """Runs a page (app.py's `st.navigation` choice). The run store's database going away
    anywhere in it is one sentence instead of a traceback, and the page comes back by
    itself once the database answers again (`store_unavailable`)."""
    _catch_store_errors()
    try:
        page.run()
    except Exception as err:  # noqa: BLE001 - only the database's absence is handled here
        found = store_error(err)
        if found is None:
            raise
        # a fragment's failure has been shown in its place by `_on_script_error` already
        if type(err).__name__ != "FragmentHandledException" or not _catching_here():
            store_unavailable(found)


def store_error(err: BaseException | None) -> StoreUnavailableError | None:
    """The StoreUnavailableError that `err` is or was caused by, if any."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, StoreUnavailableError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def read_or_say(read: Callable[[], T]) -> T | None:
    """`read()`, or None once the sentence is drawn in its place when the run store's
    database is away. For a fragment that polls the store (`run_every`): reading everything
    before drawing anything, it never stops half drawn, and its own next run brings it back."""
    try:
        return read()
    except Exception as err:  # noqa: BLE001 - only the database's absence is handled here
        found = store_error(err)
        if found is None:
            raise
        _say(found)
        return None


def store_unavailable(err: StoreUnavailableError) -> None:
    """The sentence, and a check every STORE_CHECK_SECONDS that reruns the page once the
    database answers again."""
    _say(err)
    _await_store()


def _say(err: StoreUnavailableError) -> None:
    st.error(str(err), icon=":material/cloud_off:")


@st.fragment(run_every=STORE_CHECK_SECONDS)
def _await_store() -> None:
    ctx = _script_ctx()
    # only its own timed reruns check: drawn with the sentence, it waits a period first
    if ctx is not None and ctx.fragment_ids_this_run and store_is_back():
        st.rerun(scope="app")


def store_is_back() -> bool:
    """Whether the run store can be opened and its database answers."""
    try:
        return _run_store().available()
    except Exception:  # noqa: BLE001 - whatever the reason, it is not back yet
        return False


def _on_script_error(err: Exception) -> bool | None:
    """Streamlit's script error handler: the database's absence in the app script or in a
    fragment's own rerun (a polling Train page) is the sentence, in place of a traceback;
    anything else is shown as usual."""
    found = store_error(err)
    if found is None:
        return None
    store_unavailable(found)
    return True


def _catch_store_errors() -> None:
    """Installs `_on_script_error` for this session: for this script run, and for the
    session's later runs (a fragment's timed rerun gets a new script runner). Streamlit
    versions without script error handlers show a traceback in a fragment instead."""
    ctx = _script_ctx()
    if ctx is None or getattr(ctx, "on_script_error", _on_script_error) is not None:
        return  # no script run, no handlers in this Streamlit, or ours (or another) is set
    ctx.on_script_error = _on_script_error
    try:
        from streamlit import runtime

        session = runtime.get_instance()._session_mgr.get_active_session_info(
            ctx.session_id).session
        if getattr(session, "_on_script_error", _on_script_error) is None:
            session._on_script_error = _on_script_error
    except Exception:  # noqa: BLE001 - no server (AppTest): this run only
        pass


def _catching_here() -> bool:
    ctx = _script_ctx()
    return ctx is not None and getattr(ctx, "on_script_error", None) is _on_script_error


def _job_queue(store: RunStore) -> JobQueue:
    def make() -> JobQueue:
        executor = executor_from_env(env_int("STUDIO_MAX_CONCURRENT_TRAININGS", 1))
        queue = JobQueue(store, executor=executor)
        _start_session_reaper(queue)
        return queue

    return _process_wide("job_queue", make)


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


@st.cache_resource
def _sessions() -> dict[str, str]:
    """Streamlit session id → owner, for telling the store whose pages are open."""
    return {}


def owner() -> str:
    """This browser's owner id (jobs, stop and delete rights belong to it)."""
    from ui import identity

    return identity.owner()


def register_session(owner_id: str) -> None:
    """Notes that this Streamlit session is `owner_id`'s page (for the session reaper)."""
    ctx = _script_ctx()
    if ctx is not None:
        _sessions()[ctx.session_id] = owner_id


def _script_ctx():
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True)


def absent_grace() -> float:
    """Seconds a queued run waits for its owner to open a page again before it is
    cancelled: `$STUDIO_ABSENT_GRACE_SECONDS` (at least 3), else 15."""
    return float(max(MIN_ABSENT_GRACE_SECONDS,
                     env_int("STUDIO_ABSENT_GRACE_SECONDS", ABSENT_GRACE_SECONDS)))


def _start_session_reaper(queue: JobQueue) -> None:
    """A daemon thread that tells the store whose pages are open on this server, and
    cancels the queued runs of owners with no page open anywhere for a while (a closed
    tab, not a reload); running runs of a closed tab finish and stay in the store."""
    from streamlit import runtime

    if not runtime.exists():
        return
    instance = runtime.get_instance()

    started = time.monotonic()
    grace = absent_grace()
    every = min(SESSION_CHECK_SECONDS, grace / 3)  # an open page is seen well within grace

    def reap() -> None:
        while True:
            time.sleep(every)
            sessions = _sessions()
            present = set()
            for session_id, who in list(sessions.items()):
                if instance.is_active_session(session_id):
                    present.add(who)
                else:
                    sessions.pop(session_id, None)
            try:
                queue.store.touch_owners(sorted(present))
                # just after a (re)start the class's pages are still reconnecting
                if time.monotonic() - started > 2 * grace:
                    queue.store.cancel_absent(grace)
            except Exception:  # noqa: BLE001 - the database away: next time
                continue

    threading.Thread(target=reap, name="session-reaper", daemon=True).start()


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
    from fmnist_core.data.preprocessing import ImageError, preprocess

    decoding = _process_wide("decodes", lambda: threading.BoundedSemaphore(DECODES_AT_ONCE))
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


def finished_runs() -> list[dict]:
    """Stored runs with a saved model, newest first."""
    return [r for r in run_store().list_runs()
            if r["model_path"] and r["status"] in ("completed", "stopped")]


def run_or_none(run_id: str | None) -> dict | None:
    if not run_id:
        return None
    try:
        return run_store().get_run(run_id)
    except (ValueError, RunNotFoundError):
        return None


def student(owner_id: str, names: dict[str, str]) -> str:
    """How a run's owner is shown: their name, "you" for this browser, else "classmate"."""
    name = names.get(owner_id)
    if owner_id == st.session_state.get("owner"):
        return f"{name} (you)" if name else "you"
    return name or "classmate"


def run_label(run: dict, names: dict[str, str] | None = None, short: bool = False) -> str:
    """"3f9a2c · Conv 32 3×3 → … · 91.2% · 10:42 · Ada"; `short` leaves out the network
    and the time (a chip in a narrow multiselect)."""
    acc = f"{run['test_accuracy']:.1%}" if run["test_accuracy"] is not None else run["status"]
    who = student(run["owner"], names or {})
    if short:
        return f"{run['id'][:6]} · {acc} · {who}"
    when = time.strftime("%H:%M", time.localtime(run["created"]))
    return f"{run['id'][:6]} · {run['spec'].summary()} · {acc} · {when} · {who}"


def default_run() -> tuple[str | None, str]:
    """The run a page opens on and why (`fmnist_core.store.classroom.default_run`): this
    browser's best completed run, else the class's best."""
    from fmnist_core.store.classroom import default_run as choose

    return choose(finished_runs(), st.session_state.get("owner"))


def require_runs(runs: list[dict], sentence: str) -> dict[str, dict]:
    """The runs by id; with none, the empty-state caption, a link to Train, and the page
    stops."""
    if not runs:
        st.caption(sentence)
        st.page_link("pages/train.py", label="Go to the Train page",
                     icon=":material/show_chart:")
        st.stop()
    return {run["id"]: run for run in runs}


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
