"""Faults injected into real processes: SIGKILL mid-training and mid-save, a full disk."""

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from fmnist_core.__main__ import main
from fmnist_core.store.runs import RunStore
from readonly import make_read_only, make_writable, without_write_override
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


def cli(home, *args, **popen):
    env = dict(os.environ, STUDIO_NO_DOWNLOAD="1", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        [sys.executable, "-m", "fmnist_core", "train", "--home", str(home), "--json", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_sigkill_mid_training_leaves_an_interrupted_run_and_intact_others(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["train", "--preset", "dense", "--epochs", "1", "--limit-train", "1000",
                 "--limit-test", "200", "--home", str(home), "--json"]) == 0
    finished = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]

    proc = cli(home, "--preset", "quick", "--epochs", "50", "--limit-train", "2000",
               "--limit-test", "200")
    try:
        killed = wait_for(
            lambda: [r for r in RunStore(home).list_runs()
                     if r["status"] == "running" and r["epochs_run"] >= 1],
            what="the second run to finish an epoch", every=0.2)[0]["id"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL

    store = RunStore(home)  # the server's restart
    run = store.get_run(killed)
    assert run["status"] == "interrupted" and "stopped while this run was training" in run["error"]
    assert run["epochs_run"] >= 1 and len(store.epochs(killed)) == run["epochs_run"]
    assert store.integrity_ok()
    assert not list(store.models_dir.glob("*.partial.keras"))
    assert not store.model_file(killed).exists()
    kept = store.get_run(finished)
    assert kept["status"] == "completed" and len(store.epochs(finished)) == 1
    model = store.load_model(finished)
    assert model.count_params() == 101_770


SAVE_THEN_HANG = """
import sys, time
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import preset

class SlowModel:
    def save(self, path):
        with open(path, "wb") as f:
            f.write(b"PK" + b"0" * 100_000)
            f.flush()
        print(path, flush=True)
        time.sleep(60)

store = RunStore(sys.argv[1])
run_id = store.create_run(preset("quick"), "alice", status="running")
store.save_model(run_id, SlowModel())
"""


def test_sigkill_mid_save_leaves_no_half_written_model(tmp_path):
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-c", SAVE_THEN_HANG, str(home)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        partial = Path(proc.stdout.readline().strip())
        assert partial.name.endswith(".partial.keras") and partial.exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    store = RunStore(home)
    assert not partial.exists() and not list(store.models_dir.iterdir())
    (run,) = store.list_runs()
    assert run["status"] == "interrupted" and store.integrity_ok()


def _limit_file_size():
    # a "disk" that holds 1 MB per file: the quick model (2.8 MB) cannot be written
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))


def test_full_disk_while_saving_fails_the_run_with_a_sentence(tmp_path):
    home = tmp_path / "home"
    RunStore(home)  # the database exists before the limit, as on a server that filled up
    proc = cli(home, "--preset", "quick", "--epochs", "1", "--limit-train", "1000",
               "--limit-test", "200", preexec_fn=_limit_file_size)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "failed" and result["model_path"] is None
    assert result["message"].startswith("Training finished but the model could not be saved")
    assert "free some disk space" in result["message"] and "Traceback" not in err
    store = RunStore(home)
    run = store.get_run(result["run_id"])
    assert run["status"] == "failed" and run["error"] == result["message"]
    assert run["test_accuracy"] is not None  # what was measured is kept
    assert not list(store.models_dir.iterdir())


def test_a_read_only_models_folder_fails_the_run_with_a_sentence(tmp_path):
    home = tmp_path / "home"
    store = RunStore(home)  # its database writable, its folder of models not (a mount)
    make_read_only(store.models_dir)
    try:
        proc = cli(home, "--preset", "dense", "--epochs", "1", "--limit-train", "1000",
                   "--limit-test", "200", preexec_fn=without_write_override)
        out, err = proc.communicate(timeout=180)
    finally:
        make_writable(store.models_dir)
    assert proc.returncode == 1, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "failed" and result["model_path"] is None
    assert result["message"] == ("Training finished but the model could not be saved "
                                 "(Permission denied); free some disk space or check "
                                 "STUDIO_HOME.")
    assert "Traceback" not in err
    run = RunStore(home).get_run(result["run_id"])
    assert run["status"] == "failed" and run["error"] == result["message"]
    assert not list(store.models_dir.iterdir())
