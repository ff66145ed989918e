"""Classroom load: N sessions press Start training at once on one studio server.

One server on loopback (small data slice, a cap on concurrent trainings, its own STUDIO_HOME)
and N students: each opens /train, sets 1 epoch and presses Start, then keeps the page open
(its fragments rerun as a browser's do). By default a student is a websocket session without
a browser (`stclient.Session`): in a classroom every student's browser renders on their own
laptop, and thirty Chromium renderers on the server's two cores would measure themselves;
`--client chromium` gives every student a real Chromium context instead. Meanwhile
background threads sample the run store (runs with status 'running' at once) and the
server's memory, and one real Chromium page, the probe, keeps opening the Data and Runs
pages to time how fast a classmate's page renders while the queue drains.

Trainings run in the server's worker process (`--executor local`, the default) or on a
Ray cluster (`--executor ray`): a one-node cluster on this machine that the benchmark starts
and ends itself (tests/raycluster.py: loopback, token authentication), its CPUs split
between the cap's runs. `--executor local ray` runs both, one after the other, and prints
them side by side, with the RSS of the server and of the cluster.

A school: `--servers 2 --database postgresql` splits the students over two servers that share
one STUDIO_HOME and one PostgreSQL (tests/pgserver.py: a throwaway server on loopback), the
class's cap and line held by the database; it runs one server on SQLite first and prints the
two side by side (`--no-baseline`: the school only). The probe alternates between servers.

Every queued student's page tells when their run starts ("starts in about 2 min (place
4)"): the start told when the run was first queued, and when that page arrived, against the
store's `started` (when a server claimed the run), is the error of the predicted wait
(`waits.py`), its median and p90 printed and in the JSON (`predicted_start`); the target is
within ±30 %, reported and not an acceptance check (it follows the estimator).

Acceptance (exit code 1 when one fails): no exception or traceback in any page or in the
server log, never more runs 'running' than the cap, every session's job completed or showed
its queue position, and every run stored as completed. Exit code 2: the deadline was reached.

    .venv/bin/python bench/classroom_load.py                  # 30 sessions, cap 1
    .venv/bin/python bench/classroom_load.py --sessions 4 --deadline 300
    .venv/bin/python bench/classroom_load.py --client chromium --light
    .venv/bin/python bench/classroom_load.py --sessions 6 --executor local ray
    .venv/bin/python bench/classroom_load.py --servers 2 --database postgresql
    .venv/bin/python bench/classroom_load.py --lesson --executor local ray   # bench/lesson.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import (CHROMIUM, CHROMIUM_ARGS, RESULTS, median, percentile, print_table,
                    process_tree, rss_mb, studio_server, write_result)
from stclient import Session
from waits import LineWatch, figure, judge, told

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

FINAL = ("completed", "stopped", "failed", "diverged", "interrupted", "cancelled")
RUN_PREFIX = re.compile(r"Your (?:latest )?run:? ([0-9a-f]{6})")
AHEAD = re.compile(r"Queued: (\d+) training|(\d+) waiting ahead of yours")  # the Train page
POSITION = re.compile(r"is queued \(position (\d+)\)")  # the sidebar
# one cheap round trip per poll: what a student's page shows now
PAGE_STATE = """() => {
  const t = document.body ? document.body.textContent : '';  // no layout, unlike innerText
  return {text: t.slice(0, 20000),
          exceptions: document.querySelectorAll('[data-testid="stException"]').length};
}"""
RENDERED = """([heading, needs]) => {
  if (!document.querySelector('[data-testid="stApp"]')) return false;
  const titled = [...document.querySelectorAll('h1')].some(h => h.innerText.includes(heading));
  const busy = document.querySelector('[data-testid="stStatusWidget"] [role="progressbar"]')
    || document.querySelectorAll('[data-testid="stSkeleton"]').length > 0;
  return titled && !busy && !!document.querySelector(needs);
}"""
PROBES = (("/", "Data", ".js-plotly-plot"), ("/runs", "Runs", '[data-testid="stDataFrame"]'))
TEST_LIMIT = 500  # the servers' STUDIO_TEST_LIMIT


@dataclass
class Student:
    index: int
    page: object = None
    run: str | None = None  # first 6 characters of the run id, read from the sidebar
    clicked_at: float | None = None
    clicks: int = 0
    saw_queued: bool = False
    most_ahead: int | None = None  # the largest "N training(s) ahead" the page showed
    page_done: bool = False
    exceptions: int = 0
    traceback: bool = False
    error: str | None = None
    session: Session | None = None  # the websocket client (--client protocol)
    read_up_to: int = 0  # texts of `session` already read
    told: object = None  # the start its page told when first queued (`waits.Told`)
    told_at: float | None = None  # when that page arrived (time.time())


@dataclass
class Samples:
    """What the background threads saw."""
    max_running: int = 0
    statuses: dict = field(default_factory=dict)
    all_ended_at: float | None = None
    rss: list = field(default_factory=list)  # (seconds since start, MB)
    timeline: list = field(default_factory=list)  # (seconds, running, queued, ended)
    client_pss_peak: float = 0.0  # this script, Playwright's driver and Chromium, MB
    cpu_first: dict = field(default_factory=dict)  # CPU seconds: server, client, machine
    cpu_last: dict = field(default_factory=dict)
    cluster_rss: list = field(default_factory=list)  # (seconds, MB) of the Ray node
    # CPU seconds of every Ray node process seen: a run's actor ends with its run
    cluster_cpu: dict = field(default_factory=dict)


def is_worker(pid: int) -> bool:
    """A training worker process (`python -m fmnist_core.training.worker`)."""
    with contextlib.suppress(OSError):
        return b"fmnist_core.training.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    return False


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def own_pss_mb(pid: int) -> float:
    """Proportional set size of one process: shared pages split between their users, so
    Chromium's many processes add up to what they really hold."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_cpu_seconds() -> float:
    """CPU seconds every core of the machine has been busy since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


RUN_COLUMNS = ("id, status, spec, model_path, total_seconds, created, started, finished, "
               "server")


class RunTable:
    """The runs table the servers share, read straight from the SQLite file or PostgreSQL."""

    def __init__(self, db_path: Path, url: str | None = None):
        self.db_path, self.url = db_path, url

    def counts(self) -> dict[str, int] | None:
        query = "SELECT status, COUNT(*) FROM runs GROUP BY status"
        if self.url:
            import psycopg

            try:
                with psycopg.connect(self.url, connect_timeout=2) as db:
                    return dict(db.execute(query).fetchall())
            except psycopg.Error:
                return None
        if not self.db_path.exists():
            return None
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=1)) as db:
                return dict(db.execute(query))
        except sqlite3.Error:
            return None

    def rows(self) -> list[dict]:
        query = f"SELECT {RUN_COLUMNS} FROM runs"
        if self.url:
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(self.url, row_factory=dict_row) as db:
                return db.execute(query).fetchall()
        if not self.db_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=5)) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(query)]


def sample_in_background(stop: threading.Event, table: RunTable, pids: list[int],
                         sessions: int, t0: float, out: Samples,
                         cluster=None) -> list[threading.Thread]:
    def runs() -> None:
        while not stop.wait(0.2):
            counts = table.counts()
            if counts is None:
                continue
            out.statuses = counts
            running = counts.get("running", 0)
            ended = sum(counts.get(s, 0) for s in FINAL)
            out.max_running = max(out.max_running, running)
            out.timeline.append((round(time.time() - t0, 1), running,
                                 counts.get("queued", 0), ended))
            if ended >= sessions and out.all_ended_at is None:
                out.all_ended_at = time.time()

    def memory() -> None:
        while not stop.wait(1.0):
            out.rss.append((round(time.time() - t0, 1), round(sum(map(rss_mb, pids)), 1)))
            server = {p for pid in pids for p in process_tree(pid)}
            node = set(cluster.pids()) if cluster else set()
            client = [p for p in process_tree(os.getpid()) if p not in server | node]
            out.client_pss_peak = max(out.client_pss_peak, sum(map(own_pss_mb, client)))
            workers = [p for p in server if is_worker(p)]
            for p in node:
                out.cluster_cpu[p] = max(out.cluster_cpu.get(p, 0.0), cpu_seconds([p]))
            out.cpu_last = {"server": cpu_seconds(list(server)), "client": cpu_seconds(client),
                            "training": cpu_seconds(workers),
                            "cluster": sum(out.cluster_cpu.values()),
                            "machine": machine_cpu_seconds(), "at": time.time()}
            if cluster:
                out.cluster_rss.append((round(time.time() - t0, 1), round(cluster.rss_mb(), 1)))
            out.cpu_first = out.cpu_first or out.cpu_last

    threads = [threading.Thread(target=f, daemon=True) for f in (runs, memory)]
    for t in threads:
        t.start()
    return threads


async def settle(page, text: str | None = None, timeout: float = 120_000) -> None:
    await page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    if text:
        await page.get_by_text(text).first.wait_for(timeout=timeout)
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] [role=\"progressbar\"]')"
        " && document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0",
        timeout=timeout)


def read_texts(s: Student) -> None:
    texts, stamps = s.session.texts, s.session.stamps
    start, s.read_up_to = s.read_up_to, len(texts)
    for text, at in zip(texts[start:s.read_up_to], stamps[start:s.read_up_to]):
        note_start(s, text, at)  # when each text came, not when it was read
    read_state(s, {"text": "\n".join(texts[start:s.read_up_to]),
                   "exceptions": s.session.exceptions})


def note_start(s: Student, text: str, at: float) -> None:
    """The start a queued page tells, the first time one does."""
    if s.told is None and (said := told(text)) is not None:
        s.told, s.told_at = said, at


async def protocol_student(s: Student, url: str, args, everyone_ended: asyncio.Event) -> None:
    s.session = session = Session(url)
    try:
        await session.open("train", timeout=180)
        await session.set_number("Epochs", args.epochs, timeout=180)
        for _ in range(4):  # as in the browser, a student retries a press that was lost
            if session.has_button("Start training"):
                await session.press("Start training", timeout=180)
                s.clicks += 1
                s.clicked_at = s.clicked_at or time.time()
            read_texts(s)
            if s.run:
                break
            await asyncio.sleep(2)
        while not everyone_ended.is_set():
            read_texts(s)
            await asyncio.sleep(1.0)
        read_texts(s)
    except Exception as err:  # noqa: BLE001 - a stuck session is a finding, not a crash
        s.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
    finally:
        await session.close()


def read_state(s: Student, state: dict) -> None:
    text = state["text"]
    s.exceptions = max(s.exceptions, state["exceptions"])
    s.traceback = s.traceback or "Traceback" in text
    if m := RUN_PREFIX.search(text):
        s.run = m.group(1)
    if m := AHEAD.search(text):
        s.saw_queued = True
        s.most_ahead = max(s.most_ahead or 0, int(m.group(1) or m.group(2)))
    if m := POSITION.search(text):
        s.saw_queued = True
        s.most_ahead = max(s.most_ahead or 0, int(m.group(1)) - 1)
    s.page_done = s.page_done or "Test accuracy" in text or "Training failed" in text


async def student(s: Student, browser, url: str, args, everyone_ended: asyncio.Event,
                  shots: Path) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    if args.light:
        await context.route(re.compile(r".*\.(png|jpe?g|gif|svg|woff2?|ttf)(\?.*)?$"),
                            lambda route: route.abort())
    s.page = page = await context.new_page()
    page.set_default_timeout(120_000)
    try:
        await page.goto(url + "/train", timeout=180_000)
        await settle(page, "Start training", timeout=180_000)
        box = page.get_by_label("Epochs", exact=True).first
        await box.fill(str(args.epochs))
        await box.press("Enter")
        await page.wait_for_timeout(800)
        await settle(page)
        start = page.get_by_role("button", name="Start training")
        for _ in range(4):  # a click landing during a rerun can be lost: a student retries
            if await start.is_enabled():
                await start.click()
                s.clicks += 1
                s.clicked_at = s.clicked_at or time.time()
            with contextlib.suppress(Exception):
                await page.get_by_text(RUN_PREFIX).first.wait_for(timeout=60_000)
                break
        shot_taken = False
        while not everyone_ended.is_set():
            state = await page.evaluate(PAGE_STATE)
            note_start(s, state["text"], time.time())
            read_state(s, state)
            if s.saw_queued and not shot_taken and s.index == args.sessions - 1:
                shot_taken = True
                await page.screenshot(path=str(shots / "student-queued.png"))
            await asyncio.sleep(2.0 if not s.page_done else 4.0)
    except Exception as err:  # noqa: BLE001 - a stuck session is a finding, not a crash
        s.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"


async def probe(browser, urls: list[str], every: float, done: asyncio.Event,
                latencies: list, failures: list) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    turn = 0
    while not done.is_set():
        path, heading, needs = PROBES[turn % len(PROBES)]
        url = urls[turn // len(PROBES) % len(urls)]  # each page, then the next server
        turn += 1
        started = time.perf_counter()
        try:
            await page.goto(url + path, timeout=60_000)
            await page.wait_for_function(RENDERED, arg=[heading, needs], timeout=60_000)
            latencies.append((path, time.perf_counter() - started))
        except Exception as err:  # noqa: BLE001
            failures.append(f"{path}: {type(err).__name__}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), every)
    await context.close()


async def classroom(urls: list[str], args, samples: Samples, t_stop: float,
                    shots: Path) -> dict:
    """The students (split over the servers in turn) and the probe, until every job ended."""
    from playwright.async_api import async_playwright

    students = [Student(i) for i in range(args.sessions)]
    latencies: list = []
    probe_failures: list = []
    everyone_ended = asyncio.Event()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if args.client == "chromium":
            tasks = [asyncio.create_task(student(s, browser, urls[s.index % len(urls)], args,
                                                 everyone_ended, shots))
                     for s in students]
        else:
            tasks = [asyncio.create_task(protocol_student(s, urls[s.index % len(urls)], args,
                                                          everyone_ended))
                     for s in students]
        while not any(s.clicked_at for s in students) and time.time() < t_stop \
                and not all(t.done() for t in tasks):
            await asyncio.sleep(0.2)
        prober = asyncio.create_task(probe(browser, urls, args.probe_every, everyone_ended,
                                           latencies, probe_failures))
        while samples.all_ended_at is None and time.time() < t_stop:
            await asyncio.sleep(0.5)
            settled = all(s.clicked_at or s.error for s in students)
            ended = sum(samples.statuses.get(status, 0) for status in FINAL)
            if settled and ended >= sum(bool(s.clicked_at) for s in students):
                samples.all_ended_at = time.time()
        await asyncio.sleep(3)  # the pages' last fragment run shows the result
        everyone_ended.set()
        await asyncio.wait([*tasks, prober], timeout=15)
        # a last look at every page and a picture of the first, bounded: under load a page
        # can take long to answer, and the deadline still holds
        looks = [asyncio.create_task(last_look(s)) for s in students if s.page]
        if looks:
            await asyncio.wait(looks, timeout=30)
        with contextlib.suppress(Exception):
            await students[0].page.screenshot(path=str(shots / "student-first.png"),
                                              timeout=10_000)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(browser.close(), 20)
    return {"students": students, "latencies": latencies, "probe_failures": probe_failures}


async def last_look(s: Student) -> None:
    with contextlib.suppress(Exception):
        read_state(s, await s.page.evaluate(PAGE_STATE))


def watchdog(seconds: float, procs: list, cluster=None, database=None) -> threading.Timer:
    """The hard stop: if anything hangs past the deadline, kill the servers (and stop the Ray
    node and the PostgreSQL server) and exit."""
    def fire() -> None:
        print(f"\nclassroom_load: hard deadline of {seconds:.0f} s reached, exiting", flush=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.kill()
        if cluster is not None:
            cluster.stop()
        if database is not None:
            with contextlib.suppress(Exception):
                database.remove()
        os._exit(2)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--cap", type=int, default=1, help="STUDIO_MAX_CONCURRENT_TRAININGS")
    parser.add_argument("--deadline", type=float, default=900, help="seconds, all included")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of each run (default 1; with --lesson 3, the class's most)")
    parser.add_argument("--lesson", action="store_true",
                        help="a lesson: each student trains 3 runs one after the other under "
                             "the class's default settings (bench/lesson.py)")
    parser.add_argument("--lesson-images", type=int, default=None,
                        help="with --lesson: training images each run asks for (default: the "
                             "class's setting)")
    parser.add_argument("--run-timeout", type=float, default=3600,
                        help="with --lesson: seconds a student waits for one run's result")
    parser.add_argument("--train-limit", type=int, default=1000)
    parser.add_argument("--probe-every", type=float, default=5.0, help="seconds between probes")
    parser.add_argument("--client", choices=("protocol", "chromium"), default="protocol",
                        help="students as websocket sessions (default) or Chromium contexts")
    parser.add_argument("--smoke", action="store_true",
                        help="6 sessions on 500 images, deadline 300 s (what make test runs)")
    parser.add_argument("--out", default="classroom_load",
                        help="name of the result in bench/results/ (default classroom_load)")
    parser.add_argument("--light", action="store_true",
                        help="students' contexts skip images and fonts (lighter Chromium)")
    parser.add_argument("--executor", nargs="+", choices=("local", "ray"), default=["local"],
                        help="where trainings run: the server's worker process (local), a "
                             "one-node Ray cluster the benchmark starts (ray), or both, one "
                             "after the other and side by side (local ray)")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count(),
                        help="CPUs of the benchmark's Ray node, shared by the cap's runs")
    parser.add_argument("--servers", type=int, default=1,
                        help="studio servers sharing one STUDIO_HOME and one run store, the "
                             "students split between them")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the run store: SQLite in STUDIO_HOME (one server only) or a "
                             "PostgreSQL server the benchmark starts")
    parser.add_argument("--no-baseline", action="store_true",
                        help="with --servers/--database: skip the one-server SQLite run that "
                             "is otherwise measured first, side by side")
    args = parser.parse_args()
    if args.servers > 1 and args.database == "sqlite":
        parser.error("several servers share a run store on PostgreSQL: add --database "
                     "postgresql (SQLite over a shared folder is not safe)")
    if args.lesson:
        from lesson import run_lesson

        if args.smoke:
            args.sessions, args.lesson_images = 2, args.lesson_images or 500
            args.epochs = args.epochs or 1
        args.epochs = args.epochs or 3
        results = [run_lesson(args, executor) for executor in args.executor]
        return max(code for code, _ in results)
    args.epochs = args.epochs or 1
    if args.smoke:
        args.sessions, args.train_limit, args.deadline = 6, 500, min(args.deadline, 300)
        args.out = args.out if args.out != "classroom_load" else "classroom_load_smoke"
    school = (args.servers, args.database)
    setups = [school] if school == (1, "sqlite") or args.no_baseline else [(1, "sqlite"), school]
    results = []
    for executor in args.executor:
        for servers, database in setups:
            out = args.out if executor == "local" else f"{args.out}_{executor}"
            if (servers, database) != (1, "sqlite"):
                out += f"_{servers}servers_{database}"
            results.append(classroom_run(args, executor, out, servers, database))
    if len(results) > 1:
        side_by_side(args, results)
    return max(code for code, _ in results)


def classroom_run(args, executor: str, out: str, servers: int = 1,
                  database: str = "sqlite") -> tuple[int, dict]:
    """One classroom against fresh servers (and, for "ray", a fresh one-node cluster; for
    "postgresql", a fresh database server)."""
    cluster, env = None, {}
    if executor == "ray":
        from raycluster import RayHead

        cluster = RayHead(num_cpus=args.ray_cpus).start()
        env = {**cluster.client_env(), "STUDIO_RAY_ADDRESS": cluster.address,
               "STUDIO_RAY_CPUS_PER_RUN": f"{args.ray_cpus / args.cap:g}"}
        print(f"Ray node: started in {cluster.started_seconds:.1f} s, "
              f"{cluster.rss_mb():.0f} MB RSS idle", flush=True)
    pg = None
    if database == "postgresql":
        from pgserver import PostgresServer

        pg = PostgresServer.find()
        if pg is None:
            raise SystemExit("Debian's postgresql is not installed (make postgres)")
        pg.start()
        env["STUDIO_DATABASE_URL"] = pg.create_database("school")
    try:
        return run_classroom(args, executor, out, cluster, env, servers, pg)
    finally:
        if cluster is not None:
            cluster.stop()
        if pg is not None:
            pg.remove()


def run_classroom(args, executor: str, out: str, cluster, env: dict, servers: int = 1,
                  pg=None) -> tuple[int, dict]:
    database = "postgresql" if pg is not None else "sqlite"
    node = {"executor": executor, "servers": servers, "database": database,
            "setup": f"{executor}, {servers} server{'s' if servers > 1 else ''} on "
                     f"{'PostgreSQL' if pg is not None else 'SQLite'}"}
    if cluster is not None:
        node.update(node_start_s=round(cluster.started_seconds, 1),
                    node_rss_idle_mb=round(cluster.rss_mb(), 1), node_cpus=args.ray_cpus)
    t0 = time.time()
    # leave time to take a last look, report and shut the server down before the deadline
    t_stop = t0 + args.deadline - min(120, max(45, 0.15 * args.deadline))
    shots = RESULTS / "classroom_load"
    shots.mkdir(parents=True, exist_ok=True)
    samples, stop = Samples(), threading.Event()
    with tempfile.TemporaryDirectory(prefix="classroom-") as tmp, \
            contextlib.ExitStack() as running:
        home = Path(tmp)  # one STUDIO_HOME: the models folder every server mounts
        logs = [f"server-{i + 1}.log" if servers > 1 else "server.log" for i in range(servers)]
        started = [running.enter_context(studio_server(
            home, log_name=log, STUDIO_TRAIN_LIMIT=str(args.train_limit),
            STUDIO_TEST_LIMIT=str(TEST_LIMIT), STUDIO_MAX_CONCURRENT_TRAININGS=str(args.cap),
            **env))
            for log in logs]
        urls, procs = [url for url, _ in started], [proc for _, proc in started]
        timer = watchdog(args.deadline, procs, cluster, pg)
        rss_start = sum(rss_mb(proc.pid) for proc in procs)
        ready = time.time()
        table = RunTable(home / "runs.sqlite", env.get("STUDIO_DATABASE_URL"))
        sample_in_background(stop, table, [proc.pid for proc in procs], args.sessions, t0,
                             samples, cluster)
        line = LineWatch(home, env.get("STUDIO_DATABASE_URL"), args.cap, args.train_limit,
                         TEST_LIMIT)
        line.watch(stop)
        seen = asyncio.run(classroom(urls, args, samples, t_stop, shots))
        stop.set()
        line.close()
        seen["line_first"] = line.first
        timer.cancel()
        runs = table.rows()
        node["sessions_per_server"] = [len(range(i, args.sessions, servers))
                                       for i in range(servers)]
        node["runs_per_server"] = sorted(
            sum(1 for r in runs if r["server"] == s) for s in {r["server"] for r in runs})
        log = ""
        for name in logs:
            text = (home / name).read_text(errors="replace")
            (shots / f"{executor}-{database}-{name}").write_text(text)
            log += text
        return report(args, seen, samples, runs, log, rss_start, t0, ready, out, node)


def predicted_starts(students: list[Student], by_run: dict[str, dict],
                     line_first: dict[str, tuple]) -> dict:
    """For every queued run: the start its page told when first queued, against the
    store's `started` (when a server claimed it), judged by `waits.judge`; and the same for
    the line's own figure when the run was first seen queued (`line_figure`)."""
    predictions = []
    for s in students:
        run = by_run.get(s.run or "")
        if s.told is None or run is None or not run.get("started"):
            continue
        predictions.append({"told": s.told, "actual_s": run["started"] - s.told_at,
                            "run": run["id"]})
    figures = [{"told": figure(place, starts_in), "actual_s": run["started"] - at,
                "run": run["id"]}
               for run in by_run.values() if run["id"] in line_first and run.get("started")
               for at, place, starts_in in [line_first[run["id"]]]]
    runs = [{"run": p["run"], "place": p["told"].place, "words": p["told"].words,
             "told_s": p["told"].low if p["told"].low == p["told"].high else
             [p["told"].low, p["told"].high],
             "actual_s": round(p["actual_s"], 1)} for p in predictions]
    line = {f["run"]: (f["told"].low, round(f["actual_s"], 1)) for f in figures}
    for r in runs:
        r["line_s"], r["line_actual_s"] = line.get(r["run"], (None, None))
        r["line_s"] = round(r["line_s"], 1) if r["line_s"] is not None else None
    return {**judge(predictions), "line_figure": judge(figures),
            "runs": sorted(runs, key=lambda r: r["actual_s"])}


