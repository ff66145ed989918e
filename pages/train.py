"""Train: the spec form, a preview of the network, start / stop, live curves."""

import streamlit as st

from fmnist_core.explain import inspection

from fmnist_core.nets import anatomy, estimate, precision
from fmnist_core.nets.limits import SpecTooCostlyError
from fmnist_core.store.line_times import Place
from fmnist_core.store.queue import OwnerLimitError
from fmnist_core.store.settings import SettingsError
from ui import (charts, identity, resources, router, sidebar, spec_form, store_outage,
                train_view)
from ui.figures import learning

router.require_app()

st.title("Train", anchor=False)
st.caption("Choose the layers, press Start, and watch the network learn. The curves show "
           "accuracy on the training images (blue) and on held-out validation images "
           "(orange): when orange stops rising while blue keeps going, the network is "
           "memorising instead of learning.")

queue = resources.job_queue()
owner = identity.owner()
data_name = st.session_state.get("dataset", "fashion_mnist")


def _my_job():
    """This browser's run: the one started here, else (after a reload, in a second tab)
    its queued or training run."""
    run_id = st.session_state.get("job_id")
    if run_id is None:
        active = queue.jobs(owner)
        if not active:
            return None
        run_id = st.session_state["job_id"] = st.session_state["last_run"] = active[-1].run_id
    return queue.get(run_id)


job = _my_job()
# with a run of this browser on the page, the form and its preview fold away, so the live
# curves are in sight on a projector
with st.expander("Network and training settings", expanded=job is None):
    # within the class's settings, the same the queue checks
    spec, problem = spec_form.render(data_name, queue.settings(), queue.limit_train)
    if not problem:
        info = anatomy.describe(spec)  # arithmetic, no Keras: cheap on every rerun
        resources.dataset(data_name)  # a missing dataset: its sentence, and the page stops
        n_train, n_test = queue.images(data_name, spec)
        n_val = int(n_train * spec.validation_split)
        guess = estimate.for_spec(
            spec, n_train - n_val, n_val, layers=info["layers"], store=resources.run_store(),
            n_test=n_test, policy=precision.expected_policy(sidebar.device_info()))
        train_view.preview(spec, info, guess, n_train - n_val)
        try:  # what the queue will check too: a run that would cost too much is no run
            queue.check_settings(spec)
            queue.check_cost(spec)
        except (SettingsError, SpecTooCostlyError) as err:
            problem = str(err)
if problem:
    st.error(problem)

busy = job is not None and not job.done
if not busy and not st.session_state.get("worker_prepared"):
    st.session_state["worker_prepared"] = True  # once a session: Keras loads meanwhile
    queue.prepare()
if st.button("Start training", type="primary", disabled=bool(problem) or busy, key="start"):
    try:
        job = queue.submit(spec, owner, client=identity.client_address())
        st.session_state["job_id"] = job.run_id
        st.session_state["last_run"] = job.run_id
        st.rerun()
    except (OwnerLimitError, SettingsError, SpecTooCostlyError) as err:
        st.error(str(err))

if job is None:
    st.caption("No training of yours is running. Press Start to train the network above.")
    st.stop()


# A queued job checks its place every 3 s (a full class waiting is many sessions polling);
# a training one refreshes its curves every second.
queued_at_draw = job.status == "queued"


def _live_state() -> tuple[dict, bool, bool, int, Place | None]:
    """What `live` draws, read before it draws anything: (snapshot, done, stop requested,
    trainings running, and while queued its place in the line with when it starts)."""
    done = job.done  # first: a run that is done has its final snapshot
    snap = job.snapshot()
    queued = snap["status"] == "queued"
    place = (resources.line_clock().place(
        job.run_id, precision.expected_policy(sidebar.device_info())) if queued else None)
    return (snap, done, False if done else job.stop_requested,
            queue.running_count() if queued else 0, place)


@st.fragment(run_every=None if job.done else (3.0 if queued_at_draw else 1.0))
def live() -> None:
    # the run store's database away: the sentence in its place until a next run reads it
    state = store_outage.read_or_say(_live_state)
    if state is None:
        return
    snap, done, stop_requested, running, place = state
    status = snap["status"]
    if status == "queued":
        st.info(train_view.queued(snap["queue_position"] or 1, running, place))
        if st.button("Cancel my queued training", key="cancel"):
            queue.stop(job.run_id, owner)
            st.rerun()
        return
    if queued_at_draw:
        st.rerun()  # it has started: redraw the page at the training pace
    steps_total = (snap["batches_per_epoch"] or 0) * snap["epochs"]
    if steps_total and not done:
        st.progress(min(1.0, snap["steps_done"] / steps_total),
                    text=train_view.progress_text(snap))
    if not done:
        c1, c2 = st.columns([3, 1])
        c1.caption(snap["message"])
        if c2.button("Stop", key="stop", disabled=stop_requested):
            queue.stop(job.run_id, owner)
            st.toast("Stopping after the current batch.")
    # the curves and each class's progress side by side: both in sight on a projector
    by_class = bool(inspection.class_progress(snap["history"])[1])
    left, right = st.columns([3, 2]) if by_class else (st.container(), None)
    if snap["batch_points"] or snap["history"]:
        charts.show(learning.curves(snap["history"], snap["batch_points"], snap["epochs"],
                                    stacked=by_class), key="curves", where=left)
    elif not done:
        left.caption("The curves start with the first batches: building the network and "
                     "preparing its first training step take a few seconds.")
    if right is not None:
        with right:
            train_view.class_progress(snap, resources.dataset(data_name).class_names)
    if done:
        _result(snap)
        if st.session_state.get("shown_done") != job.run_id:
            st.session_state["shown_done"] = job.run_id
            st.rerun()


def _result(snap: dict) -> None:
    train_view.result(snap)
    if snap["model_path"] and snap["status"] in ("completed", "stopped"):
        c1, c2 = st.columns(2)
        c1.page_link("pages/inspect.py", label="Open the confusion matrix and feature maps",
                     icon=":material/biotech:", query_params={"run": job.run_id})
        path = resources.run_store().model_file(job.run_id)
        if path.is_file():
            # read only when clicked, not on every rerun of the page
            c2.download_button("Download the model (.keras)", path.read_bytes,
                               file_name=f"fmnist-{job.run_id}.keras", key="download",
                               mime="application/octet-stream", on_click="ignore")


live()
