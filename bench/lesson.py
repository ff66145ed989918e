"""A lesson, measured: a class of N students, each training 3 runs one after the other.

`bench/classroom_load.py --lesson` runs this. One studio server on loopback with a teacher's
passcode (so the class's default settings hold: the training images, the most epochs, the
runs per student and the trainings at once the Teacher page would show) and N websocket
students (`stclient.Session`, the studio's own protocol, as in the classroom benchmark).
Each student opens Train from a setup link, as a lesson hands it out, presses Start, watches
until their run ends, and opens the next: the same base network with another kernel size,
another filter count, another pooling (`SETUPS`). A Chromium classmate opens Data and Runs
every few seconds meanwhile.

Reported: from Start to the student's own first curve point (the first live progress line
"Epoch 1/3 · batch …" of that run reaching the student; median, p95, max), the whole
lesson's wall time (the first Start to the last result), the trainings' share of the CPU
(the worker processes or the Ray node, against the whole machine), the error of every start
a queued page told (bench/waits.py; target ±30 %), and the server's errors. `--executor
local ray` runs the lesson on the server's worker and then on a one-node Ray cluster.

    .venv/bin/python bench/classroom_load.py --lesson                  # 30 students, local
    .venv/bin/python bench/classroom_load.py --lesson --executor local ray
    .venv/bin/python bench/classroom_load.py --lesson --smoke   # 2 students, 500 images, 1 epoch
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import median, percentile, print_table, rss_mb, studio_server, write_result
from stclient import Session
from waits import judge, told

BASE = "seed-cnn"
# the three runs of the lesson: what a student changes, as the setup link says it
SETUPS = (("kernel 5×5", {"kernel_size": "5"}),
          ("32 filters", {"filters": "32,32"}),
          ("average pooling", {"pooling": "avg"}))
PASSCODE = "lesson-benchmark-passcode"
# a run the class's settings refuse (store/settings.SettingsError: what the teacher set, then
# what to choose); the form's own line "Your teacher set at most 3 epochs." is no refusal
REFUSED = re.compile(r"^Your teacher .+; ")
PROGRESS = re.compile(r"Epoch \d+/\d+ · batch \d+")
RUN_PREFIX = re.compile(r"Your (?:latest )?run:? ([0-9a-f]{6})")
# the run's outcome as its page says it (ui/train_view.result): its sentence or its figures
ENDED = re.compile(r"^(Finished \d+ epoch|Stopped |Training failed|Test accuracy)|diverged")


@dataclass
class Run:
    """One of a student's runs, as the student saw it."""
    setup: str
    pressed: float | None = None
    first_point: float | None = None  # the first progress line of this run that arrived
    ended: float | None = None
    run: str | None = None
    told: object = None  # the start the page told when first queued (`waits.Told`)
    told_at: float | None = None
    refused: str | None = None


@dataclass
class LessonStudent:
    index: int
    runs: list = field(default_factory=list)
    session: Session | None = None
    error: str | None = None


def query(setup: dict, epochs: int, images: int | None) -> str:
    from urllib.parse import urlencode

    extra = {"train_images": str(images)} if images else {}
    return urlencode({"preset": BASE, "epochs": str(epochs), **setup, **extra})


async def one_run(session: Session, run: Run, before: str | None, timeout: float) -> None:
    """Presses Start on the page the session shows, then reads what arrives until the run
    has ended. `before`: the student's previous run (its prefix), whose result the page may
    still show until this one is queued. A run that ends between two of the page's live
    updates shows its first curve point with its result."""
    seen = len(session.texts)
    run.pressed = time.time()
    await session.press("Start training", timeout=180)
    deadline = time.time() + timeout
    while time.time() < deadline:
        texts, stamps = session.texts, session.stamps
        for text, at in zip(texts[seen:], stamps[seen:]):
            if run.run is None and (REFUSED.search(text) or text.startswith("The link")):
                run.refused = text[:200]  # a limit, or a link the form could not read
            if (m := RUN_PREFIX.search(text)) and m.group(1) != before:
                run.run = m.group(1)
            if run.run is None:
                continue  # the page still shows the run before
            if run.told is None and (said := told(text)) is not None:
                run.told, run.told_at = said, at
            if run.first_point is None and PROGRESS.search(text):
                run.first_point = at
            if ENDED.search(text):
                run.ended = at
                run.first_point = run.first_point or at
        seen = len(texts)
        if run.ended or run.refused:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{run.setup}: no result within {timeout:.0f} s")