def said_starts(starts: dict, words: bool = True) -> str:
    """The predicted starts' line of the table (`words`: as the pages said them, else the
    line's own figures)."""
    if not starts["queued_runs"]:
        return "no run was queued"
    if not starts["told"]:
        return f"{starts['queued_runs']} queued, no time told"
    said = (f"{starts['said_as_about']} as 'about', {starts['said_under_a_minute']} 'under a "
            "minute'; " if words else "")
    median = starts["error_median"]
    return (f"{median:+.0%} / {starts['abs_error_median']:.0%} / "
            f"{starts['abs_error_p90']:.0%} ({starts['told']} told: {said}"
            f"{starts['not_told']} not told; {starts['within_target']} within "
            f"±{starts['target']:.0%})")


def side_by_side(args, results: list[tuple[int, dict]]) -> None:
    """The setups' main figures (executors, servers, databases) in one table, and in
    `<out>_side_by_side.json`."""
    rows = [
        ("jobs completed / sessions", lambda f: f"{f['sessions_completed']} / {f['sessions']}"),
        ("sessions per server / runs trained per server",
         lambda f: f"{f['sessions_per_server']} / {f['runs_per_server']}"),
        ("first click → all jobs ended s", lambda f: f["first_click_to_all_ended_s"]),
        ("one job, claimed → stored, median / max s",
         lambda f: f"{f['job_claimed_to_stored_s_median']} / {f['job_claimed_to_stored_s_max']}"),
        ("one job, trainer start → stored, median s", lambda f: f["job_total_s_median"]),
        ("probe page latency median / p95 / max s",
         lambda f: f"{f['probe_median_s']} / {f['probe_p95_s']} / {f['probe_max_s']}"),
        ("students' fragment reruns median / p95 s",
         lambda f: f"{f['fragment_rerun_median_s']} / {f['fragment_rerun_p95_s']}"),
        ("students' page runs median / p95 s",
         lambda f: f"{f['page_run_median_s']} / {f['page_run_p95_s']}"),
        ("servers' RSS peak MB, all together (with their workers, if local)",
         lambda f: f["rss_peak_mb"]),
        ("Ray node RSS idle / peak MB",
         lambda f: f"{f.get('node_rss_idle_mb')} / {f.get('cluster_rss_peak_mb')}"
         if f["executor"] == "ray" else "–"),
        ("Ray node start-up s", lambda f: f.get("node_start_s", "–")),
        ("CPU s: server / training or cluster",
         lambda f: f"{f['cpu_seconds'].get('server')} / "
                   f"{f['cpu_seconds'].get('cluster' if f['executor'] == 'ray' else 'training')}"),
        ("server errors, max running (cap)",
         lambda f: f"{f['server_errors']}, {f['max_running']} ({f['cap']})"),
    ]
    figures = [f for _, f in results]
    print_table(f"Side by side: {args.sessions} sessions, cap {args.cap}",
                [{"measure": name, **{f["setup"]: cell(f) for f in figures}}
                 for name, cell in rows])
    write_result(f"{args.out}_side_by_side", {"setups": figures})


