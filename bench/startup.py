"""Start-up: `streamlit run app.py` to the first page rendered in Chromium.

Chromium is started first (not counted). Each pass starts a fresh server with an empty
STUDIO_HOME and times, from the moment the process is launched: the health endpoint
answering, the Data page's heading appearing in the browser, and the page's first script run
finished (no running indicator, no skeleton left), which is what the target is judged on.
The first page view is when Streamlit first runs app.py, so it includes importing Keras and
TensorFlow and loading the dataset.

Target: ≤ 8 s to the first page rendered (median of the passes).

    .venv/bin/python bench/startup.py [--smoke]

--smoke: one pass.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import (bench_args, engine_env, launch_chromium, load_note, median, print_table,
                    studio_server, verdict, wait_rendered, write_result)

TARGET_SECONDS = 8.0


def one_pass(browser) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        started = time.perf_counter()
        with studio_server(Path(tmp) / "studio") as (url, _proc):
            healthy = time.perf_counter() - started
            page.goto(url + "/")
            page.get_by_role("heading", name="Data").first.wait_for(timeout=120_000)
            heading = time.perf_counter() - started
            wait_rendered(page)
            rendered = time.perf_counter() - started
            context.close()
    return {"health s": healthy, "heading s": heading, "rendered s": rendered}


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    engine_env()
    from playwright.sync_api import sync_playwright

    passes = 1 if args.smoke else 3
    results = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        for i in range(passes):
            result = one_pass(browser)
            print(f"pass {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()),
                  flush=True)
            results.append(result)
        browser.close()
    rows = [{"pass": i + 1, **r, "target": "–", "met": "–"} for i, r in enumerate(results)]
    rendered = median([r["rendered s"] for r in results])
    rows.append({"pass": "median", "health s": median([r["health s"] for r in results]),
                 "heading s": median([r["heading s"] for r in results]),
                 "rendered s": rendered, "target": f"≤ {TARGET_SECONDS:g} s",
                 "met": verdict(rendered <= TARGET_SECONDS)})
    title = "Start-up: streamlit run app.py → Data page rendered in Chromium"
    if args.smoke:
        title += " (smoke: one pass)"
    print_table(title, rows)
    load_note()
    write_result("startup", {"smoke": args.smoke, "rows": rows, "passes": results,
                             "target_seconds": TARGET_SECONDS})


if __name__ == "__main__":
    main()
