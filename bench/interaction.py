"""Interaction latency: drawing → prediction, feature maps, confusion matrix, Inspect rerun.

A small quick-preset model is trained here with TrainingJob into a temporary STUDIO_HOME
(accuracy does not matter for latency); an untrained seed-cnn (two conv blocks, more maps)
is timed beside it. Every figure is the engine call the page makes:

- canvas → prediction: `preprocess` of a 280×280 RGBA drawing, then the `FeatureExtractor`
  forward pass the Predict page uses (probabilities and maps in one call);
- all feature maps of one sample: the `FeatureExtractor` call, and the same plus the plotly
  mosaic of every layer serialised as `st.plotly_chart` sends it;
- confusion matrix: `predict_proba` on the test images, `confusion_matrix`, per-class
  accuracy;
- page rerun: pages/inspect.py through the router under Streamlit's AppTest (as
  tests/test_page_inspect.py does), timing reruns once the model is cached;
- probing, as the views do it with their figures serialised (the engine calls alone, and
  the OOD score, are bench/ood.py's rows): one change of an Invariance slider (a probe: the
  changed picture and its top 3, what the view's fragment reruns), the sweep chart (53
  copies in one batch), and What it looks at (occlusion and Grad-CAM side by side).

- the epoch scrubber (Inspect's epoch slider): a run of 4 epochs per preset (quick, and
  seed-cnn, on the same small data) is opened with `EpochReplay` as the page's cache does,
  then each move of the slider to another epoch is timed as the Feature maps view answers
  it: the feature maps at that epoch with their plotly mosaics and the answer-by-epoch chart.

Targets: prediction p95 ≤ 50 ms; all feature maps of one sample ≤ 150 ms; a probe change
≤ 100 ms; feature maps at a new epoch ≤ 300 ms (judged on p95).

    .venv/bin/python bench/interaction.py [--smoke]

--smoke: 2,000 training images, 30 repetitions, 2,000 test images, 3 page reruns.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common import (ROOT, bench_args, engine_env, load_note, median, percentile, print_table,
                    run_job, timed, train_small_run, verdict, warm_keras, write_result)

PREDICT_P95_MS = 50.0
MAPS_P95_MS = 150.0
PROBE_P95_MS = 100.0
SCRUB_P95_MS = 300.0
SCRUB_EPOCHS = 4


def drawing(size: int = 280) -> np.ndarray:
    """(size, size, 4) uint8: a sneaker in white strokes on a transparent canvas, the way the
    Predict page's drawing canvas hands it over."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(canvas)
    s = size / 280
    outline = [(40, 190), (60, 120), (110, 110), (150, 140), (230, 160), (245, 195),
               (235, 215), (45, 215), (40, 190)]
    pen.line([(x * s, y * s) for x, y in outline], fill=(255, 255, 255, 255),
             width=int(22 * s), joint="curve")
    pen.line([(70 * s, 140 * s), (120 * s, 150 * s)], fill=(255, 255, 255, 255),
             width=int(14 * s))
    return np.asarray(canvas, dtype=np.uint8).copy()


def phone_photo() -> bytes:
    """A 4000×3000 JPEG of a navy shirt on light paper, as a phone takes it."""
    import io

    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (4000, 3000), (235, 235, 230))
    ImageDraw.Draw(picture).polygon([(500 + 20 * x, 400 + 15 * y) for x, y in (
        (45, 15), (62, 15), (75, 30), (88, 15), (105, 15), (140, 48), (124, 72), (110, 60),
        (110, 165), (40, 165), (40, 60), (26, 72), (10, 48))], fill=(40, 50, 90))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def latency_row(what: str, times: list[float], target_ms: float | None = None) -> dict:
    p95 = percentile(times, 95)
    return {"what": what, "n": len(times), "median ms": median(times), "p95 ms": p95,
            "max ms": max(times),
            "target": f"p95 ≤ {target_ms:g} ms" if target_ms else "–",
            "met": verdict(p95 <= target_ms) if target_ms else "–"}


