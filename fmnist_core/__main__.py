"""Command line: python -m fmnist_core describe | train | predict | runs.

Spec flags use the spec's field names: `--filters 32,64 --kernel-size 5 --pooling avg`.
Errors are one sentence on stderr with exit code 2, never a traceback. Only the studio's own
lines reach stderr; `--verbose` also shows the backend's start-up log.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, NoReturn, Sequence

from fmnist_core.nets.spec import ModelSpec, preset, presets


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, received {text!r}")


def _filters(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, received {text!r}") from None


def _optional_float(text: str) -> float | None:
    return None if text.lower() in ("none", "off", "") else float(text)


_FIELD_TYPES = {"filters": _filters, "batch_norm": _bool, "test_flip": _bool,
                "target_accuracy": _optional_float, "train_images": int}


def _add_spec_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(presets()),
                        help="start from a named spec; flags below override its fields")
    group = parser.add_argument_group("spec fields (see fmnist_core/nets/spec.py)")
    for field in dataclasses.fields(ModelSpec):
        kind = _FIELD_TYPES.get(field.name) or type(field.default)
        group.add_argument("--" + field.name.replace("_", "-"), dest=field.name, type=kind,
                           default=None, help=f"default {field.default!r}")


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The preset (or default spec) with every given flag applied; ValueError if invalid."""
    base = preset(args.preset) if args.preset else ModelSpec()
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(ModelSpec)
               if getattr(args, f.name, None) is not None}
    return base.replace(**changes)