def report(args, seen, samples, runs, log, rss_start, t0, ready, out="classroom_load",
           node=None) -> tuple[int, dict]:
    students, latencies = seen["students"], seen["latencies"]
    by_run = {r["id"][:6]: r for r in runs}
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    epochs = sorted({json.loads(r["spec"])["epochs"] for r in runs})
    clicks = [s.clicked_at for s in students if s.clicked_at]
    ended = samples.all_ended_at
    page_exceptions = sum(s.exceptions for s in students)
    page_tracebacks = sum(s.traceback for s in students)
    log_lines = log.splitlines()
    log_tracebacks = sum("Traceback" in line for line in log_lines)
    first_traceback = next((log_lines[i:i + 40] for i, line in enumerate(log_lines)
                            if "Traceback" in line), [])
    unserved = [s.index for s in students
                if not (s.saw_queued or by_run.get(s.run or "", {}).get("status") == "completed")]
    seconds = [t for _, t in latencies]
    totals = [r["total_seconds"] for r in runs if r["total_seconds"]]
    claimed = [r["finished"] - r["started"] for r in runs if r["finished"] and r["started"]]
    first, last = samples.cpu_first, samples.cpu_last
    cpu = {k: round(last[k] - first[k], 1)
           for k in ("server", "training", "cluster", "client", "machine")} if first else {}
    window = (last["at"] - first["at"]) if first else 0
    rss = [mb for _, mb in samples.rss] or [rss_start]
    # the server's side of a page: request → script finished, for every student's rerun
    fragment_runs = [t for s in students if s.session for t, frag in s.session.runs if frag]
    full_runs = [t for s in students if s.session for t, frag in s.session.runs if not frag]
    node = node or {"executor": "local", "setup": "local"}
    cluster_rss = [mb for _, mb in samples.cluster_rss]
    starts = predicted_starts(students, by_run, seen.get("line_first", {}))
    figures = {
        **node,
        "cluster_rss_peak_mb": max(cluster_rss) if cluster_rss else None,
        "sessions": args.sessions, "client": args.client, "cap": args.cap, "epochs": args.epochs,
        "train_limit": args.train_limit, "light": args.light,
        "server_errors": page_exceptions + page_tracebacks + log_tracebacks,
        "page_exceptions": page_exceptions, "page_tracebacks": page_tracebacks,
        "server_log_tracebacks": log_tracebacks, "first_traceback": first_traceback,
        "max_running": samples.max_running,
        "runs_stored": len(runs), "runs_by_status": statuses, "run_epochs": epochs,
        "sessions_started": len(clicks),
        "start_clicks_repeated": sum(s.clicks > 1 for s in students),
        "sessions_saw_queue_position": sum(s.saw_queued for s in students),
        "most_ahead_seen": max((s.most_ahead or 0 for s in students), default=0),
        "sessions_completed": sum(by_run.get(s.run or "", {}).get("status") == "completed"
                                  for s in students),
        "sessions_neither_completed_nor_queued": unserved,
        "session_errors": {s.index: s.error for s in students if s.error},
        "rss_after_start_mb": round(rss_start, 1), "rss_peak_mb": max(rss),
        "rss_end_mb": rss[-1],
        "probe_count": len(seconds), "probe_failures": seen["probe_failures"],
        "probe_median_s": round(median(seconds), 2) if seconds else None,
        "probe_p95_s": round(percentile(seconds, 95), 2) if seconds else None,
        "probe_max_s": round(max(seconds), 2) if seconds else None,
        "client_pss_peak_mb": round(samples.client_pss_peak, 1),
        "fragment_reruns": len(fragment_runs),
        "fragment_rerun_median_s": round(median(fragment_runs), 3) if fragment_runs else None,
        "fragment_rerun_p95_s": round(percentile(fragment_runs, 95), 3) if fragment_runs
        else None,
        "page_runs": len(full_runs),
        "page_run_median_s": round(median(full_runs), 3) if full_runs else None,
        "page_run_p95_s": round(percentile(full_runs, 95), 3) if full_runs else None,
        "job_total_s_median": round(median(totals), 1) if totals else None,
        "job_total_s_max": round(max(totals), 1) if totals else None,
        "job_claimed_to_stored_s_median": round(median(claimed), 1) if claimed else None,
        "job_claimed_to_stored_s_max": round(max(claimed), 1) if claimed else None,
        "cpu_seconds": {**cpu, "other": round(cpu["machine"] - cpu["server"] - cpu["client"]
                                              - cpu["cluster"], 1)} if cpu else {},
        "cores_busy_avg": round(cpu["machine"] / window, 2) if window else None,
        "server_ready_s": round(ready - t0, 1),
        "first_click_to_all_ended_s": round(ended - min(clicks), 1) if ended and clicks
        else None,
        "wall_s": round((ended or time.time()) - t0, 1),
        "deadline_reached": ended is None,
        "predicted_start": starts,
    }
    checks = {
        "no server errors": figures["server_errors"] == 0,
        f"running ≤ cap ({args.cap})": samples.max_running <= args.cap,
        "every job completed or showed its queue position": not unserved and
        len(clicks) == args.sessions,
        f"{args.sessions} runs stored, all completed": len(runs) == args.sessions and
        statuses.get("completed", 0) == args.sessions,
        "ended before the deadline": ended is not None,
        "a classmate's page rendered every time it was opened": bool(seconds) and
        not seen["probe_failures"],
    }
    print_table(f"Classroom load: {args.sessions} sessions ({args.client}), cap {args.cap}, "
                f"trainings on {'a Ray node' if node['executor'] == 'ray' else 'this server'}"
                + (f", {node['servers']} servers on {node['database']}"
                   if node.get("servers", 1) > 1 or node.get("database") == "postgresql"
                   else ""), [
        {"measure": "server errors (pages + log)", "value": figures["server_errors"]},
        {"measure": "max runs running at once", "value": f"{samples.max_running} (cap {args.cap})"},
        {"measure": "runs by status", "value": json.dumps(statuses)},
        {"measure": "sessions that saw their queue position", "value":
            f"{figures['sessions_saw_queue_position']} (most ahead "
            f"{figures['most_ahead_seen']})"},
        {"measure": "sessions completed / started", "value":
            f"{figures['sessions_completed']} / {len(clicks)}"},
        {"measure": "server RSS after start / peak MB", "value":
            f"{figures['rss_after_start_mb']} / {figures['rss_peak_mb']}"},
        {"measure": "probe page latency median / p95 / max s", "value":
            f"{figures['probe_median_s']} / {figures['probe_p95_s']} / "
            f"{figures['probe_max_s']} ({len(seconds)} probes, "
            f"{len(seen['probe_failures'])} failed)"},
        {"measure": "students' page runs (open, set, press): median / p95 s", "value":
            f"{figures['page_run_median_s']} / {figures['page_run_p95_s']} "
            f"({len(full_runs)} runs)"},
        {"measure": "students' fragment reruns (queue, curves): median / p95 s", "value":
            f"{figures['fragment_rerun_median_s']} / {figures['fragment_rerun_p95_s']} "
            f"({len(fragment_runs)} reruns)"},
        {"measure": "client (students + Chromium) PSS peak MB",
         "value": figures["client_pss_peak_mb"]},
        {"measure": "one job, worker start → stored, median / max s", "value":
            f"{figures['job_total_s_median']} / {figures['job_total_s_max']}"},
        {"measure": "one job, claimed → stored, median / max s", "value":
            f"{figures['job_claimed_to_stored_s_median']} / "
            f"{figures['job_claimed_to_stored_s_max']}"},
        {"measure": "Ray node RSS idle / peak MB", "value":
            f"{figures.get('node_rss_idle_mb')} / {figures['cluster_rss_peak_mb']}"
            if node["executor"] == "ray" else "–"},
        {"measure": "CPU s: server (of which training) / students and probe / rest",
         "value":
            f"{cpu.get('server')} ({cpu.get('training')}) / {cpu.get('client')} / "
            f"{figures['cpu_seconds'].get('other')} "
            f"({figures['cores_busy_avg']} of {os.cpu_count()} cores busy)"},
        {"measure": "queued runs' wait as told when first queued: error median / "
                    "median |error| / p90 |error|", "value": said_starts(starts)},
        {"measure": "the same, the line's own figure when first queued (unrounded)",
         "value": said_starts(starts["line_figure"], words=False)},
        {"measure": "first click → all jobs ended s",
         "value": figures["first_click_to_all_ended_s"]},
        {"measure": "total wall s", "value": figures["wall_s"]},
    ])
    if starts["runs"]:
        print_table("Queued runs: the start told when first queued, and the wait they had",
                    [{"place": r["place"], "told": r["words"], "waited s": r["actual_s"],
                      "line's figure s": r["line_s"], "waited from then s": r["line_actual_s"]}
                     for r in starts["runs"]])
    print_table("Acceptance", [{"check": k, "ok": "yes" if v else "NO"}
                               for k, v in checks.items()])
    if first_traceback:
        print("\nThe server log's first traceback:\n" + "\n".join(first_traceback))
    write_result(out, {**figures, "checks": checks,
                                    "probes": [(p, round(t, 2)) for p, t in latencies],
                                    "rss_timeline": samples.rss[::4],
                                    "run_timeline": samples.timeline[::5]})
    if figures["deadline_reached"]:
        return 2, figures
    return (0 if all(checks.values()) else 1), figures


if __name__ == "__main__":
    raise SystemExit(main())
