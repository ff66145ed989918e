"""Attacks on a classroom server, sent the way a student's script would send them: Streamlit's
websocket protocol from a client that is no browser (bench/stclient.py), from addresses of
their own on the loopback network (127.0.0.2 and up: one machine plays several laptops).

Nothing a student sends may reset the server, lock the teacher out or hold the class.
"""

import asyncio
import concurrent.futures
import urllib.parse

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg

from bench.common import CHROMIUM, process_tree, studio_server
from bench.stclient import Session
from browsertools import open_class
from fmnist_core.nets import links
from fmnist_core.store.runs import RunStore
from fmnist_core.nets.spec import ModelSpec

PASSCODE = "heron-lantern-maple-41"
WRONG = "Too many wrong tries"
NOT_RIGHT = "That passcode is not right"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A studio of this module's own: (url, its process, its STUDIO_HOME)."""
    if not __import__("pathlib").Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make browser)")
    home = tmp_path_factory.mktemp("attacks-home")
    open_class(home)  # the cost limit, not a lesson's 3 epochs, refuses the 159-hour link
    with studio_server(home, STUDIO_TRAIN_LIMIT="600", STUDIO_TEST_LIMIT="200",
                       STUDIO_TRAINING_WORKER="process",
                       STUDIO_TEACHER_PASSCODE=PASSCODE) as (url, proc):
        yield url, proc, home


def run(coroutine):
    """Runs `coroutine` to its end in a thread of its own: Playwright's tests before these
    leave an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def try_passcode(url: str, source: str | None, passcode: str) -> str:
    """One try from a fresh session (no cookie: a new browser each time); what it was told."""
    session = Session(url, source=source)
    try:
        await session.open("teacher")
        if session.has_button("Sign out"):
            return "signed in"
        session.fill("Passcode", passcode)
        await session.press("Unlock")
        if session.has_button("Sign out"):
            return "signed in"
        return next((t for t in reversed(session.texts) if WRONG in t or NOT_RIGHT in t), "")
    finally:
        await session.close()


def test_a_clear_cache_message_starts_nothing_and_forgets_nothing(server):
    url, proc, home = server

    async def attack() -> tuple[list[int], list[int], str]:
        first = Session(url, source="127.0.0.3")
        await first.open("train")  # the queue is made, and a worker started ahead of a run
        workers = process_tree(proc.pid)
        told = await try_passcode(url, "127.0.0.3", "guess")  # this address now waits
        for _ in range(3):
            message = BackMsg()
            message.clear_cache = True
            await first.send(message)
            again = Session(url)
            await again.open("train")
            await again.close()
        await first.close()
        after = await try_passcode(url, "127.0.0.3", "guess-again")
        return workers, process_tree(proc.pid), told + " | " + after

    workers, later, told = run(attack())
    assert len(later) <= len(workers), "a clearing started another worker process"
    assert len(RunStore(home, recover=False).servers()) == 1  # one queue, one server row
    # the passcode limit was not reset: the address still waits after the clearing
    assert told.startswith(NOT_RIGHT) and told.split(" | ")[1].startswith(WRONG)
    assert "Refused a request to clear the server's caches" in (home / "server.log").read_text()


def test_a_passcode_flood_from_fresh_sessions_never_keeps_the_teacher_out(server):
    url, _, _ = server

    async def flood() -> list[str]:
        return list(await asyncio.gather(*(try_passcode(url, "127.0.0.2", f"guess-{i}")
                                           for i in range(20))))

    answers = run(flood())
    heard = [a for a in answers if a.startswith(NOT_RIGHT)]
    assert len(heard) <= 3 and len(heard) + sum(a.startswith(WRONG) for a in answers) == 20
    # the teacher, at their own machine, gets in at the first try
    assert run(try_passcode(url, None, PASSCODE)) == "signed in"


def test_a_student_who_drops_their_cookie_still_queues_one_run(server):
    url, _, _ = server

    async def mint() -> tuple[str, str]:
        first, second = Session(url, source="127.0.0.4"), Session(url, source="127.0.0.4")
        try:
            await first.open("train")
            await first.set_number("Epochs", 50)
            await first.press("Start training")
            await second.open("train")  # no cookie: a new owner, the same computer
            await second.set_number("Epochs", 50)
            await second.press("Start training")
            refused = next((t for t in second.texts if "already has a training" in t), "")
            if first.has_button("Stop"):
                await first.press("Stop")
            return refused, " ".join(first.texts)
        finally:
            await first.close()
            await second.close()

    refused, _ = run(mint())
    assert refused == ("This computer already has a training queued or running; wait for it "
                       "to finish before starting another.")


def test_a_link_to_a_159_hour_network_cannot_be_started(server):
    url, _, home = server
    hog = ModelSpec(conv_blocks=3, filters=(256, 256, 256), convs_per_block=3, kernel_size=9,
                    padding="same", pooling="none", dense_units=1024, epochs=200,
                    batch_size=16)

    async def open_link() -> tuple[bool, list[str]]:
        session = Session(url, source="127.0.0.5")
        try:
            await session.open("train", query=urllib.parse.urlencode(links.to_query(hog)))
            return session.has_button("Start training"), session.texts
        finally:
            await session.close()

    before = len(RunStore(home, recover=False).list_runs())
    startable, texts = run(open_link())
    assert not startable
    assert any(t.startswith("This network would need about") for t in texts), texts
    assert len(RunStore(home, recover=False).list_runs()) == before
