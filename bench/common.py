"""Shared pieces of the benchmarks: the machine they ran on, a printed table, a JSON file.

Every benchmark prints its table to stdout and writes `bench/results/<name>.json` with the
machine recorded, so a figure can always be traced to where it was measured.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
# bench/results, or another folder given in $BENCH_RESULTS_DIR (a test's temporary folder)
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, backend, device and library versions of this process."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": _load_average(),
    }
    try:
        import keras

        from fmnist_core.nets.device import device_info

        info["keras"] = keras.__version__
        info.update({f"keras_{k}": v for k, v in device_info().items()})
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            info["tensorflow"] = tf.__version__
        elif keras.backend.backend() == "jax":
            import jax

            info["jax"] = jax.__version__
    except Exception as err:  # noqa: BLE001 - a benchmark without Keras still reports
        info["keras_error"] = str(err)
    return info


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_table(title: str, rows: Iterable[dict[str, Any]]) -> None:
    """Prints rows of dicts as an aligned text table (keys of the first row as columns)."""
    rows = list(rows)
    print(f"\n## {title}\n")
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0])
    for row in rows[1:]:
        columns += [k for k in row if k not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Writes `bench/results/<name>.json` with the machine and the time it was measured."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine_info(), **payload}
    path.write_text(json.dumps(body, indent=2, default=str))
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


def median_interval(values: list[float], confidence: float = 0.9
                    ) -> tuple[float, float, float]:
    """(low, high, coverage): the narrowest interval between order statistics of `values`
    that holds their population's median with probability ≥ `confidence`, whatever the
    distribution (each value falls below the median with probability ½, so the count below
    it is binomial). With 5 values it is [smallest, largest] at 93.8 %; the whole range
    when even that falls short."""
    ordered = sorted(values)
    n = len(ordered)

    def coverage(k: int) -> float:  # P(ordered[k] ≤ median ≤ ordered[n - 1 - k])
        return 1 - 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n

    k = 0
    while k + 1 < n - 1 - (k + 1) and coverage(k + 1) >= confidence:
        k += 1
    return ordered[k], ordered[n - 1 - k], coverage(k)


def interval_verdict(low: float, high: float, target: float) -> str:
    """The 'met' cell for a ratio whose median lies in [low, high] and must be ≤ target:
    yes when the whole interval is, no when none of it is, else unresolved (the machine's
    scatter is wider than the margin)."""
    if high <= target:
        return "yes"
    if low > target:
        return "no"
    return "unresolved"


# A free port is found by binding it and letting it go, so another process may take it
# before the server binds it: a server that finds its port taken is started again on another.
PORT_TRIES = 5
PORT_TAKEN = "is not available"  # what Streamlit logs before it exits on a taken port


def free_port() -> int:
    """A loopback port no process holds now (another may take it before it is bound)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(port: int) -> bool:
    """Whether a process listens on (or holds) the loopback `port` now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def studio_server(home: Path, log_name: str = "server.log", port: int | None = None,
                  **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A real `streamlit run app.py` on a loopback port with its own STUDIO_HOME.

    Yields (base URL, process) once `/_stcore/health` answers "ok"; the server log is
    `home/<log_name>` (servers sharing a STUDIO_HOME each name their own). `port` defaults
    to a free one, and another when that one is taken meanwhile (a restarted server passes
    the old one, which is then the only one tried). Extra keyword arguments become
    environment variables.
    """
    home.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ, STUDIO_HOME=str(home), STUDIO_NO_DOWNLOAD="1",
                    TF_CPP_MIN_LOG_LEVEL="3", **env)
    log = open(home / log_name, "a")
    proc = None
    try:
        for attempt in range(1 if port else PORT_TRIES):
            chosen = port or free_port()
            proc = _start_streamlit(chosen, full_env, log)
            url = f"http://127.0.0.1:{chosen}"
            try:
                wait_healthy(url, proc)
                break
            except RuntimeError:
                _end(proc)
                if port or attempt == PORT_TRIES - 1 or not _port_was_taken(home / log_name,
                                                                             chosen):
                    raise
        yield url, proc
    finally:
        if proc is not None:
            _end(proc)
        log.close()


def _start_streamlit(port: int, env: dict[str, str], log) -> subprocess.Popen:
    log.write(f"--- starting on port {port}\n")
    log.flush()
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _port_was_taken(log_path: Path, port: int) -> bool:
    """Whether the server's log says its last start found `port` taken."""
    text = log_path.read_text(errors="replace")
    last_start = text[text.rfind(f"--- starting on port {port}"):]
    return f"Port {port} {PORT_TAKEN}" in last_start


