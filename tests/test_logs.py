"""Tests for fmnist_core.logs: one place sets up where every module's log lines go."""

import io
import logging

from fmnist_core import logs


def test_a_modules_warning_reaches_the_stream_once_with_its_traceback(monkeypatch):
    monkeypatch.delenv("STUDIO_LOG_LEVEL", raising=False)
    stream = io.StringIO()
    logs.configure(stream=stream)
    logs.configure(stream=stream)  # again: no second handler
    try:
        raise OSError("disk full")
    except OSError:
        logging.getLogger("fmnist_core.training.jobqueue").warning("A write waits.",
                                                                   exc_info=True)
    logging.getLogger("fmnist_core.store.runs").info("not shown at warning")
    text = stream.getvalue()
    assert text.count("WARNING fmnist_core.training.jobqueue: A write waits.") == 1
    assert "OSError: disk full" in text and "not shown" not in text


def test_the_level_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("STUDIO_LOG_LEVEL", "debug")
    assert logs.level_from_env() == logging.DEBUG
    monkeypatch.setenv("STUDIO_LOG_LEVEL", "loud")
    assert logs.level_from_env() == logging.WARNING
    stream = io.StringIO()
    logs.configure(level=logging.INFO, stream=stream)
    logging.getLogger("ui.resources").info("shown at info")
    assert "INFO ui.resources: shown at info" in stream.getvalue()
    import sys

    logs.configure(level=logging.WARNING, stream=sys.stderr)