def _cmd_describe(args: argparse.Namespace) -> int:
    from fmnist_core.nets.anatomy import describe

    spec = spec_from_args(args)
    info = describe(spec)
    if args.json:
        print(json.dumps({"spec": spec.to_dict(), **info}))
        return 0
    print(spec.summary())
    print(f"{'layer':<16}{'type':<22}{'output shape':<18}{'params':>10}")
    for row in info["layers"]:
        shape = "×".join(str(d) for d in row["output_shape"])
        print(f"{row['name']:<16}{row['type']:<22}{shape:<18}{row['params']:>10,}")
    print(f"total params: {info['total_params']:,}  "
          f"training: {info['train_flops_per_image'] / 1e6:.1f} MFLOP per image, "
          f"{info['train_flops_per_epoch'] / 1e12:.2f} TFLOP per epoch")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from fmnist_core.nets import precision
    from fmnist_core.data.datasets import load_dataset
    from fmnist_core.training.executor_choice import executor_from_env
    from fmnist_core.training.executors import ThreadExecutor
    from fmnist_core.training.job import TrainingJob
    from fmnist_core.nets.limits import RunLimits
    from fmnist_core.store import owners, settings
    from fmnist_core.store.runs import RunStore

    spec = spec_from_args(args)
    store = RunStore(args.home) if args.home else RunStore()
    # what a run may cost here, as for a student's run: a spec beyond it is one sentence
    limits = RunLimits.from_env()
    data = load_dataset(spec.dataset)
    n_train = spec.images(len(data.x_train))
    # the class's settings kept in this store hold for a run from here too
    settings.load(store.db, classroom=owners.teacher_passcode() is not None).check(
        spec, n_train)
    n_val = int(n_train * spec.validation_split)
    n_test = min(args.limit_test or len(data.x_test), len(data.x_test))
    limits.check(spec, n_train - n_val, n_val, n_test, store=store,
                 policy=precision.expected_policy(None))
    # a cluster (--ray or STUDIO_RAY_ADDRESS) that cannot be used is exit code 2, never a
    # training on this machine instead
    executor = executor_from_env(address=args.ray, local=ThreadExecutor())
    run_id = store.create_run(spec, args.owner, executor=executor.name)
    job = TrainingJob(spec, owner=args.owner, store=store, limit_train=spec.train_limit(),
                      limit_test=args.limit_test, time_limit=limits.max_seconds,
                      run_id=run_id)
    print(f"run {job.run_id} on {executor.where()}: {spec.summary()}", file=sys.stderr)
    if executor.name == ThreadExecutor.name:
        # the run's estimate rests on this machine's pace, measured now (about a second)
        from fmnist_core.training.pace_keeper import PaceKeeper

        keeper = PaceKeeper(one_run=True)
        keeper.use(store)
        keeper.calibrate()
    executor.start(job)
    reported = 0
    try:
        while not job.wait(0.5):
            reported = _print_epochs(job.snapshot(), reported)
    except KeyboardInterrupt:
        job.stop()
        job.wait()
    snap = job.snapshot()
    _print_epochs(snap, reported)
    run = store.get_run(job.run_id)
    result = {
        "run_id": job.run_id,
        "status": snap["status"],
        "message": snap["message"],
        "epochs_run": run["epochs_run"],
        "test_accuracy": snap["test_accuracy"],
        "test_loss": snap["test_loss"],
        "seconds": run["train_seconds"],
        "total_seconds": run["total_seconds"],
        "model_path": snap["model_path"],
        "device": snap["device"],
        "params": run["params"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{snap['status']}: {snap['message']}")
        if snap["test_accuracy"] is not None:
            print(f"test accuracy {snap['test_accuracy']:.4f}, loss {snap['test_loss']:.4f}, "
                  f"fit {run['train_seconds']:.1f} s, model {snap['model_path']}")
    return 0 if snap["status"] in ("completed", "stopped") else 1


def _print_epochs(snap: dict[str, Any], reported: int) -> int:
    for row in snap["history"][reported:]:
        val = (f", val_loss {row['val_loss']:.4f}, val_accuracy {row['val_accuracy']:.4f}"
               if "val_accuracy" in row else "")
        print(f"epoch {row['epoch']}/{snap['epochs']}: loss {row['loss']:.4f}, "
              f"accuracy {row['accuracy']:.4f}{val} ({row['seconds']:.1f} s)", file=sys.stderr)
    return len(snap["history"])


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from fmnist_core.data.datasets import class_names
    from fmnist_core.data.decoding import ImageError
    from fmnist_core.data.preprocessing import preprocess
    from fmnist_core.store.records import validate_run_id
    from fmnist_core.store.runs import RunStore

    store = RunStore(args.home) if args.home else RunStore()
    run = store.get_run(validate_run_id(args.run))
    dataset = run["spec"].dataset
    # every file is read before the backend loads, so a wrong one is refused at once
    files, images, status = [], [], 0
    for file in args.images:
        try:
            images.append(preprocess(Path(file).read_bytes(), dataset=dataset).image)
            files.append(file)
        except (OSError, ImageError) as err:
            print(f"{_printable(file)}: {_sentence(err)}", file=sys.stderr)
            status = 2
    if not images:
        return status
    model = store.load_model(args.run)
    from fmnist_core.explain import ood  # imports Keras, so only once every file has been read

    check_file = store.run_file(args.run, ood.FILE_NAME)
    try:
        check = ood.OodModel.load(check_file) if check_file.is_file() else None
    except ValueError:
        check = None  # unreadable: answered without the unusual-input check, as an old run
    batch = np.stack(images)
    probs = np.asarray(model.predict(batch, verbose=0))
    scores = check.score(model, batch) if check is not None else [None] * len(batch)
    names = class_names(dataset)
    for file, row, score in zip(files, probs, scores):
        top = [{"class": names[i], "probability": round(float(row[i]), 4)}
               for i in np.argsort(row)[::-1][: args.top]]
        unusual = None if score is None else bool(score > check.threshold)
        if args.json:
            print(json.dumps({"file": file, "top": top,
                              "ood_score": None if score is None else round(float(score), 4),
                              "unusual": unusual}))
        else:
            note = (" (unlike the training images: the answer may be a guess)" if unusual
                    else "")
            answers = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in top)
            print(f"{_printable(file)}: {answers}{note}")
    return status


def _cmd_runs(args: argparse.Namespace) -> int:
    from fmnist_core.store.runs import RunStore

    store = RunStore(args.home) if args.home else RunStore()
    if args.runs_command == "export":
        return _export(store, args)
    runs = store.list_runs()
    if args.json:
        rows = [{**run, "spec": run["spec"].to_dict()} for run in runs]
        print(json.dumps(rows))
        return 0
    if not runs:
        print(f"No runs yet in {_printable(str(store.home))}.")
    for run in runs:
        acc = f"{run['test_accuracy']:.4f}" if run["test_accuracy"] is not None else "-"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["created"]))
        print(f"{run['id']}  {when}  {run['status']:<11} test {acc:<7} "
              f"{run['owner']:<10} {run['spec'].summary()}")
    return 0


def _export(store, args: argparse.Namespace) -> int:
    """`runs export RUN --csv FILE --tensorboard DIR --notebook FILE.ipynb --script FILE.py
    --tflite FILE.tflite`: the run's history, its recipe as code, its model for TFLite."""
    from fmnist_core.export import history
    from fmnist_core.store.records import validate_run_id

    run_id = validate_run_id(args.run)
    run = store.get_run(run_id)  # one sentence for a run that does not exist
    if not any((args.csv, args.tensorboard, args.notebook, args.script, args.tflite)):
        raise ValueError("Say where to export: --csv FILE, --tensorboard DIR, --notebook "
                         "FILE.ipynb, --script FILE.py or --tflite FILE.tflite.")
    if args.csv:
        _wrote(history.write_csv(store, run_id, args.csv))
    if args.tensorboard:
        try:
            folder = history.write_tensorboard(store, run_id, args.tensorboard)
        except RuntimeError as err:
            raise ValueError(str(err)) from err
        _wrote(folder, f" (tensorboard --logdir {_printable(args.tensorboard)})")
    _export_code(run, args)
    if args.tflite:
        from fmnist_core.export import tflite

        try:
            _wrote(tflite.write_tflite(store, run_id, args.tflite))
        except RuntimeError as err:
            raise ValueError(str(err)) from err
    return 0


