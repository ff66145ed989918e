"""A class's pages held open on a studio server: the load `estimate.py` judges the estimate under.

N students, each a websocket session without a browser (`stclient.Session`: the server does
a real student's work, the client only reads what it is sent), open Train, set 1 epoch and
press Start. Their runs join the line behind whatever was queued before, and each page then
polls its place every 3 s (the Train page's queued fragment) or its curves every second, as
a browser's does, until `stop()`. They run in an event loop of their own thread, so the
benchmark's own code goes on meanwhile.

    pages = ClassPages(url, students=30)
    pages.open()           # every student on Train (returns once they all are)
    pages.press_start()    # every student's run queued
    ...
    pages.stop()
"""

from __future__ import annotations

import asyncio
import threading

from stclient import Session

# Students open their pages a little apart, as a class does, not all in one millisecond.
STAGGER_SECONDS = 0.2
OPEN_TIMEOUT = 300.0


class ClassPages:
    """`students` sessions on the studio at `url`, opened and driven from a thread."""

    def __init__(self, url: str, students: int):
        self.url = url
        self.sessions = [Session(url) for _ in range(students)]
        self.errors: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="class-pages",
                                        daemon=True)
        self._thread.start()

    def _run(self, coroutine, timeout: float = OPEN_TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def open(self) -> None:
        """Every student opens Train and sets 1 epoch."""
        async def one(index: int, session: Session) -> None:
            await asyncio.sleep(index * STAGGER_SECONDS)
            try:
                await session.open("train", timeout=OPEN_TIMEOUT)
                await session.set_number("Epochs", 1, timeout=OPEN_TIMEOUT)
            except Exception as err:  # noqa: BLE001 - a stuck session is reported, not fatal
                self.errors.append(f"open: {type(err).__name__}: {err}")

        async def every() -> None:
            await asyncio.gather(*(one(i, s) for i, s in enumerate(self.sessions)))

        self._run(every())

    def press_start(self) -> None:
        """Every student presses Start (their runs queue behind the line so far)."""
        async def one(session: Session) -> None:
            try:
                if session.has_button("Start training"):
                    await session.press("Start training", timeout=OPEN_TIMEOUT)
            except Exception as err:  # noqa: BLE001
                self.errors.append(f"start: {type(err).__name__}: {err}")

        async def every() -> None:
            await asyncio.gather(*(one(s) for s in self.sessions))

        self._run(every())

    def fragment_runs(self) -> int:
        """Fragment reruns the students' pages have had answered so far."""
        return sum(1 for s in self.sessions for _, fragment in s.runs if fragment)

    def stop(self) -> None:
        async def every() -> None:
            await asyncio.gather(*(s.close() for s in self.sessions), return_exceptions=True)

        try:
            self._run(every(), timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
