"""Fuzzing: everything a stranger can send, 10,000 generated inputs a door, each counted as a
result, one sentence, or a crash.

The doors and their inputs are tests/fuzzing.py's (the same strategies tests/test_fuzz.py
runs a few hundred of): upload bytes into `preprocess` for each dataset and into
`decode_image` (real pictures in every format and mode, damaged ones, signatures with random
bodies, crafted headers declaring up to 2³²−1 pixels a side), a link's query string into
`links.from_query`, passcode tries into the teacher's `PasscodeGuard`, display names into
`owners.clean_name`, and command lines into `python -m fmnist_core` in this process
(describe, predict, runs, runs export; never train). A crash is an unexpected exception, a
refusal that is not one printable line (a page's at most 400 characters), a wrong result,
or an upload that took more than 300 MB.

Target: no crash (the `met` column). The table also gives the seconds per door, the peak
memory an upload took, and the longest sentence; the JSON keeps the first crashes of each
door with their input. A second table measures what the fuzz's small pictures cannot: the
peak memory and time of the largest pictures the studio accepts (4096×4096: float and
32-bit TIFF, 16-bit and RGBA PNG, RGBA WebP, CMYK JPEG) through `preprocess`, each within
the same 300 MB.

    .venv/bin/python bench/fuzz.py [--examples N] [--seed S] [--smoke]

--smoke: 200 inputs a door. What the libraries write on stderr while a door is fuzzed
(libtiff's and Pillow's lines about the damaged files) is kept off the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from common import engine_env, load_note, print_table, verdict, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SMOKE_EXAMPLES = 200
MAX_DECODE_CPU_SECONDS = 1.0  # one accepted upload, decode and preprocessing together


@contextlib.contextmanager
def stderr_kept_off() -> Iterator[None]:
    """File descriptor 2 goes to a temporary file while a door is fuzzed: libtiff writes a
    line there for every damaged TIFF, and Pillow logs one for many (the progress and the
    table go to stdout)."""
    sys.stderr.flush()
    real = os.dup(2)
    with tempfile.TemporaryFile() as kept:
        os.dup2(kept.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(real, 2)
            os.close(real)


def largest_pictures(fuzzing) -> list[dict]:
    """A row per picture of fuzz_images.LARGEST: its size, what preprocess made of it, its
    peak memory and seconds."""
    import time

    import fuzz_images

    from fmnist_core.data.decoding import ImageError
    from fmnist_core.data.preprocessing import preprocess

    rows = []
    for name in fuzz_images.LARGEST:
        data = fuzz_images.largest_picture(name)
        started, cpu = time.perf_counter(), time.process_time()
        with fuzzing.PeakMemory() as memory:
            try:
                preprocess(data)
                gave = "a 28×28 image"
            except ImageError as err:
                gave = str(err)
        cpu = time.process_time() - cpu
        side = fuzz_images.largest_side(*fuzz_images.LARGEST[name][:2])
        rows.append({"target": f"largest {name}", "pixels": f"{side}×{side}",
                     "file KB": round(len(data) / 1024, 1), "gave": gave,
                     "peak MB": None if memory.mb is None else round(memory.mb),
                     "seconds": time.perf_counter() - started, "CPU s": round(cpu, 2),
                     "met": verdict(memory.mb is not None and memory.mb <= fuzzing.MAX_DECODE_MB
                                    and cpu <= MAX_DECODE_CPU_SECONDS)})
    return rows


def dataset_pictures(limit: int | None) -> dict:
    """The official test images, each saved as a 28×28 PNG and given to preprocess as an
    upload is: how many are refused (none should be), and the seconds."""
    import io
    import time

    from PIL import Image

    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.data.decoding import ImageError
    from fmnist_core.data.preprocessing import preprocess

    images = load_dataset("fashion_mnist").x_test[:limit]
    refused, started = [], time.perf_counter()
    for index, image in enumerate(images):
        data = io.BytesIO()
        Image.fromarray(image).save(data, "PNG")
        try:
            preprocess(data.getvalue())
        except ImageError:
            refused.append(index)
    return {"target": "official test images as uploads", "pictures": len(images),
            "refused": len(refused), "first refused": refused[:10],
            "seconds": time.perf_counter() - started, "met": verdict(not refused)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per door")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis's seed")
    parser.add_argument("--smoke", action="store_true",
                        help=f"{SMOKE_EXAMPLES} inputs per door, to check that it runs")
    args = parser.parse_args()
    engine_env()
    import fuzzing

    examples = SMOKE_EXAMPLES if args.smoke else args.examples
    rows, crashes = [], {}
    for target in fuzzing.targets().values():
        print(f"{target.name}: {examples:,} inputs …", flush=True)
        with stderr_kept_off():
            tally = fuzzing.run_target(target, examples, args.seed)
        rows.append({"target": target.name, "what": target.what, "inputs": tally.inputs,
                     "results": tally.results, "sentences": tally.sentences,
                     "crashes": tally.crashes, "seconds": tally.seconds,
                     "peak MB": None if tally.peak_mb is None else round(tally.peak_mb, 1),
                     "longest sentence": tally.longest_sentence,
                     "met": verdict(tally.crashes == 0)})  # met: no crash
        crashes[target.name] = tally.examples
    print_table(f"Fuzzing, {examples:,} generated inputs per door (seed {args.seed}; peak MB: "
                f"an upload's, limit {fuzzing.MAX_DECODE_MB})",
                [{k: v for k, v in row.items() if k != "what"} for row in rows])
    largest = largest_pictures(fuzzing)
    print_table(f"The largest accepted pictures through preprocess (limits "
                f"{fuzzing.MAX_DECODE_MB} MB, {MAX_DECODE_CPU_SECONDS:g} s of CPU)", largest)
    official = dataset_pictures(1_000 if args.smoke else None)
    print_table("The official Fashion-MNIST test images, each a 28×28 PNG upload", [official])
    for name, found in crashes.items():
        for crash in found:
            print(f"\n{name}: {crash['crash']}\n    input: {crash['input'][:300]}")
    load_note()
    write_result("fuzz" + ("_smoke" if args.smoke else ""),
                 {"smoke": args.smoke, "examples": examples, "seed": args.seed,
                  "rows": rows + largest + [official],
                  "crashes": crashes, "max_decode_mb": fuzzing.MAX_DECODE_MB,
                  "page_sentence_length": fuzzing.PAGE_SENTENCE_LENGTH})


if __name__ == "__main__":
    main()
