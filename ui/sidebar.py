"""The sidebar every page shares: dataset, device, where trainings run, the student's name
and their active run."""

from __future__ import annotations

import logging
import threading
import time

import streamlit as st

from fmnist_core.data.datasets import DATASETS
from fmnist_core.store.presence import HOST, SERVER_STALE_SECONDS
from fmnist_core.words import plural
from ui import identity, resources, store_outage

_LOGGER = logging.getLogger(__name__)

DEVICE_PROBE_DELAY_SECONDS = 5.0
DEVICE_POLL_SECONDS = 2.0
DATASET_LABELS = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST digits"}


@st.cache_resource
def _device_probe() -> dict:
    """Finds the device in a background thread: importing the Keras backend takes seconds,
    and the first page should not wait for it. The import also warms up the Train page."""
    # plotly and narwhals look pandas and PIL up in sys.modules without importing them, so a
    # chart drawn while the probe's Keras import is half-way through pandas fails
    # ("partially initialized module"). Every script run passes here before its page draws,
    # and waits while this runs once: imported here, they are whole before any chart.
    import pandas  # noqa: F401
    import PIL.Image  # noqa: F401

    found: dict[str, str] = {}

    def probe() -> None:
        # the first page of a fresh server renders before this import competes with it for
        # the interpreter lock and the cores (start-up: bench/startup.py)
        time.sleep(DEVICE_PROBE_DELAY_SECONDS)
        from fmnist_core.nets.device import device_info, device_label

        try:
            found["info"] = device_info()
            found["label"] = device_label()
        except Exception as err:  # noqa: BLE001 - a broken backend is a caption, not a crash
            _LOGGER.warning("The device could not be found (the Keras backend failed to "
                            "load); the sidebar says it is unavailable.", exc_info=True)
            found["label"] = f"unavailable ({type(err).__name__})"

    threading.Thread(target=probe, name="device-probe", daemon=True).start()
    return found


def device_info() -> dict[str, str] | None:
    """The device trainings here use (`fmnist_core.nets.device.device_info`), once the probe has
    found it; None before."""
    return _device_probe().get("info")


@st.fragment(run_every=DEVICE_POLL_SECONDS)
def _device_pending(name: str) -> None:
    """The caption while the probe runs; polls it, and once it has answered, one full rerun
    draws the plain caption, which no longer polls."""
    if "label" in _device_probe():
        st.rerun(scope="app")
    st.caption(f"{name}: detecting…")


def where_trainings_run(queue) -> tuple[str, bool]:
    """(where the class's trainings run, for "Trainings run on …", whether all of them run
    on this machine). A class's servers share one line, so a student's run may train on
    another server of the class: those that are alive, on other machines, are named.

    Raises:
        StoreUnavailableError: the servers' heartbeats cannot be read.
    """
    where = queue.where()
    if queue.executor.name == "ray":
        return where, False
    now = time.time()
    others = sorted({server["host"] for server in queue.store.servers()
                     if server["host"] != HOST and server["heartbeat"] is not None
                     and now - server["heartbeat"] < SERVER_STALE_SECONDS})
    if not others:
        return where, True
    return (f"{where} or on the class's {plural(len(others), 'other server')} "
            f"({', '.join(others)})", False)


def _device(here: bool) -> None:
    """The device of this server: the one its trainings use, or, when they train elsewhere
    too, the one only its pages compute on (Predict, Inspect)."""
    name = "Device" if here else "Device of this server"
    if label := _device_probe().get("label"):
        st.caption(f"{name}: {label}")
    else:
        _device_pending(name)


def _where_captions(device_slot, where_slot, where: str | None, here: bool) -> None:
    """The device and where trainings run (None: the cluster refused this server), in the
    places kept for them at the top of the sidebar."""
    with device_slot.container():
        _device(here)
    if where is None:
        where_slot.caption("Trainings cannot start now: the cluster they run on refused this "
                           "server (the Train page says why).")
    else:
        where_slot.caption(f"Trainings run on {where}.")


def render() -> None:
    owner = identity.owner()
    with st.sidebar:
        # no help buttons in the sidebar: each is a stop for the keyboard on every page
        st.selectbox("Dataset", DATASETS, format_func=DATASET_LABELS.get, key="dataset")
        # filled once the store has said where trainings run
        device_slot, where_slot = st.empty(), st.empty()
        # a cluster that refused this server is not asked again here: the Train page does
        queue, _refusal = resources.queue_or_refusal(retry=False)
        # without the store, the other servers are not known: the queue's own word
        where, here = (None, False) if queue is None else (
            queue.where(), queue.executor.name != "ray")
        try:  # all read the store before drawing: nothing is left half drawn
            if queue is not None:
                where, here = where_trainings_run(queue)
            identity.name_field()
            active = [j for j in queue.jobs(owner) if not j.done] if queue is not None else []
        except Exception as err:  # noqa: BLE001 - only the database's absence is handled here
            if store_outage.store_error(err) is None:
                raise
            # one line, not a traceback at every page view while the database is away
            _LOGGER.warning("The sidebar leaves out the name field and the active run: %s",
                            store_outage.store_error(err))
            _where_captions(device_slot, where_slot, where, here)
            st.caption("Your name and runs come back here once the saved runs can be "
                       "reached again.")
            return
        _where_captions(device_slot, where_slot, where, here)
        if active:
            snap = active[0].snapshot()
            if snap["status"] == "queued":
                st.info(f"Your run {snap['run_id'][:6]} is queued "
                        f"(position {snap.get('queue_position') or '?'}).")
            else:
                st.info(f"Your run {snap['run_id'][:6]} is training.")
            st.page_link("pages/train.py", label="Watch it train", icon=":material/show_chart:")
        elif st.session_state.get("last_run"):
            st.caption(f"Your latest run: {st.session_state.last_run[:6]}")