def page_reruns(run_id: str, reruns: int) -> list[dict]:
    """Inspect through the router under AppTest: the cold first run, then timed reruns of the
    Feature maps view and of the Confusion matrix view with everything cached."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/inspect.py")
    started = time.perf_counter()
    at.run()
    cold = (time.perf_counter() - started) * 1000
    if at.exception:
        raise RuntimeError(f"Inspect raised under AppTest: {at.exception}")
    if at.selectbox(key="inspect_run").value != run_id:
        raise RuntimeError("Inspect did not open the benchmark's run")
    rows = [{"what": "Inspect first run (loads model + extractor; data in memory)", "n": 1,
             "median ms": cold, "p95 ms": cold, "max ms": cold, "target": "–", "met": "–"}]

    def rerun() -> None:
        at.run()
        if at.exception:
            raise RuntimeError(f"Inspect raised under AppTest: {at.exception}")

    rows.append(latency_row("Inspect rerun, Feature maps view (model cached)",
                            timed(rerun, reruns, warmup=0)))
    started = time.perf_counter()
    at.segmented_control(key="inspect_view").set_value("Confusion matrix").run()
    cold = (time.perf_counter() - started) * 1000
    rows.append({"what": "Inspect → Confusion matrix view (classifies the test set)", "n": 1,
                 "median ms": cold, "p95 ms": cold, "max ms": cold, "target": "–",
                 "met": "–"})
    rows.append(latency_row("Inspect rerun, Confusion matrix view (probabilities cached)",
                            timed(rerun, reruns, warmup=0)))
    at.segmented_control(key="inspect_view").set_value("Invariance").run()
    rows.append(latency_row("Inspect rerun, Invariance view (the whole page; a slider change "
                            "reruns only the probe's fragment)", timed(rerun, reruns, warmup=1)))
    return rows


def probe_rows(models: dict, data, repeats: int) -> list[dict]:
    """What the Invariance and What it looks at views compute per change, with their plotly
    figures serialised, for each model."""
    from fmnist_core.explain import inspection, probes
    from fmnist_core.explain.gradcam import GradCam
    from ui.figures import classes, images, probing

    image, label = data.x_test[0], int(data.y_test[0])
    names = data.class_names
    rows = []
    for name, model in models.items():
        shifts = itertools.cycle(range(-8, 9))  # a new setting each time, as a dragged slider
        cam = GradCam(model)

        def change() -> None:
            result = probes.probe(model, image, shift=(next(shifts), 0), rotate=15.0, noise=10.0)
            images.image(result.image, "Changed · 28×28", height=300).to_json()
            classes.probabilities(result.probabilities, names, top_k=3).to_json()

        def sweep() -> None:
            curves = {"run": probes.sweep(model, image, label)}
            probing.probe_sweep(curves, names[label]).to_json()

        def looks_at() -> None:
            heat = inspection.occlusion_saliency(model, image, label)
            probing.saliency(image, heat, "occlusion").to_json()
            probing.grad_cam(image, cam(image, label).heatmap, "Grad-CAM").to_json()

        rows += [
            latency_row(f"Invariance: one slider change (probe + 2 figures), {name}",
                        timed(change, repeats), PROBE_P95_MS),
            latency_row(f"Invariance: sweep chart (53 images in one batch + figure), {name}",
                        timed(sweep, max(10, repeats // 2))),
            latency_row(f"What it looks at: occlusion + Grad-CAM + 2 figures, {name}",
                        timed(looks_at, max(10, repeats // 4))),
        ]
    return rows


def main() -> None:
    args = bench_args(__doc__.splitlines()[0])
    engine_env()
    home = Path(tempfile.mkdtemp(prefix="bench-interaction-"))
    limit_test = 2000 if args.smoke else None
    # The pages under AppTest read the same store and test slice.
    os.environ["STUDIO_HOME"] = str(home)
    if limit_test:
        os.environ["STUDIO_TEST_LIMIT"] = str(limit_test)
    try:
        rows = measure(args, home, limit_test)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    title = "Interaction latency (single process, CPU)"
    if args.smoke:
        title += " (smoke: fewer repetitions, 2,000 test images)"
    print_table(title, rows)
    load_note()
    write_result("interaction", {"smoke": args.smoke, "rows": rows})


def measure(args, home: Path, limit_test: int | None) -> list[dict]:
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.explain.inspection import (FeatureExtractor, confusion_matrix,
                                                per_class_accuracy, predict_proba)
    from fmnist_core.nets.model import build_model
    from fmnist_core.data.preprocessing import preprocess
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset
    from ui.figures import images

    warm_keras()
    repeats = 30 if args.smoke else 200
    print("training a small quick-preset model for the latency measurements", flush=True)
    run_id = train_small_run(home, limit_train=2000 if args.smoke else 3000, limit_test=500)
    data = load_dataset("fashion_mnist")
    models = {"quick": RunStore(home).load_model(run_id),
              "seed-cnn, untrained": build_model(preset("seed-cnn"))}
    canvas = drawing()
    photo = phone_photo()
    rows = [latency_row("preprocessing only (280×280 canvas → 28×28)",
                        timed(lambda: preprocess(canvas, "fashion_mnist"), repeats), 20),
            latency_row("preprocessing a 4000×3000 JPEG photo (reduced while decoding)",
                        timed(lambda: preprocess(photo, "fashion_mnist"), max(5, repeats // 20),
                              warmup=1), 300)]
    for name, model in models.items():
        extractor = FeatureExtractor(model)
        image = preprocess(canvas, "fashion_mnist").image

        def predict() -> np.ndarray:
            return extractor(preprocess(canvas, "fashion_mnist").image)[1]

        def maps_and_figures() -> None:
            maps, _ = extractor(image)
            for fm in maps:
                images.mosaic(fm.maps, fm.name).to_json()

        rows += [
            latency_row(f"canvas → prediction, {name}", timed(predict, repeats),
                        PREDICT_P95_MS),
            latency_row(f"all feature maps of one sample, {name}",
                        timed(lambda: extractor(image), repeats), MAPS_P95_MS),
            latency_row(f"all feature maps + plotly mosaics, {name}",
                        timed(maps_and_figures, max(10, repeats // 4)), MAPS_P95_MS),
        ]
    x_test, y_test = data.x_test[:limit_test], data.y_test[:limit_test]

    def confusion() -> None:
        probs = predict_proba(models["quick"], x_test)
        per_class_accuracy(confusion_matrix(y_test, probs.argmax(axis=1)))

    rows.append(latency_row(f"confusion matrix on {len(x_test):,} test images, quick",
                            timed(confusion, 2 if args.smoke else 5, warmup=1)))
    rows += probe_rows(models, data, repeats)
    print("timing the Inspect page under AppTest", flush=True)
    rows += page_reruns(run_id, 3 if args.smoke else 10)
    # last: its runs are newer than run_id, which Inspect opens by default
    rows += scrubber_rows(home, args, repeats)
    return rows


def scrubber_rows(home: Path, args, repeats: int) -> list[dict]:
    """Inspect's epoch slider: opening a run's epochs, then each move to another epoch."""
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.explain.replay import EpochReplay
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset
    from ui.figures import images, learning

    store = RunStore(home)
    image = load_dataset("fashion_mnist").x_test[0]
    names = [str(i) for i in range(10)]
    rows = []
    for name in ("quick", "seed-cnn"):
        print(f"training {name} for {SCRUB_EPOCHS} epochs to replay them", flush=True)
        spec = preset(name).replace(epochs=SCRUB_EPOCHS)
        job, _ = run_job(spec, store, limit_train=2000 if args.smoke else 3000, limit_test=500)
        checkpoints = store.checkpoints(job.run_id)
        started = time.perf_counter()
        replay = EpochReplay(spec, checkpoints)
        opened = (time.perf_counter() - started) * 1000
        rows.append(latency_row(f"epoch scrubber: opening {len(replay.epochs)} stored epochs "
                                f"(once per run, cached), {name}", [opened]))
        epochs = itertools.cycle(replay.epochs)

        def move() -> None:
            maps, probs = replay.features(next(epochs), image)
            for fm in maps:
                images.mosaic(fm.maps, fm.name).to_json()
            learning.epoch_answers(replay.epochs, replay.class_probabilities(image), names,
                                   0).to_json()

        rows.append(latency_row(f"epoch scrubber: feature maps + mosaics + answers by epoch "
                                f"at another epoch, {name}", timed(move, max(10, repeats // 4)),
                                SCRUB_P95_MS))
    return rows


if __name__ == "__main__":
    main()
