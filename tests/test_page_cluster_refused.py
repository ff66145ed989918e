"""A Ray cluster that refuses the studio (a wrong token) blocks only Start: every page
renders at once, and the cluster is asked again once a minute, by the Train page only."""

import time

import pytest

from fmnist_core.training.cluster import ClusterUnavailableError
from pagetools import page_test, page_text
from ui import process_wide, resources

REFUSAL = ("The Ray cluster at head.school.lan:6379 did not let the studio in; check that "
           "RAY_AUTH_MODE=token and its RAY_AUTH_TOKEN are set for the studio too.")


@pytest.fixture
def refusing_cluster(monkeypatch):
    """Every try to make the server's executor is refused as a wrong token is; returns the
    list of tries. The pages hold their process-wide objects in a dict of this test's (and
    the process's queue stays aside)."""
    tries = []
    objects: dict = {}
    monkeypatch.setattr(process_wide, "held", lambda: objects)
    monkeypatch.setattr(resources, "held", lambda: objects)

    def refuse(slots: int = 1):
        tries.append(slots)
        raise ClusterUnavailableError(REFUSAL)

    monkeypatch.setattr(resources, "executor_from_env", refuse)
    return tries


def titles(at) -> list[str]:
    return [t.value for t in at.title]


def test_a_refused_cluster_blocks_only_start_and_is_asked_again_once_a_minute(
        refusing_cluster):
    at = page_test("pages/data.py")
    assert not at.exception, at.exception
    assert titles(at) == ["Data"] and REFUSAL not in page_text(at)
    assert "Trainings cannot start now" in page_text(at)  # the sidebar
    assert len(refusing_cluster) == 1  # the first page view asked

    for page, title in (("pages/runs.py", "Runs"), ("pages/inspect.py", "Inspect"),
                        ("pages/data.py", "Data")):
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert titles(at) == [title] and not at.error, page_text(at)
    at.run()  # a rerun of the same page
    assert len(refusing_cluster) == 1  # remembered: no page asked again

    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert titles(at) == ["Train"] and "862,410" in page_text(at)  # the form and its preview
    assert at.selectbox(key="preset").value == "seed-cnn"
    assert [e.value for e in at.error] == [REFUSAL]  # in Start's place
    assert not [b for b in at.button if b.key == "start"]
    assert len(refusing_cluster) == 1  # within the minute, not even the Train page asks

    # a minute later the Train page asks again (once), and the other pages still do not
    objects = process_wide.held()
    sentence, refused_at = objects["cluster_refusal"]
    objects["cluster_refusal"] = (sentence, refused_at - resources.CLUSTER_RETRY_SECONDS - 1)
    at.switch_page("pages/runs.py").run()
    assert len(refusing_cluster) == 1
    at.switch_page("pages/train.py").run()
    assert len(refusing_cluster) == 2 and [e.value for e in at.error] == [REFUSAL]
    assert time.monotonic() - objects["cluster_refusal"][1] < resources.CLUSTER_RETRY_SECONDS
    at.run()
    assert len(refusing_cluster) == 2
