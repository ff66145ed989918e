"""The sidebar every page shares: dataset, device, where trainings run, the student's name
and their active run."""

from __future__ import annotations

import logging
import threading
import time

import streamlit as st

from fmnist_core.data.datasets import DATASETS
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
def _device_pending() -> None:
    """The caption while the probe runs; polls it, and once it has answered, one full rerun
    draws the plain caption, which no longer polls."""
    if "label" in _device_probe():
        st.rerun(scope="app")
    st.caption("Device: detecting…")


def render() -> None:
    owner = identity.owner()
    with st.sidebar:
        # no help buttons in the sidebar: each is a stop for the keyboard on every page
        st.selectbox("Dataset", DATASETS, format_func=DATASET_LABELS.get, key="dataset")
        if label := _device_probe().get("label"):
            st.caption(f"Device: {label}")
        else:
            _device_pending()
        # a cluster that refused this server is not asked again here: the Train page does
        queue, refusal = resources.queue_or_refusal(retry=False)
        if queue is None:
            st.caption("Trainings cannot start now: the cluster they run on refused this "
                       "server (the Train page says why).")
        else:
            st.caption(f"Trainings run on {queue.where()}.")
        try:  # both read the store before drawing: nothing is left half drawn
            identity.name_field()
            active = [j for j in queue.jobs(owner) if not j.done] if queue is not None else []
        except Exception as err:  # noqa: BLE001 - only the database's absence is handled here
            if store_outage.store_error(err) is None:
                raise
            # one line, not a traceback at every page view while the database is away
            _LOGGER.warning("The sidebar leaves out the name field and the active run: %s",
                            store_outage.store_error(err))
            st.caption("Your name and runs come back here once the saved runs can be "
                       "reached again.")
            return
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
