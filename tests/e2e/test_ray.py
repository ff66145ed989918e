"""The studio in Chromium with its trainings on a Ray cluster: a loopback head of this test's
own (token authentication), a studio server pointed at it, a run whose curves move, Stop."""

import importlib.util
import re
import time
from pathlib import Path

import pytest

from bench.common import studio_server
from browsertools import TRAINING_MS, shot
from raycluster import RayHead
from test_browser import CURVE_POINTS, no_exception, press_stop, settle, start_training

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install -r requirements-cluster.txt)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def ray_studio(tmp_path_factory):
    """Base URL of a studio whose trainings run on a one-node cluster, and the cluster."""
    head = RayHead(num_cpus=1).start()
    try:
        with studio_server(tmp_path_factory.mktemp("ray-home"), STUDIO_TRAIN_LIMIT="1000",
                           STUDIO_TEST_LIMIT="500", STUDIO_MAX_CONCURRENT_TRAININGS="1",
                           STUDIO_RAY_ADDRESS=head.address,
                           **head.client_env()) as (url, _):
            yield url, head
    finally:
        head.stop()


def actor_processes(head: RayHead) -> list[int]:
    found = []
    for pid in head.pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::RunTrainer"):
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_run_on_the_cluster_shows_moving_curves_and_stops(ray_studio, page):
    studio, head = ray_studio
    start_training(page, studio, 200)  # still training at Stop, even on a fast machine
    page.get_by_text("Trainings run on the Ray cluster (1 node, 0 GPUs).").first.wait_for()
    page.get_by_text(re.compile(r"Epoch \d+/200")).first.wait_for(timeout=TRAINING_MS)
    assert actor_processes(head), "the run does not train in an actor of the cluster"
    seen = []
    deadline = time.time() + 120
    while len(seen) < 4 and time.time() < deadline:
        value = page.evaluate(CURVE_POINTS)
        if value and (not seen or seen[-1] != value):
            seen.append(value)
        page.wait_for_timeout(400)
    assert len(seen) >= 4, f"the curves changed only {len(seen) - 1} times: {seen}"
    press_stop(page)
    page.get_by_text("Stopped by you").first.wait_for(timeout=TRAINING_MS)
    settle(page)
    no_exception(page)
    shot(page, "train-stopped-on-ray")
    deadline = time.time() + 30
    while actor_processes(head) and time.time() < deadline:  # the actor goes with its run
        time.sleep(0.5)
    assert not actor_processes(head)
