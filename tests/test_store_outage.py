"""The run store's database away, as a page shows it: one sentence, never a traceback, and a
check that brings the page back (ui/store_outage.py `run_page`, `read_or_say`; ui/resources.py
`run_store`)."""

from streamlit.testing.v1 import AppTest

# the functions below run as scripts of their own (AppTest.from_function): this is theirs

SENTENCE = ("The saved runs cannot be reached right now, since their database (PostgreSQL at "
            "db.school/studio) does not answer; this page comes back by itself once it does.")


def page_that_loses_the_database():
    import streamlit as st

    from fmnist_core.store.db import StoreUnavailableError
    from ui import store_outage

    SENTENCE = ("The saved runs cannot be reached right now, since their database (PostgreSQL "
                "at db.school/studio) does not answer; this page comes back by itself once "
                "it does.")

    class Page:
        def run(self):
            st.title("Runs")
            where = st.session_state.get("where", "page")
            if where == "page":
                raise StoreUnavailableError(SENTENCE)

            @st.fragment(run_every=1.0)
            def live():
                try:
                    raise StoreUnavailableError(SENTENCE)
                except StoreUnavailableError as err:
                    raise KeyError("wrapped") from err  # a helper that re-raised it

            live()
            st.caption("after the fragment")

    store_outage.run_page(Page())


def page_whose_fragment_reads_first():
    import streamlit as st

    from fmnist_core.store.db import StoreUnavailableError
    from ui import store_outage

    SENTENCE = ("The saved runs cannot be reached right now, since their database (PostgreSQL "
                "at db.school/studio) does not answer; this page comes back by itself once "
                "it does.")

    def read():
        if st.session_state.get("away"):
            raise StoreUnavailableError(SENTENCE)
        return 7

    @st.fragment(run_every=1.0)
    def live():
        value = store_outage.read_or_say(read)
        if value is None:
            return
        st.metric("Epoch", value)
        st.caption("drawn from the store")

    st.title("Train")
    live()


def page_with_another_error():
    from ui import store_outage

    class Page:
        def run(self):
            raise ValueError("a bug, not the database")

    store_outage.run_page(Page())


def outage_test(where: str) -> AppTest:
    at = AppTest.from_function(page_that_loses_the_database, args=(), default_timeout=30)
    at.session_state["where"] = where
    at.run()
    return at


def test_the_database_away_in_a_page_is_one_sentence():
    at = outage_test("page")
    assert not at.exception
    assert [e.value for e in at.error] == [SENTENCE]
    assert at.title[0].value == "Runs"  # what was drawn before stays


def test_the_database_away_in_a_fragment_is_one_sentence_in_its_place():
    at = outage_test("fragment")
    assert not at.exception
    assert [e.value for e in at.error] == [SENTENCE]


def test_other_errors_are_not_hidden():
    at = AppTest.from_function(page_with_another_error, default_timeout=30)
    at.run()
    assert at.exception and not at.error


def test_a_polling_fragment_that_reads_first_is_the_sentence_alone_and_comes_back():
    at = AppTest.from_function(page_whose_fragment_reads_first, default_timeout=30)
    at.run()
    assert [m.value for m in at.metric] == ["7"] and not at.error
    at.session_state["away"] = True
    at.run()
    # nothing half drawn: the sentence instead of the fragment, the rest of the page kept
    assert not at.exception
    assert [e.value for e in at.error] == [SENTENCE]
    assert not at.metric and not at.caption and at.title[0].value == "Train"
    at.session_state["away"] = False
    at.run()
    assert [m.value for m in at.metric] == ["7"] and not at.error


def test_read_or_say_lets_other_errors_through():
    import pytest

    from ui import store_outage

    def broken():
        raise ValueError("a bug, not the database")

    with pytest.raises(ValueError, match="a bug"):
        store_outage.read_or_say(broken)


def pages_store(monkeypatch):
    """A run store of this test's that the pages use (their process-wide objects)."""
    from fmnist_core.store.runs import RunStore
    from ui import process_wide, resources

    store = RunStore()
    objects = {"run_store": store}
    monkeypatch.setattr(process_wide, "held", lambda: objects)
    monkeypatch.setattr(resources, "held", lambda: objects)
    return store


def away(*args, **kwargs):
    """A read of the run store while its database is away."""
    from fmnist_core.store.db import StoreUnavailableError

    raise StoreUnavailableError(SENTENCE)


def test_a_fresh_page_view_while_the_database_is_away_logs_one_line_and_draws_the_page(
        monkeypatch):
    import logging

    from pagetools import page_test

    store = pages_store(monkeypatch)

    monkeypatch.setattr(store, "owner_names", away)  # the sidebar's name field reads it
    records: list[logging.LogRecord] = []
    catcher = logging.Handler(logging.WARNING)
    catcher.emit = records.append  # the package's own handlers may not propagate
    logging.getLogger("ui.sidebar").addHandler(catcher)
    try:
        at = page_test("pages/data.py")
    finally:
        logging.getLogger("ui.sidebar").removeHandler(catcher)
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["Data"]  # the page, not the sentence alone
    assert "Your name and runs come back here" in " ".join(c.value for c in at.sidebar.caption)
    (line,) = records
    assert line.exc_info is None and SENTENCE in line.getMessage()


def test_a_page_that_needs_no_saved_run_knows_its_browser_while_the_database_is_away(
        monkeypatch):
    from pagetools import page_test
    from ui import identity

    store = pages_store(monkeypatch)
    assert not page_test("pages/data.py").exception  # the server reads its signing key

    for read in ("secret", "owner_names"):
        monkeypatch.setattr(store, read, away)
    identity._fresh_secret.clear()  # its time to read the key again has come
    at = page_test("pages/data.py")
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["Data"]  # the page, not the sentence alone

    identity._known_secret.clear()  # a server that never read it: the sentence
    at = page_test("pages/data.py")
    assert not at.exception and [e.value for e in at.error] == [SENTENCE]


def test_a_result_that_waits_for_the_database_keeps_the_page_looking_until_saved():
    from fmnist_core.training.job import STORE_AWAY
    from ui.store_outage import STORE_CHECK_SECONDS
    from ui.train_view import refresh_seconds

    assert refresh_seconds({"status": "running"}, done=False) == 1.0
    assert refresh_seconds({"status": "queued"}, done=False) == 3.0
    ended = {"status": "completed", "store_error": STORE_AWAY}
    assert refresh_seconds(ended, done=True) == STORE_CHECK_SECONDS
    assert refresh_seconds({"status": "completed"}, done=True) is None  # saved: still
    # a write that failed for good (a full disk) is said, and no polling brings it back
    full = {"status": "completed", "store_error": "The run store could not be written (x)."}
    assert refresh_seconds(full, done=True) is None
