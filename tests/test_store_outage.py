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