async def lesson_student(s: LessonStudent, url: str, args) -> None:
    s.session = session = Session(url)
    try:
        for k, (name, setup) in enumerate(SETUPS):
            run = Run(name)
            s.runs.append(run)
            link = query(setup, args.epochs, args.lesson_images)
            if k == 0:
                await session.open("train", timeout=180, query=link)
            else:
                await session.navigate("train", query=link, timeout=180)
            await one_run(session, run, s.runs[-2].run if k else None, args.run_timeout)
    except Exception as err:  # noqa: BLE001 - a stuck student is a finding, not a crash
        s.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
    finally:
        await session.close()


async def lesson(url: str, args, students: list[LessonStudent], probe_latencies: list,
                 probe_failures: list) -> None:
    from class_watch import probe
    from playwright.async_api import async_playwright

    from common import CHROMIUM, CHROMIUM_ARGS

    done = asyncio.Event()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        prober = asyncio.create_task(probe(browser, [url], args.probe_every, done,
                                           probe_latencies, probe_failures))
        await asyncio.gather(*(lesson_student(s, url, args) for s in students))
        done.set()
        await asyncio.wait([prober], timeout=30)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(browser.close(), 20)


def run_lesson(args, executor: str) -> tuple[int, dict]:
    """One lesson against a fresh server (and, for "ray", a fresh one-node cluster)."""
    from class_watch import RunTable, Samples, sample_in_background, watchdog

    cluster, env = None, {}
    if executor == "ray":
        from raycluster import RayHead

        cluster = RayHead(num_cpus=args.ray_cpus).start()
        env = {**cluster.client_env(), "STUDIO_RAY_ADDRESS": cluster.address,
               "STUDIO_RAY_CPUS_PER_RUN": str(args.ray_cpus)}
    students = [LessonStudent(i) for i in range(args.sessions)]
    latencies: list = []
    failures: list = []
    samples, stop = Samples(), threading.Event()
    try:
        with tempfile.TemporaryDirectory(prefix="lesson-") as tmp, \
                studio_server(Path(tmp), STUDIO_TEACHER_PASSCODE=PASSCODE, **env) as (url, proc):
            home = Path(tmp)
            timer = watchdog(args.deadline, [proc], cluster)
            table = RunTable(home / "runs.sqlite")
            t0 = time.time()
            rss_start = rss_mb(proc.pid)
            sample_in_background(stop, table, [proc.pid], args.sessions * len(SETUPS), t0,
                                 samples, cluster)
            asyncio.run(lesson(url, args, students, latencies, failures))
            stop.set()
            timer.cancel()
            runs = table.rows()
            log = (home / "server.log").read_text(errors="replace")
    finally:
        if cluster is not None:
            cluster.stop()
    return report(args, executor, students, runs, samples, latencies, failures, log,
                  rss_start)


def not_as_asked(spec: dict, setup: dict, args) -> dict:
    """Where a stored run's spec differs from the link's values, {field: [stored, asked]}
    (a link the form could not read would have trained the defaults)."""
    from fmnist_core.nets import links

    wanted = links.from_query({"preset": BASE, **setup})[0]
    fields = [*setup, "epochs"] + (["train_images"] if args.lesson_images else [])
    want = {**wanted.to_dict(), "epochs": args.epochs, "train_images": args.lesson_images}
    return {k: [spec.get(k), want[k]] for k in fields if not _same(spec.get(k), want[k])}


def _same(a, b) -> bool:
    return list(a) == list(b) if isinstance(a, (list, tuple)) else a == b


