"""Whose pages are open: the grace a closed tab gets, the sessions that ended, and a failing
reaper logged without flooding the log."""

import logging

import pytest

from ui.sessions import RepeatedFailure, absent_grace, open_owners


@pytest.mark.parametrize("value,grace", [(None, 15), ("40", 40), ("1", 3), ("soon", 15)])
def test_the_grace_a_closed_tab_gets_is_set_by_the_environment(monkeypatch, value, grace):
    if value is None:
        monkeypatch.delenv("STUDIO_ABSENT_GRACE_SECONDS", raising=False)
    else:
        monkeypatch.setenv("STUDIO_ABSENT_GRACE_SECONDS", value)
    assert absent_grace() == grace


def test_the_sessions_that_ended_are_forgotten_and_their_owners_absent():
    sessions = {"s1": "ann", "s2": "bob", "s3": "ann"}
    assert open_owners(sessions, lambda session_id: session_id != "s2") == {"ann"}
    assert sessions == {"s1": "ann", "s3": "ann"}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fail(failures: RepeatedFailure, err: Exception) -> None:
    try:
        raise err
    except Exception:
        failures.failed()


def test_a_failure_that_repeats_is_logged_once_a_minute_and_when_its_kind_changes(caplog):
    clock = Clock()
    failures = RepeatedFailure(logging.getLogger("test.reaper"), "The update", "it tries again",
                               every=60.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.reaper"):
        for second in range(0, 125, 5):  # the database away for two minutes, every 5 s
            clock.now = second
            fail(failures, ConnectionError("away"))
        fail(failures, OSError("disk"))  # another kind: said at once
        failures.recovered()
        failures.recovered()  # said once
    ours = [r for r in caplog.records if r.name == "test.reaper"]  # not another library's
    lines = [r.getMessage() for r in ours]
    assert lines == ["The update failed; it tries again (ConnectionError).",
                     "The update failed; it tries again (ConnectionError, 12 times since the "
                     "last report).",
                     "The update failed; it tries again (ConnectionError, 12 times since the "
                     "last report).",
                     "The update failed; it tries again (OSError).",
                     "The update works again."]
    assert all(r.exc_info for r in ours[:4])


def test_the_reaper_ends_with_its_server(monkeypatch, tmp_path):
    """An AppTest's server ends with its test: its reaper must not go on writing to a store
    whose folder is gone."""
    import threading

    from fmnist_core.store.runs import RunStore
    from ui import sessions

    monkeypatch.setattr(sessions, "SESSION_CHECK_SECONDS", 0.01)
    store = RunStore(tmp_path / "home")
    ended = object()  # no server is running in this process: any instance is an ended one
    reaper = threading.Thread(target=sessions._reap, args=(ended, store), daemon=True)
    reaper.start()
    reaper.join(30)
    assert not reaper.is_alive(), "the reaper of an ended server goes on"