def _export_code(run: dict[str, Any], args: argparse.Namespace) -> None:
    """The run's recipe as a notebook and/or a script, where the flags say."""
    from fmnist_core.export import code, notebook
    from fmnist_core.export.steps import Origin

    origin = Origin.of_run(run)
    if args.notebook:
        try:
            text = notebook.notebook_text(run["spec"], origin)
        except RuntimeError as err:
            raise ValueError(str(err)) from err
        Path(args.notebook).write_text(text)
        _wrote(Path(args.notebook), f" (jupyter lab {_printable(args.notebook)})")
    if args.script:
        Path(args.script).write_text(code.script_text(run["spec"], origin))
        _wrote(Path(args.script), f" (python {_printable(args.script)})")


def _wrote(path: Path, how: str = "") -> None:
    print(f"wrote {_printable(str(path))}{how}", file=sys.stderr)


def _sentence(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if isinstance(err, OSError) and err.strerror:
        text = f"{err.strerror} ({err.filename})" if err.filename else err.strerror
    return _printable(text.splitlines()[0]) if text else type(err).__name__


def _printable(text: str) -> str:
    """`text` with what a terminal would not print as it is escaped (line breaks, control
    characters, the surrogates an undecodable file name holds): a file name or an argument
    repeated in a line stays that one line, and stdout can always encode it."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode()
                   for ch in text)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage error on one printable line: the error repeats what was
    typed, and an argument may hold a line break or a terminal's control characters.
    Subcommands' parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        super().error(_printable(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m fmnist_core", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    describe = sub.add_parser("describe", help="layer table, params and FLOPs of a spec")
    _add_spec_flags(describe)
    train = sub.add_parser("train", help="train a spec and store the run")
    _add_spec_flags(train)
    train.add_argument("--limit-train", dest="train_images", type=int, default=None,
                       help="the same as --train-images: train on the first N training "
                            "images (validation included), stored with the run's spec")
    train.add_argument("--limit-test", type=int, default=None,
                       help="evaluate on the first N test images only")
    train.add_argument("--owner", default="cli", help="owner recorded with the run")
    train.add_argument("--ray", metavar="ADDRESS", default=None,
                       help="train on the Ray cluster at host:port (or auto); default "
                            "$STUDIO_RAY_ADDRESS, else on this machine")
    predict = sub.add_parser("predict", help="classify image files with a stored run")
    predict.add_argument("--run", required=True, help="run id (see `runs`)")
    predict.add_argument("--top", type=int, default=3)
    predict.add_argument("images", nargs="+")
    runs = sub.add_parser("runs", help="list stored runs, or export one")
    runs_sub = runs.add_subparsers(dest="runs_command")
    export = runs_sub.add_parser("export", help="a run's history as CSV or TensorBoard files, "
                                 "its recipe as a notebook or script, its model for TFLite")
    export.add_argument("run", help="run id (see `runs`)")
    export.add_argument("--csv", metavar="FILE", help="per-batch and per-epoch figures")
    export.add_argument("--tensorboard", metavar="DIR",
                        help="event files for `tensorboard --logdir DIR`")
    export.add_argument("--notebook", metavar="FILE.ipynb",
                        help="the run's recipe as a Jupyter notebook in plain Keras")
    export.add_argument("--script", metavar="FILE.py",
                        help="the run's recipe as a Python script in plain Keras")
    export.add_argument("--tflite", metavar="FILE.tflite",
                        help="the trained model for a TFLite interpreter (phone, Raspberry Pi)")
    export.add_argument("--home", default=None, help="run store folder (default STUDIO_HOME)")
    for p in (describe, train, predict, runs):
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--verbose", action="store_true",
                       help="also show the backend's own start-up log (TensorFlow's lines)")
    for p in (train, predict, runs):
        p.add_argument("--home", default=None, help="run store folder (default STUDIO_HOME)")
    return parser


@contextlib.contextmanager
def _backend_log_captured(show: bool) -> Iterator[None]:
    """Keeps what the backend's C++ side writes to stderr (TensorFlow's start-up lines)
    off the terminal: file descriptor 2 goes to a temporary file while Python's own
    `sys.stderr` (the studio's lines) keeps the real stderr. `show` (--verbose) leaves
    everything as it is."""
    if show or sys.stderr is not sys.__stderr__:  # --verbose, or stderr is captured already
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    python_stderr = sys.stderr
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        sys.stderr = open(real, "w", buffering=1, closefd=False)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(real, 2)
            sys.stderr.close()
            os.close(real)
            sys.stderr = python_stderr


def main(argv: Sequence[str] | None = None) -> int:
    from fmnist_core import logs

    logs.configure()
    args = build_parser().parse_args(argv)
    command = {"describe": _cmd_describe, "train": _cmd_train, "predict": _cmd_predict,
               "runs": _cmd_runs}[args.command]
    with _backend_log_captured(args.verbose):
        try:
            return command(args)
        except (ValueError, KeyError, PermissionError, OSError) as err:
            print(f"error: {_sentence(err)}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
