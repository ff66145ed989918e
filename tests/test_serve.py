"""`python -m ui.serve`: the studio's server makes its training queue as it starts, so the
line trains (and a restarted server adopts its runs) before anyone opens a page."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.common import free_port
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.store.runs import RunStore
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelSpec(conv_blocks=1, filters=8, dense_units=32, epochs=1, batch_size=16)


def test_a_started_server_trains_its_waiting_line_before_any_page_is_opened(tmp_path):
    home = tmp_path / "home"
    store = RunStore(home)
    run_id = store.enqueue(TINY, "left-before-the-restart")
    env = {**os.environ, "STUDIO_HOME": str(home), "STUDIO_TRAINING_WORKER": "thread",
           "STUDIO_TRAIN_LIMIT": "400", "STUDIO_TEST_LIMIT": "200"}
    env.pop("STUDIO_DATABASE_URL", None)
    env.pop("STUDIO_RAY_ADDRESS", None)
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", "--server.port", str(free_port()),
         "--server.address", "127.0.0.1"], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        run = wait_for(lambda: (r := store.get_run(run_id))["status"] not in (
            "queued", "running") and r, timeout=240, what="the waiting run trained")
        assert run["status"] == "completed", run["error"]
        assert [s["executor"] for s in store.servers()] == ["thread"]
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server's session: only what it started
        server.wait(10)
    assert "Traceback" not in (tmp_path / "server.log").read_text()
