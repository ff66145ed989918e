"""What the classroom benchmarks watch while a class trains (bench/classroom_load.py,
bench/lesson.py): the run table the servers share, the servers' memory and the CPU split
(server, its training workers, a Ray node, the clients, the machine), and a classmate's
Chromium page opening Data and Runs in turn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import process_tree, rss_mb

FINAL = ("completed", "stopped", "failed", "diverged", "interrupted", "cancelled")
RENDERED = """([heading, needs]) => {
  if (!document.querySelector('[data-testid="stApp"]')) return false;
  const titled = [...document.querySelectorAll('h1')].some(h => h.innerText.includes(heading));
  const busy = document.querySelector('[data-testid="stStatusWidget"] [role="progressbar"]')
    || document.querySelectorAll('[data-testid="stSkeleton"]').length > 0;
  return titled && !busy && !!document.querySelector(needs);
}"""
PROBES = (("/", "Data", ".js-plotly-plot"), ("/runs", "Runs", '[data-testid="stDataFrame"]'))

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
