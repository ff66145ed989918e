"""bench/gpu.sh, the GPU run prepared while no GPU is at hand: its smoke mode on the CPU
measures every section end to end and writes them to its JSON."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_script_measures_every_section_in_smoke_mode(tmp_path):
    env = {**os.environ, "BENCH_RESULTS_DIR": str(tmp_path), "TMPDIR": str(tmp_path)}
    env.pop("OUT", None)
    done = subprocess.run(["bash", "bench/gpu.sh", "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "gpu.json").read_text())
    sections = result["results"]
    assert set(sections) == {"seed-cnn epoch", "end to end", "engine overhead",
                             "classroom drain"}
    assert not [name for name, row in sections.items() if "error" in row]
    assert sections["seed-cnn epoch"]["epoch_seconds"] > 0
    assert {"quick", "best"} == set(sections["end to end"])
    for row in sections["end to end"].values():
        assert row["epochs"] == 1 and 0 < row["wall_seconds"] and 0 <= row["test_accuracy"] <= 1
    assert sections["engine overhead"]["ratio"] > 0
    drain = sections["classroom drain"]
    assert drain["runs"] == 3 and drain["cap"] == 2 and drain["runs_per_minute"] > 0
    assert "3 quick runs drained, 2 at once" in done.stdout
    assert "quick (1 epoch), start to exit" in done.stdout


def test_without_keras_or_its_wheels_the_script_says_what_to_do(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "gpu.sh").write_text((ROOT / "bench" / "gpu.sh").read_text())
    if subprocess.run(["/usr/bin/python3", "-c", "import keras"],
                      capture_output=True).returncode == 0:
        pytest.skip("this machine's own Python has Keras")
    env = {**os.environ, "PYTHON": "/usr/bin/python3"}
    done = subprocess.run(["bash", str(bench / "gpu.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "bash bench/gpu.sh --pack" in done.stderr and len(done.stderr.splitlines()) == 1
