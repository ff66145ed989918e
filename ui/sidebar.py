"""The sidebar every page shares: dataset, device, this session's active run."""

from __future__ import annotations

import threading
import time

import streamlit as st

from fmnist_core.datasets import DATASETS
from ui import resources

DEVICE_PROBE_DELAY_SECONDS = 5.0
DATASET_LABELS = {"fashion_mnist": "Fashion-MNIST (clothes)", "mnist": "MNIST (digits)"}


@st.cache_resource
def _device_probe() -> dict[str, str]:
    """Finds the device in a background thread: importing the Keras backend takes seconds,
    and the first page should not wait for it. The import also warms up the Train page."""
    found: dict[str, str] = {}

    def probe() -> None:
        # the first page of a fresh server renders before this import competes with it for
        # the interpreter lock and the cores (start-up: bench/startup.py)
        time.sleep(DEVICE_PROBE_DELAY_SECONDS)
        from fmnist_core.device import device_label

        try:
            found["label"] = device_label()
        except Exception as err:  # noqa: BLE001 - a broken backend is a caption, not a crash
            found["label"] = f"unavailable ({type(err).__name__})"

    threading.Thread(target=probe, name="device-probe", daemon=True).start()
    return found


def render() -> None:
    owner = resources.owner()
    with st.sidebar:
        st.selectbox("Dataset", DATASETS, format_func=DATASET_LABELS.get, key="dataset",
                     help="Every page uses this dataset; MNIST needs mnist.npz (see README).")
        st.caption(f"Device: {_device_probe().get('label', 'detecting…')}")
        active = [j for j in resources.job_queue().jobs(owner) if not j.done]
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
