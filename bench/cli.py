"""The command line: what each command costs from process start to exit, and what it prints.

Each command runs in a fresh process (`python -m fmnist_core …`), three times, with the
backend's start-up log left on (no TF_CPP_MIN_LOG_LEVEL) so that a line on stderr that is
not the studio's own would show. A small quick-preset run is trained first by the CLI
itself (2,000 images), so `predict` has a model; its ten pictures are PNG files of official
test images.

- `describe --preset seed-cnn` (no training; arithmetic only, the backend never loads);
- `predict --json --run RUN` on 10 pictures in one call (one model load, one batch);
- `predict` on a file that is not a picture: refused before the backend loads.

Targets: a non-picture refused in ≤ 1 s; no line on stderr but the studio's own.

    .venv/bin/python bench/cli.py [--smoke]

--smoke: one pass of each command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (ROOT, bench_args, load_note, median, print_table, verdict, write_result)

REFUSE_SECONDS = 1.0
PICTURES = 10


def cli(home: Path, *arguments: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(STUDIO_HOME=str(home), STUDIO_NO_DOWNLOAD="1")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fmnist_core", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, env=env)
    return done, time.perf_counter() - started


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    import numpy as np
    from PIL import Image

    from fmnist_core.data.datasets import load_dataset

    passes = 1 if args.smoke else 3
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        home = Path(tmp) / "studio"
        trained, train_s = cli(home, "train", "--preset", "quick", "--epochs", "1",
                               "--limit-train", "2000", "--limit-test", "500", "--json")
        if trained.returncode != 0:
            raise RuntimeError(f"training for the benchmark failed: {trained.stderr[-2000:]}")
        run_id = json.loads(trained.stdout.strip().splitlines()[-1])["run_id"]
        data = load_dataset("fashion_mnist")
        pictures = []
        for index in range(PICTURES):
            path = Path(tmp) / f"test-{index}.png"
            # dark garment on light paper, enlarged as a phone photo of it would be
            Image.fromarray(255 - data.x_test[index]).resize((140, 140)).save(path)
            pictures.append(str(path))
        not_a_picture = Path(tmp) / "notes.png"
        not_a_picture.write_text("these are my notes, not a picture\n")
        commands = {
            "describe --preset seed-cnn": (("describe", "--preset", "seed-cnn"), None),
            f"predict --json on {PICTURES} pictures in one call":
                (("predict", "--json", "--run", run_id, *pictures), None),
            "predict on a file that is not a picture":
                (("predict", "--run", run_id, str(not_a_picture)), REFUSE_SECONDS),
        }
        rows = []
        for what, (arguments, budget) in commands.items():
            times, foreign, outputs = [], [], []
            for _ in range(passes):
                done, seconds = cli(home, *arguments)
                times.append(seconds)
                outputs.append(done)
                ours = ("run ", "epoch ", "error: ", *pictures, str(not_a_picture))
                foreign += [line for line in done.stderr.splitlines()
                            if line and not line.startswith(ours)]
            last = outputs[-1]
            if what.startswith("predict --json"):
                answers = [json.loads(line) for line in last.stdout.splitlines() if line]
                names = data.class_names
                right = sum(a["top"][0]["class"] == names[data.y_test[i]]
                            for i, a in enumerate(answers))
                detail = f"{len(answers)} answers, {right} right"
            else:
                detail = (last.stderr.strip() or last.stdout.strip().splitlines()[0])[:70]
            ok_time = budget is None or median(times) <= budget
            rows.append({"command": what, "passes": passes, "median s": median(times),
                         "max s": max(times), "exit": last.returncode,
                         "foreign stderr lines": len(foreign), "says": detail,
                         "target": (f"≤ {budget:g} s, studio's lines only" if budget
                                    else "studio's lines only"),
                         "met": verdict(None if args.smoke else ok_time and not foreign)})
    print_table(f"CLI commands, process start → exit (training the run for predict took "
                f"{train_s:.1f} s)", rows)
    load_note()
    write_result("cli" + ("_smoke" if args.smoke else ""), {"smoke": args.smoke, "rows": rows})


if __name__ == "__main__":
    main()