def report(args, executor, students, runs, samples, latencies, failures, log,
           rss_start) -> tuple[int, dict]:
    mine = [r for s in students for r in s.runs]
    to_point = [r.first_point - r.pressed for r in mine if r.first_point and r.pressed]
    presses = [r.pressed for r in mine if r.pressed]
    ends = [r.ended for r in mine if r.ended]
    by_prefix = {r["id"][:6]: r for r in runs}
    predictions = [{"told": r.told, "actual_s": by_prefix[r.run]["started"] - r.told_at,
                    "run": r.run}
                   for r in mine if r.told is not None and r.run in by_prefix
                   and by_prefix[r.run].get("started")]
    starts = judge(predictions)
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    first, last = samples.cpu_first, samples.cpu_last
    trained = "cluster" if executor == "ray" else "training"
    cpu = {k: round(last[k] - first[k], 1) for k in ("server", trained, "machine")} \
        if first else {}
    asked = {name: setup for name, setup in SETUPS}
    wrong = [{"run": r.run, "setup": r.setup, "differs": differs} for r in mine
             if r.run in by_prefix and (differs := not_as_asked(
                 json.loads(by_prefix[r.run]["spec"]), asked[r.setup], args))]
    page_errors = sum(s.session.exceptions for s in students if s.session)
    log_errors = sum("Traceback" in line for line in log.splitlines())
    expected = args.sessions * len(SETUPS)
    figures = {
        "executor": executor, "sessions": args.sessions, "runs_each": len(SETUPS),
        "epochs": args.epochs, "setups": [name for name, _ in SETUPS], "base": BASE,
        "start_to_first_point_s": {
            "median": round(median(to_point), 1) if to_point else None,
            "p95": round(percentile(to_point, 95), 1) if to_point else None,
            "max": round(max(to_point), 1) if to_point else None, "runs": len(to_point)},
        "lesson_wall_s": round(max(ends) - min(presses), 1) if ends and presses else None,
        "runs_by_status": statuses, "runs_stored": len(runs),
        "refused": [r.refused for r in mine if r.refused][:3],
        "not_as_asked": wrong[:5], "not_as_asked_count": len(wrong),
        "training_cpu_share": round(cpu[trained] / cpu["machine"], 3)
        if cpu.get("machine") else None,
        "cpu_seconds": cpu, "max_running": samples.max_running,
        "predicted_start": starts,
        "server_errors": page_errors + log_errors,
        "student_errors": {s.index: s.error for s in students if s.error},
        "probe_median_s": round(median([t for _, t in latencies]), 2) if latencies else None,
        "probe_p95_s": round(percentile([t for _, t in latencies], 95), 2)
        if latencies else None,
        "probe_failures": failures,
        "rss_after_start_mb": round(rss_start, 1),
        "rss_peak_mb": max([mb for _, mb in samples.rss] or [rss_start]),
        "run_seconds_median": round(median([r["total_seconds"] for r in runs
                                            if r["total_seconds"]]), 1) if runs else None,
    }
    point = figures["start_to_first_point_s"]
    lesson_min = figures["lesson_wall_s"] / 60 if figures["lesson_wall_s"] else None
    print_table(f"A lesson: {args.sessions} students × {len(SETUPS)} runs of {BASE} "
                f"({', '.join(figures['setups'])}), trainings on "
                f"{'a Ray node' if executor == 'ray' else 'the server'}", [
        {"measure": "Start → own first curve point, median / p95 / max s",
         "value": f"{point['median']} / {point['p95']} / {point['max']} ({point['runs']} runs)"},
        {"measure": "the lesson, first Start → last result",
         "value": f"{figures['lesson_wall_s']} s ({lesson_min:.1f} min)" if lesson_min
         else "–"},
        {"measure": "runs by status", "value": str(statuses)},
        {"measure": "one run, trainer start → stored, median s",
         "value": figures["run_seconds_median"]},
        {"measure": "trainings' share of the machine's CPU",
         "value": f"{figures['training_cpu_share']:.0%}" if figures["training_cpu_share"]
         is not None else "–"},
        {"measure": "starts told to queued pages: error median / p90 |error| (told)",
         "value": f"{starts['error_median']:+.0%} / {starts['abs_error_p90']:.0%} "
                  f"({starts['told']} of {starts['queued_runs']})" if starts.get("told")
         else "none told"},
        {"measure": "a classmate's page (Data, Runs) median / p95 s",
         "value": f"{figures['probe_median_s']} / {figures['probe_p95_s']} "
                  f"({len(failures)} failed)"},
        {"measure": "server errors (pages + log), student errors",
         "value": f"{figures['server_errors']}, {len(figures['student_errors'])}"},
    ])
    checks = {
        "no server errors": figures["server_errors"] == 0,
        "no student stuck": not figures["student_errors"],
        f"{expected} runs stored, all completed": len(runs) == expected
        and statuses.get("completed", 0) == expected,
        "a classmate's page rendered every time": bool(latencies) and not failures,
        "every run trained the setup its link asked for": not wrong and not figures["refused"],
    }
    print_table("Acceptance", [{"check": k, "ok": "yes" if v else "NO"}
                               for k, v in checks.items()])
    write_result(f"{args.out}_lesson" + ("" if executor == "local" else f"_{executor}"),
                 {**figures, "checks": checks,
                  "store": sorted(({"run": r["id"][:6], "status": r["status"],
                                    "queued_s": round(r["created"] - min(presses), 1),
                                    "started_s": round(r["started"] - min(presses), 1)
                                    if r.get("started") else None,
                                    "finished_s": round(r["finished"] - min(presses), 1)
                                    if r.get("finished") else None} for r in runs),
                                   key=lambda row: row["queued_s"]) if presses else [],
                  "runs": [{"student": s.index, "setup": r.setup, "run": r.run,
                            "to_first_point_s": round(r.first_point - r.pressed, 1)
                            if r.first_point and r.pressed else None,
                            "told": r.told.words if r.told else None}
                           for s in students for r in s.runs]})
    return (0 if all(checks.values()) else 1), figures
