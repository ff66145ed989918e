import json
import socket
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.ood import handwritten_digits
from fmnist_core.__main__ import main
from fmnist_core.store.runs import RunStore


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def test_describe_json_says_862410(capsys):
    assert main(["describe", "--preset", "seed-cnn", "--json"]) == 0
    out = last_json(capsys.readouterr().out)
    assert out["total_params"] == 862410
    assert [row["name"] for row in out["layers"]][:3] == ["rescale", "channel", "conv1"]


def test_describe_table_and_spec_flags(capsys):
    assert main(["describe", "--filters", "16,32", "--kernel-size", "5",
                 "--pooling", "avg"]) == 0
    out = capsys.readouterr().out
    assert "Conv 16 5×5 → AvgPool 2 → Conv 32 5×5 → AvgPool 2" in out and "conv2" in out


def test_impossible_spec_is_one_sentence_and_exit_2(capsys):
    assert main(["describe", "--conv-blocks", "3", "--kernel-size", "9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Argument `kernel_size`") and err.count("\n") == 1


def test_a_huge_conv_blocks_is_one_sentence_and_exit_2(capsys):
    assert main(["describe", "--conv-blocks", "1" + "0" * 22]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Argument `conv_blocks` must be an integer from 0 to 3")
    assert err.count("\n") == 1


@pytest.mark.parametrize("typed", ["two\nlines", "\x1b[2J", "\x9b", "\U000711b2"])
def test_a_usage_error_repeats_what_was_typed_on_one_printable_line(capsys, typed):
    with pytest.raises(SystemExit) as done:
        main(["runs", "export", "0123456789ab", typed])
    last = capsys.readouterr().err.split("\n")[-2]
    assert done.value.code == 2 and last.isprintable()
    assert last.startswith("python -m fmnist_core: error: unrecognized arguments: ")
    assert typed.encode("unicode_escape").decode() in last


def test_train_predict_runs_round_trip(tmp_path, capsys, fashion):
    home = str(tmp_path / "home")
    assert main(["train", "--preset", "quick", "--epochs", "1", "--limit-train", "2000",
                 "--limit-test", "500", "--home", home, "--json"]) == 0
    captured = capsys.readouterr()
    result = last_json(captured.out)
    assert {"run_id", "status", "epochs_run", "test_accuracy", "test_loss", "seconds",
            "model_path"} <= set(result)
    assert result["status"] == "completed" and result["epochs_run"] == 1
    assert result["test_accuracy"] > 0.5 and result["seconds"] > 0
    assert "epoch 1/1" in captured.err

    # an ankle boot from the test set, drawn dark on light and enlarged, as a user's photo
    boot = fashion.x_test[np.flatnonzero(fashion.y_test == 9)[0]]
    good = tmp_path / "boot.png"
    Image.fromarray(255 - boot).resize((140, 140)).save(good)
    junk = tmp_path / "junk.png"
    junk.write_text("this is not an image")
    code = main(["predict", "--run", result["run_id"], "--home", home, "--json",
                 str(good), str(junk)])
    captured = capsys.readouterr()
    assert code == 2
    line = json.loads(captured.out.strip().splitlines()[0])
    assert line["file"] == str(good) and len(line["top"]) == 3
    assert sum(t["probability"] for t in line["top"]) <= 1.0001
    assert {"class", "probability"} == set(line["top"][0])
    assert "junk.png" in captured.err and "Traceback" not in captured.err
    # the run's unusual-input check: a garment passes; handwritten digits score higher, though
    # this 1-epoch model lets most of them pass its strict threshold (99 of 100 garments
    # pass it); an X, a shape no garment has, is flagged and said so
    assert isinstance(line["ood_score"], float) and line["unusual"] is False
    pictures = []
    for n, digit in enumerate(handwritten_digits()[:20]):
        pictures.append(str(tmp_path / f"digit-{n}.png"))
        Image.fromarray(255 - digit).resize((140, 140)).save(pictures[-1])
    rows, cols = np.mgrid[0:28, 0:28]
    cross = (abs(rows - cols) < 2) | (abs(rows + cols - 27) < 2)
    pictures.append(str(tmp_path / "cross.png"))
    Image.fromarray(np.where(cross, 0, 255).astype(np.uint8)).resize((140, 140)).save(pictures[-1])
    assert main(["predict", "--run", result["run_id"], "--home", home, "--json",
                 *pictures]) == 0
    lines = [json.loads(text) for text in capsys.readouterr().out.strip().splitlines()]
    assert [line["file"] for line in lines] == pictures
    assert all(isinstance(line["ood_score"], float) for line in lines)
    assert np.median([row["ood_score"] for row in lines[:-1]]) > line["ood_score"] + 2
    assert lines[-1]["unusual"] is True
    assert main(["predict", "--run", result["run_id"], "--home", home, pictures[-1]]) == 0
    assert "unlike the training images" in capsys.readouterr().out

    assert main(["runs", "--home", home, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["id"] == result["run_id"] and runs[0]["spec"]["filters"] == [16]
    # where it trained: this machine (a run on a Ray cluster names its node)
    assert runs[0]["node"] == socket.gethostname()


def test_predict_with_unknown_run_is_a_sentence(tmp_path, capsys):
    assert main(["predict", "--run", "0123456789ab", "--home", str(tmp_path), "x.png"]) == 2
    assert "no run 0123456789ab" in capsys.readouterr().err
    assert main(["predict", "--run", "../../etc", "--home", str(tmp_path), "x.png"]) == 2


def test_a_tensorboard_folder_that_is_a_file_is_one_sentence(tmp_path, capsys):
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    store = RunStore(tmp_path / "home")
    run_id = store.create_run(preset("quick"), "cli")
    store.add_epoch(run_id, 1, {"loss": 2.3, "accuracy": 0.1}, 1.0)
    taken = tmp_path / "taken.csv"
    taken.write_text("already here")
    # once a FailedPreconditionError traceback from TensorFlow's writer
    assert main(["runs", "export", run_id, "--tensorboard", str(taken),
                 "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: Not a directory ({taken / run_id})\n"


def test_a_file_name_is_repeated_on_one_printable_line(tmp_path, capsys):
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    run_id = RunStore(tmp_path / "home").create_run(preset("quick"), "cli")
    # a line break, a terminal's escape and an undecodable byte (as Python reads argv):
    # once repeated raw, splitting the line or writing to the terminal as they were
    name = str(tmp_path / "two\nlines\x1b[2J\udcff.png")
    assert main(["predict", "--run", run_id, "--home", str(tmp_path / "home"), name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err[:-1].isprintable()
    assert "two\\nlines\\x1b[2J\\udcff.png: No such file or directory (" in err


def test_predict_with_a_run_without_the_check_says_null(tmp_path, capsys, fashion):
    from fmnist_core.nets.model import build_model
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    store = RunStore(tmp_path)
    spec = preset("quick").replace(epochs=1)
    run_id = store.create_run(spec, "cli", status="completed")
    store.save_model(run_id, build_model(spec))  # as a run trained before runs kept the check
    picture = tmp_path / "shirt.png"
    Image.fromarray(fashion.x_test[1]).save(picture)
    assert main(["predict", "--run", run_id, "--home", str(tmp_path), "--json",
                 str(picture)]) == 0
    line = last_json(capsys.readouterr().out)
    assert line["ood_score"] is None and line["unusual"] is None and len(line["top"]) == 3


def test_predict_refuses_a_non_image_before_loading_the_backend(tmp_path):
    from fmnist_core.store.runs import RunStore
    from fmnist_core.nets.spec import preset

    run_id = RunStore(tmp_path).create_run(preset("quick"), "cli", status="completed")
    junk = tmp_path / "notes.png"
    junk.write_text("not a picture")
    probe = ("import sys; from fmnist_core.__main__ import main; "
             f"code = main(['predict', '--run', '{run_id}', '--home', r'{tmp_path}', "
             f"r'{junk}']); print(code, any(name.split('.')[0] in ('keras', 'tensorflow') "
             "for name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert "notes.png: The file is not a PNG" in done.stderr and "Traceback" not in done.stderr


def test_bad_flag_value_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["describe", "--filters", "many"])
    assert exit_info.value.code == 2


def test_train_with_an_impossible_spec_starts_no_job(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["train", "--kernel-size", "12", "--home", str(home), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Argument `kernel_size`") and err.count("\n") == 1
    from fmnist_core.store.runs import RunStore

    assert RunStore(home).list_runs() == []


def test_only_the_studios_own_lines_reach_stderr(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-m", "fmnist_core", "describe", "--preset",
                            "quick"], capture_output=True, text=True, timeout=120, env=env)
    assert quiet.returncode == 0 and quiet.stderr == "" and "347,690" in quiet.stdout
    trained = subprocess.run(
        [sys.executable, "-m", "fmnist_core", "train", "--preset", "dense", "--epochs", "1",
         "--limit-train", "500", "--limit-test", "200", "--home", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env)
    assert trained.returncode == 0, trained.stderr
    lines = trained.stderr.splitlines()
    assert lines and all(line.startswith(("run ", "epoch ")) for line in lines), lines
    # on a fresh home the CLI measured the machine's pace before its run, which stored the
    # estimate made from it, per epoch
    listed = subprocess.run([sys.executable, "-m", "fmnist_core", "runs", "--json", "--home",
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    (run,) = json.loads(listed.stdout)
    assert run["estimate_seconds"] > 0
    store = RunStore(tmp_path)
    assert store.get_run(run["id"])["progress"]["estimate_paced"] is True
    assert run["device"] in {row["device"] for row in store.paces()}
    loud = subprocess.run([sys.executable, "-m", "fmnist_core", "describe", "--preset",
                           "quick", "--verbose"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert loud.returncode == 0 and loud.stdout == quiet.stdout


def test_train_beyond_the_class_settings_of_its_store_is_one_sentence(tmp_path, capsys,
                                                                       monkeypatch):
    from fmnist_core.store import settings
    from fmnist_core.store.runs import RunStore

    home = tmp_path / "home"
    store = RunStore(home)
    settings.save(store.db, settings.ClassSettings(train_images=2_000, max_epochs=3))
    assert main(["train", "--preset", "quick", "--epochs", "4", "--train-images", "2000",
                 "--home", str(home)]) == 2
    assert capsys.readouterr().err == (
        "error: Your teacher set at most 3 epochs for this class; choose 3 or fewer.\n")
    assert main(["train", "--preset", "quick", "--home", str(home)]) == 2  # all 60,000
    assert capsys.readouterr().err == ("error: Your teacher set at most 2,000 training images "
                                       "per run for this class; choose 2,000 or fewer.\n")
    assert store.list_runs() == []
    # nothing saved, and a teacher's passcode where it runs: a class's defaults
    settings.clear(store.db)
    monkeypatch.setenv("STUDIO_TEACHER_PASSCODE", "blue-heron-42")
    assert main(["train", "--preset", "best", "--home", str(home)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: Your teacher set at most {settings.CLASS_MAX_EPOCHS} epochs")
    assert store.list_runs() == []


def test_a_run_exports_as_a_notebook_a_script_and_tflite(tmp_path, capsys):
    import ast

    import nbformat

    from fmnist_core.nets.model import build_model
    from fmnist_core.nets.spec import preset
    from fmnist_core.store.runs import RunStore

    home = tmp_path / "home"
    store = RunStore(home)
    spec = preset("quick")
    run_id = store.create_run(spec, "cli")
    store.write_model_file(run_id, build_model(spec))
    store.finish_run(run_id, "completed", test_accuracy=0.9068)
    book, script, lite = tmp_path / "run.ipynb", tmp_path / "run.py", tmp_path / "run.tflite"
    assert main(["runs", "export", run_id, "--home", str(home), "--notebook", str(book),
                 "--script", str(script), "--tflite", str(lite)]) == 0
    err = capsys.readouterr().err
    assert [line.split(" ")[1] for line in err.splitlines()] == [str(book), str(script),
                                                                 str(lite)]
    read = nbformat.read(book, as_version=4)
    nbformat.validate(read)
    first = next(cell for cell in read.cells if cell.cell_type == "code")
    assert first.metadata["tags"] == ["parameters"] and "epochs = 3" in first.source
    assert "90.68%" in read.cells[0].source
    text = script.read_text()
    ast.parse(text)
    assert "default=3" in text and "CosineDecay(" in text and "fmnist_core" not in text
    assert lite.read_bytes()[4:8] == b"TFL3"  # the FlatBuffer's file identifier


def test_the_code_and_tflite_exports_refuse_in_one_sentence(tmp_path, capsys):
    from fmnist_core.nets.spec import preset
    from fmnist_core.store.runs import RunStore

    home = tmp_path / "home"
    store = RunStore(home)
    run_id = store.create_run(preset("quick"), "cli")
    store.finish_run(run_id, "diverged")
    assert main(["runs", "export", run_id, "--home", str(home)]) == 2
    assert capsys.readouterr().err == (
        "error: Say where to export: --csv FILE, --tensorboard DIR, --notebook FILE.ipynb, "
        "--script FILE.py or --tflite FILE.tflite.\n")
    lite = tmp_path / "run.tflite"
    assert main(["runs", "export", run_id, "--home", str(home), "--tflite", str(lite)]) == 2
    assert capsys.readouterr().err == (
        f"error: Run {run_id} has no saved model to convert to TFLite: it did not learn, so "
        "no model was saved.\n")
    assert not lite.exists()
    # its recipe is still there to take home: a diverged run's code can be run and changed
    script = tmp_path / "run.py"
    assert main(["runs", "export", run_id, "--home", str(home), "--script", str(script)]) == 0
    assert "keras.Sequential" in script.read_text()
    assert capsys.readouterr().err == f"wrote {script} (python {script})\n"
    missing = tmp_path / "no" / "such" / "folder" / "run.ipynb"
    assert main(["runs", "export", run_id, "--home", str(home), "--notebook",
                 str(missing)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