def _end(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(15)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> float:
    """Polls `/_stcore/health` until "ok"; returns the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the studio did not answer /_stcore/health in time")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def process_tree(root: int) -> list[int]:
    """root and every descendant (the children of any of its threads), from /proc/*/stat."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


# -- shared by the benchmark scripts (added alongside the helpers above) ---------------------

def engine_env() -> None:
    """Offline, quiet, TensorFlow unless told otherwise; call before anything imports Keras."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("STUDIO_NO_DOWNLOAD", "1")


def bench_args(description: str, argv: list[str] | None = None):
    """The command line every benchmark shares: `--smoke` for a tiny, quick version."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny version (small data slices, 1 epoch, one short pass) to "
                             "check that the benchmark runs")
    return parser.parse_args(argv)


def timed(call, repeats: int, warmup: int = 3) -> list[float]:
    """Milliseconds of `repeats` calls after `warmup` unmeasured ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def verdict(ok: bool | None) -> str:
    """The 'met' cell: yes / no, or 'n/a' where the measurement cannot be judged (smoke)."""
    return "n/a" if ok is None else ("yes" if ok else "no")


def run_job(spec, store, *, dataset=None, limit_train: int | None = None,
            limit_test: int | None = None, timeout: float = 3600,
            worker=None) -> tuple[Any, float]:
    """Runs one `TrainingJob` to the end, as the studio does (in a thread, or in `worker`, a
    `fmnist_core.training.worker.WorkerProcess`); returns (job, wall seconds from `start()`
    until the job has ended). Raises when it did not complete."""
    from fmnist_core.training.job import TrainingJob

    job = TrainingJob(spec, owner="bench", store=store, dataset=dataset,
                      limit_train=limit_train, limit_test=limit_test)
    started = time.perf_counter()
    if worker is None:
        job.start()
    else:
        job.worker = worker
        job.mark_started()

        def relay() -> None:
            try:
                worker.run(job)
            finally:
                job.end()

        threading.Thread(target=relay, daemon=True).start()
    if not job.wait(timeout):
        job.stop()
        raise TimeoutError(f"training {job.run_id} did not end within {timeout:.0f} s")
    wall = time.perf_counter() - started
    if job.status != "completed":
        raise RuntimeError(f"training ended {job.status}: {job.snapshot()['message']}")
    return job, wall


def run_in_scratch_store(spec, dataset, limit_train: int | None, limit_test: int | None,
                         prefix: str) -> tuple[dict, dict, float]:
    """`run_job` with a run store in a temporary folder, removed afterwards; returns (the
    job's last snapshot, its run row, wall seconds)."""
    import tempfile

    from fmnist_core.store.runs import RunStore

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        store = RunStore(Path(tmp) / "studio")
        job, wall = run_job(spec, store, dataset=dataset, limit_train=limit_train,
                            limit_test=limit_test, timeout=2 * 3600)
        return job.snapshot(), store.get_run(job.run_id), wall


def train_small_run(home: Path, limit_train: int = 3000, limit_test: int = 500,
                    epochs: int = 1) -> str:
    """A finished quick-preset run in the run store at `home` (for latency and memory
    benchmarks, where accuracy does not matter); returns its run id."""
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    job, _ = run_job(preset("quick").replace(epochs=epochs), RunStore(home),
                     limit_train=limit_train, limit_test=limit_test)
    return job.run_id


def launch_chromium(playwright):
    """Debian's Chromium through Playwright (it cannot download its own here)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_rendered(page, text: str | None = None, timeout_ms: int = 120_000) -> None:
    """Waits until the Streamlit app is on screen (and `text`, if given) and its script run
    has finished: no running-status progress bar and no loading skeleton left."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    if text:
        page.get_by_text(text).first.wait_for(timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"] [role=\"progressbar\"]')"
        " && document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0",
        timeout=timeout_ms)
    if page.locator('[data-testid="stException"]').count():
        raise RuntimeError(f"the page at {page.url} shows an exception")


def warm_keras() -> dict[str, str]:
    """Imports Keras and its backend and asks for the device once, as the running server has
    done before any training starts, so no timed section pays for the import."""
    import keras  # noqa: F401

    from fmnist_core.nets.device import device_info

    return device_info()


def load_note() -> None:
    """Prints a warning when other processes were competing for the cores while measuring."""
    load = _load_average()
    cores = os.cpu_count() or 1
    if load and load[0] > 0.5 * cores:
        print(f"\nnote: load average {load[0]:.1f} on {cores} cores: other processes competed "
              "for the CPU, so these figures are pessimistic.")
