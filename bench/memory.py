"""Memory: resident size of a real studio server as sessions arrive.

A small quick-preset model is trained here with TrainingJob into a temporary STUDIO_HOME, then
`streamlit run app.py` serves it. The server's RSS (with its children) is read

1. after start, before any browser has connected;
2. after one Chromium context opened Inspect on that run: the dataset, the model and its
   feature extractor are loaded, the feature maps drawn;
3. with 1 and then 11 more idle contexts on the Data page (the default page), so one idle
   session costs (RSS₁₁ − RSS₁) / 10.

Targets: ≤ 1.5 GB with the dataset and one model (1500 MB); ≤ 10 MB per extra idle session.

    .venv/bin/python bench/memory.py [--smoke]

--smoke: 2,000 training images for the model, 1 then 3 idle contexts.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from common import (bench_args, engine_env, launch_chromium, load_note, median, print_table,
                    rss_mb, studio_server, train_small_run, verdict, wait_rendered,
                    write_result)

LOADED_MB = 1500.0
PER_SESSION_MB = 10.0


def settled_rss(pid: int, wait: float = 3.0, samples: int = 5) -> float:
    """Median of a few RSS readings once the server has had `wait` seconds to go idle."""
    time.sleep(wait)
    readings = []
    for _ in range(samples):
        readings.append(rss_mb(pid))
        time.sleep(0.4)
    return median(readings)


def open_idle(browser, url: str):
    """A new browser context (one more session) on the Data page, rendered and left idle."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url + "/")
    page.get_by_role("heading", name="Data").first.wait_for(timeout=120_000)
    wait_rendered(page)
    return context


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    engine_env()
    from playwright.sync_api import sync_playwright

    extra = 2 if args.smoke else 10
    home = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        print("training a small quick-preset model for the server to load", flush=True)
        run_id = train_small_run(home, limit_train=2000 if args.smoke else 3000)
        rows = []
        with studio_server(home) as (url, proc), sync_playwright() as p:
            started = settled_rss(proc.pid)
            rows.append({"stage": "after start, no session", "sessions": 0,
                         "server RSS MB": started, "target": "–", "met": "–"})
            browser = launch_chromium(p)
            teacher = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = teacher.new_page()
            page.goto(f"{url}/inspect?run={run_id}")
            wait_rendered(page, "the network says")
            loaded = settled_rss(proc.pid)
            rows.append({"stage": "dataset + one model (Inspect open)", "sessions": 1,
                         "server RSS MB": loaded, "target": f"≤ {LOADED_MB:g} MB",
                         "met": verdict(loaded <= LOADED_MB)})
            contexts = [open_idle(browser, url)]
            rss_1 = settled_rss(proc.pid)
            rows.append({"stage": "+ 1 idle session (Data page)", "sessions": 2,
                         "server RSS MB": rss_1, "target": "–", "met": "–"})
            for _ in range(extra):
                contexts.append(open_idle(browser, url))
            rss_n = settled_rss(proc.pid, wait=5.0)
            rows.append({"stage": f"+ {1 + extra} idle sessions", "sessions": 2 + extra,
                         "server RSS MB": rss_n, "target": "–", "met": "–"})
            per_session = (rss_n - rss_1) / extra
            rows.append({"stage": f"per extra idle session (RSS{1 + extra} − RSS1) / {extra}",
                         "sessions": None, "server RSS MB": per_session,
                         "target": f"≤ {PER_SESSION_MB:g} MB",
                         "met": verdict(per_session <= PER_SESSION_MB)})
            for context in contexts + [teacher]:
                context.close()
            browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    title = "Server memory (RSS of streamlit run app.py and its children)"
    if args.smoke:
        title += f" (smoke: 1 then {1 + extra} idle contexts)"
    print_table(title, rows)
    load_note()
    write_result("memory", {"smoke": args.smoke, "rows": rows, "idle_contexts_added": extra})


if __name__ == "__main__":
    main()
