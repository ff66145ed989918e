"""The exported code against the studio: the same spec and seed, trained both ways on the
full official data, their test accuracy side by side.

For each preset (quick and seed-cnn by default) and seed: the studio trains it through the
CLI (`python -m fmnist_core train --preset P --seed S --json`, float32 arithmetic, as the
exported code trains), `runs export RUN --script FILE` writes its recipe as a script, and the
script runs as a student would run it (`python FILE`, the data from
/usr/share/datasets/fashion-mnist or $FMNIST_DATA_DIR), in a new process of its own. Both
test on the 10,000 test images. Met: the two test accuracies within ±0.5 points; otherwise
the difference is for the README to explain (the studio's feed order, its checks).

    .venv/bin/python bench/export.py [--smoke] [--only quick,seed-cnn] [--seeds 0,1]

--smoke: 2,000 training images and 1 epoch each, not judged. quick takes 2-4 minutes both
ways on 2 cores, seed-cnn 8-15.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, engine_env, load_note, print_table, verdict, write_result

TOLERANCE = 0.005  # the issue's ±0.5 points of test accuracy
PRESETS = ("quick", "seed-cnn")
SMOKE_TRAIN = 2000
ACCURACY_LINE = re.compile(r"^Test accuracy: ([0-9.]+)$", re.MULTILINE)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), STUDIO_PRECISION="float32")
    env.pop("MPLBACKEND", None)
    return env


def studio_run(name: str, seed: int, home: Path, smoke: bool) -> dict:
    """Trains the preset with the CLI into `home`; its JSON result and wall seconds."""
    command = [sys.executable, "-m", "fmnist_core", "train", "--preset", name, "--seed",
               str(seed), "--home", str(home), "--json"]
    if smoke:
        command += ["--epochs", "1", "--limit-train", str(SMOKE_TRAIN)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=ROOT,
                          check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "wall": time.perf_counter() - started}


def exported_run(run_id: str, home: Path, folder: Path, smoke: bool) -> dict:
    """Exports the run's script with the CLI and runs it in `folder`; its test accuracy,
    wall seconds and output."""
    script = folder / f"fmnist-{run_id}.py"
    subprocess.run([sys.executable, "-m", "fmnist_core", "runs", "export", run_id, "--home",
                    str(home), "--script", str(script)], env=_env(), cwd=ROOT, check=True,
                   capture_output=True)
    command = [sys.executable, str(script)]
    if smoke:
        command += ["--epochs", "1", "--limit-train", str(SMOKE_TRAIN)]
    env = {k: v for k, v in _env().items() if k != "PYTHONPATH"}  # it stands alone
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder,
                          check=True)
    wall = time.perf_counter() - started
    (accuracy,) = ACCURACY_LINE.findall(done.stdout)
    return {"test_accuracy": float(accuracy), "wall": wall, "stdout": done.stdout[-4000:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny version, not judged")
    parser.add_argument("--only", default=",".join(PRESETS), help="comma-separated presets")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    args = parser.parse_args()
    engine_env()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows, details = [], []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        home = Path(tmp) / "studio"
        for name in names:
            for seed in seeds:
                print(f"{name}, seed {seed}: the studio trains it", flush=True)
                studio = studio_run(name, seed, home, args.smoke)
                print(f"{name}, seed {seed}: its exported script trains it", flush=True)
                folder = Path(tmp) / f"{name}-{seed}"
                folder.mkdir()
                code = exported_run(studio["run_id"], home, folder, args.smoke)
                gap = code["test_accuracy"] - studio["test_accuracy"]
                rows.append({
                    "preset": name, "seed": seed, "studio test acc": studio["test_accuracy"],
                    "code test acc": code["test_accuracy"], "difference (points)": 100 * gap,
                    "studio wall s": studio["wall"], "code wall s": code["wall"],
                    "target": f"within ±{100 * TOLERANCE:.1f} points",
                    "met": verdict(None if args.smoke else abs(gap) <= TOLERANCE),
                })
                details.append({"preset": name, "seed": seed, "studio": studio,
                                "code_stdout": code["stdout"]})
    title = "The exported script against the studio (same spec and seed, full official data)"
    if args.smoke:
        title += f" (smoke: {SMOKE_TRAIN:,} images, 1 epoch, not judged)"
    print_table(title, rows)
    load_note()
    write_result("export", {"smoke": args.smoke, "rows": rows, "runs": details})


if __name__ == "__main__":
    main()
