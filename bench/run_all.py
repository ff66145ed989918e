"""Runs every benchmark, one after the other, each in its own process, then a summary.

Exits 1 when a benchmark crashed (a non-zero exit code), not when a target was missed: the
targets met, missed and unresolved (the machine's scatter wider than the target's margin)
are counted in the summary from each benchmark's JSON in bench/results/.
bench/classroom_load.py is included when it exists; with --smoke it is run only if it
accepts --smoke itself.

    .venv/bin/python bench/run_all.py [--smoke] [names…]     # e.g. run_all.py --smoke memory
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import RESULTS, ROOT, load_note, print_table

BENCH = ROOT / "bench"
SCRIPTS = ("engine_overhead", "time_to_accuracy", "epoch_time", "estimate", "interaction",
           "cli", "fuzz", "ood", "memory", "startup", "classroom_load")


def available() -> list[str]:
    return [name for name in SCRIPTS if (BENCH / f"{name}.py").is_file()]


def targets(name: str, since: float) -> tuple[int | None, int | None, int | None]:
    """(met, missed, unresolved) counted from the rows of the benchmark's fresh JSON; None
    if unknown. Unresolved: the machine's scatter is wider than the target's margin."""
    path = RESULTS / f"{name}.json"
    if not path.is_file() or path.stat().st_mtime < since:
        return None, None, None
    try:
        rows = json.loads(path.read_text()).get("rows") or []
    except (OSError, ValueError):
        return None, None, None
    marks = [row.get("met") for row in rows if isinstance(row, dict)]
    return marks.count("yes"), marks.count("no"), marks.count("unresolved")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="pass --smoke to every benchmark")
    parser.add_argument("names", nargs="*", help=f"only these, of {', '.join(available())}")
    args = parser.parse_args()
    names = args.names or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {available()}")
    summary, crashed = [], False
    for name in names:
        script = BENCH / f"{name}.py"
        command = [sys.executable, str(script)]
        if args.smoke:
            if "--smoke" not in script.read_text():
                summary.append({"benchmark": name, "status": "skipped (no --smoke)"})
                continue
            command.append("--smoke")
        print(f"\n# {name}: {' '.join(command[1:])}", flush=True)
        started_wall = time.time()
        started = time.perf_counter()
        code = subprocess.run(command, cwd=ROOT).returncode
        seconds = time.perf_counter() - started
        met, missed, unresolved = targets(name, started_wall)
        crashed |= code != 0
        summary.append({"benchmark": name, "status": "ok" if code == 0 else f"FAILED (exit {code})",
                        "seconds": seconds, "targets met": met, "targets missed": missed,
                        "unresolved": unresolved,
                        "result": f"bench/results/{name}.json" if met is not None else None})
    print_table("Summary" + (" (smoke)" if args.smoke else ""), summary)
    load_note()
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
