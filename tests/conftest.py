"""Shared fixtures: small slices of the real Fashion-MNIST, a throwaway run store."""

import os
import tempfile
import uuid
from pathlib import Path

# Offline and quiet before anything imports Keras.
os.environ["STUDIO_NO_DOWNLOAD"] = "1"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The pages (AppTest) share one process-wide run store and small data slices.
_APP_HOME = tempfile.mkdtemp(prefix="studio-apptest-")
os.environ["STUDIO_HOME"] = _APP_HOME
os.environ["STUDIO_TRAIN_LIMIT"] = "1000"
os.environ["STUDIO_TEST_LIMIT"] = "500"
# Pages under AppTest train in threads, where a test can inject a fault (a full disk);
# tests/test_worker.py and the browser tests cover worker processes.
os.environ["STUDIO_TRAINING_WORKER"] = "thread"
# Float32 arithmetic, so every figure the tests check is the same on every CPU (by default a
# CPU with bfloat16 instructions trains in bfloat16); tests/test_precision.py covers that.
os.environ.setdefault("STUDIO_PRECISION", "float32")

import pytest  # noqa: E402

from fmnist_core.data.datasets import load_dataset  # noqa: E402
from fmnist_core.store.runs import RunStore  # noqa: E402


@pytest.fixture(scope="session")
def fashion():
    """The real Fashion-MNIST (loaded once, read-only)."""
    return load_dataset("fashion_mnist")


@pytest.fixture(scope="session")
def small_data(fashion):
    """2,000 training and 500 test images of the real data."""
    return fashion.subset(limit_train=2000, limit_test=500)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "databases(*names): run the test's `store` on each of these databases "
        "(\"sqlite\", \"postgresql\")")


def pytest_generate_tests(metafunc):
    """`@pytest.mark.databases("sqlite", "postgresql")` (on a test or a module) runs every
    test that uses `store` once per database; unmarked tests use SQLite."""
    marker = metafunc.definition.get_closest_marker("databases")
    if marker is not None and "database" in metafunc.fixturenames:
        metafunc.parametrize("database", marker.args, indirect=True)


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of this test session (tests/pgserver.py), started on first use and
    stopped at the end; skipped where Debian's postgresql is not installed (make postgres)."""
    from pgserver import PostgresServer

    server = PostgresServer.find()
    if server is None:
        pytest.skip("Debian's postgresql is not installed (make postgres)")
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def database(request):
    """The database of `store`: "sqlite" unless the test is parametrised (`databases`)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(database, request):
    """None for SQLite in STUDIO_HOME; else the URL of a new PostgreSQL database of this test
    (dropped after it)."""
    if database == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres")
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield server.create_database(name)
    if server.running:
        server.drop_database(name)


@pytest.fixture
def make_store(tmp_path, database_url):
    """Opens a RunStore on the test's database and STUDIO_HOME, as a server (re)starting
    would; every store it made is closed after the test."""
    made = []

    def make(**kwargs):
        made.append(RunStore(tmp_path / "studio", database_url, **kwargs))
        return made[-1]

    yield make
    for opened in made:
        opened.close()


@pytest.fixture
def store(make_store):
    return make_store()


@pytest.fixture(scope="session")
def app_home():
    """STUDIO_HOME of the pages under AppTest."""
    return Path(_APP_HOME)


@pytest.fixture(scope="session", autouse=True)
def pages_queues_closed():
    """Every queue made on the pages' shared run store is closed at the end of the session,
    before its folder is removed, so no queue's tick outlives its store (each AppTest has a
    runtime of its own, and so a queue of its own, which nothing else closes)."""
    from fmnist_core.training.jobqueue import JobQueue

    made = []
    real_init = JobQueue.__init__

    def init(queue, *args, **kwargs):
        real_init(queue, *args, **kwargs)
        if queue.store.home == Path(_APP_HOME):
            made.append(queue)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobQueue, "__init__", init)
        yield
    for queue in made:
        queue.close()


@pytest.fixture(scope="session")
def trained_run(app_home, small_data):
    """A finished run (quick preset, 1 epoch on 2,000 images) in the pages' run store,
    owned by "someone-else"; returns its id."""
    from fmnist_core.nets.spec import preset
    from fmnist_core.training.job import TrainingJob

    job = TrainingJob(preset("quick").replace(epochs=1), "someone-else", RunStore(app_home),
                      dataset=small_data)
    job.start()
    assert job.wait(120) and job.status == "completed", job.snapshot()["message"]
    return job.run_id



def pytest_sessionfinish(session, exitstatus):
    """The pages' shared run store is a temporary folder: remove it."""
    import shutil

    shutil.rmtree(_APP_HOME, ignore_errors=True)
