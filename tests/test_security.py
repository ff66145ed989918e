"""Server settings, model loading and who may touch which run."""

import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import preset

ROOT = Path(__file__).resolve().parents[1]


def test_server_settings_protect_a_classroom():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] <= 5
    assert config["server"]["maxMessageSize"] <= 8  # a drawing needs 0.4 MB
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["browser"]["gatherUsageStats"] is False
    # a full garbage collection after every rerun costs a polling class a core
    assert config["runner"]["postScriptGC"] is False


def test_pillow_guard_is_lowered_to_the_studios_limit():
    from fmnist_core.data import decoding

    assert Image.MAX_IMAGE_PIXELS == decoding.MAX_IMAGE_PIXELS == 4096 * 4096


def test_uploads_take_pictures_only_never_model_files():
    source = (ROOT / "pages" / "predict.py").read_text()
    namespace: dict = {}
    exec(next(line for line in source.splitlines() if line.startswith("UPLOAD_TYPES")),
         namespace)
    assert set(namespace["UPLOAD_TYPES"]) <= {"png", "jpg", "jpeg", "webp", "gif", "bmp", "tif",
                                              "tiff"}
    assert source.count("st.file_uploader") == 1
    assert "load_model" not in source


def test_stored_models_load_in_safe_mode(tmp_path):
    import keras

    store = RunStore(tmp_path)
    run_id = store.create_run(preset("dense"), "alice", status="completed")
    inputs = keras.Input((28, 28))
    # a Lambda layer carries Python bytecode: exactly what safe mode refuses to run
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(store.model_file(run_id))
    with pytest.raises(ValueError, match="safe_mode"):
        store.load_model(run_id)


def test_safe_mode_still_loads_the_studios_own_models(tmp_path):
    from fmnist_core.nets.model import build_model

    store = RunStore(tmp_path)
    run_id = store.create_run(preset("quick"), "alice", status="completed")
    store.save_model(run_id, build_model(preset("quick")))
    model = store.load_model(run_id)
    assert model(np.zeros((1, 28, 28), np.uint8)).shape == (1, 10)


def test_the_store_that_holds_the_signing_key_is_this_users_only(tmp_path):
    import os
    import shutil
    import stat
    import subprocess

    from fmnist_core.nets.model import build_model

    home = tmp_path / "studio"
    home.mkdir(mode=0o755)  # an existing folder anyone could enter
    store = RunStore(home)
    store.secret()  # written into the database
    run_id = store.create_run(preset("dense"), "alice", status="completed")
    store.save_model(run_id, build_model(preset("dense")))
    store.write_run_file(run_id, "epoch-001.weights.h5", lambda path: path.write_bytes(b"w"))
    for path in (home, home / "models"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in [home / "runs.sqlite", *store.run_files(run_id)]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # the attack: another user of the machine reads the key out of the file and signs
    # themselves any student's token
    if os.getuid() == 0 and shutil.which("runuser"):
        tmp_path.chmod(0o755)
        read = subprocess.run(["runuser", "-u", "nobody", "--", "cat",
                               str(home / "runs.sqlite")], capture_output=True)
        assert read.returncode != 0 and b"Permission denied" in read.stderr
