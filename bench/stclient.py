"""A Streamlit session without a browser: the studio's own websocket protocol, no rendering.

Thirty students bring thirty laptops; a load test on one 2-core machine that runs thirty
Chromium renderers next to the server measures mostly the renderers. `Session` speaks to the
server exactly as the browser's script runner does (`/_stcore/stream`, BackMsg / ForwardMsg
protobufs): it opens a page, sets widgets, presses buttons and reruns the fragments that ask
for it (`run_every`) at their interval, so the server does the work of a real student, while
the client only reads the text of what the server sends.

    session = Session(url)
    await session.open("train")
    await session.set_number("Epochs", 1)
    await session.press("Start training")
    ...
    await session.close()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState

TEXT_FIELDS = {"alert": "body", "markdown": "body", "metric": "label", "heading": "body",
               "progress": "text", "text": "body"}


class Session:
    """One student's session, driven through the websocket protocol.

    Attributes:
        texts: the text of every element the server sent, in order (alerts, markdown,
            metrics, headings, progress bars), for the caller to search.
        stamps: when each of `texts` arrived (`time.time()` seconds).
        exceptions: how many exception elements (tracebacks) the server sent.
        runs: (seconds, whether a fragment run) of every script run this session asked for,
            from the rerun request to `script_finished`.
    """

    def __init__(self, url: str, source: str | None = None):
        """`source`: a loopback address to connect from (e.g. "127.0.0.2"), so one machine
        can play students at different addresses."""
        self.ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.source = source
        self.origin = url
        self.texts: list[str] = []
        self.stamps: list[float] = []
        self.exceptions = 0
        self.runs: list[tuple[float, bool]] = []
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._page_hash = ""
        self._widgets: dict[str, WidgetState] = {}
        self._elements: dict[str, object] = {}  # label → the latest button / number input
        self._auto: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id → its loop
        self._finished = asyncio.Event()
        self._asked_at: float | None = None  # the pending page run, when it was asked for
        # script runs whose start (new_session) arrived: a run begun before a request is not
        # the one it asked for, though its finish may arrive after the request was sent
        self._started: set[str] = set()
        self._begun_before: set[str] = set()
        self._fragments_asked: collections.deque[float] = collections.deque()

    async def open(self, page: str, timeout: float = 120, query: str = "") -> float:
        """Connects and runs `page` (its URL path, "" for the default page) with the link's
        `query` string; returns the seconds until the run finished."""
        from websockets.asyncio.client import connect

        extra = {"local_addr": (self.source, 0)} if self.source else {}
        self._ws = await connect(self.ws_url, subprotocols=["streamlit"], origin=self.origin,
                                 max_size=None, open_timeout=timeout, ping_interval=None,
                                 **extra)
        self._reader = asyncio.create_task(self._read())
        return await self._rerun(page_name=page, timeout=timeout, query=query)

    async def navigate(self, page: str, query: str = "", timeout: float = 120) -> float:
        """Opens `page` with the link's `query` string in this session, as following a link
        does: the widgets of the page before are left behind; returns the seconds until the
        run finished."""
        self._widgets.clear()
        self._elements.clear()
        return await self._rerun(page_name=page, timeout=timeout, query=query)

    def fill(self, label: str, text: str) -> None:
        """Types `text` into the text input labelled `label`, without a rerun (as in a
        form, whose submit button sends it)."""
        self._widgets[self._elements[label].id] = WidgetState(id=self._elements[label].id,
                                                              string_value=text)

    async def send(self, msg: BackMsg) -> None:
        """Sends any message a browser could, or one it never would."""
        await self._ws.send(msg.SerializeToString())

    async def set_number(self, label: str, value: float, timeout: float = 120) -> float:
        """Types `value` into the number input labelled `label` (as Enter would)."""
        element = self._elements[label]
        state = WidgetState(id=element.id)
        if element.data_type == NumberInput.INT:
            state.int_value = int(value)
        else:
            state.double_value = float(value)
        self._widgets[element.id] = state
        return await self._rerun(timeout=timeout)

    async def press(self, label: str, timeout: float = 120) -> float:
        """Clicks the button labelled `label`; returns the seconds until the run finished."""
        return await self._rerun(trigger=self._elements[label].id, timeout=timeout)

    def has_button(self, label: str) -> bool:
        element = self._elements.get(label)
        return element is not None and not getattr(element, "disabled", False)

    async def close(self) -> None:
        self._stop_auto()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    async def _rerun(self, page_name: str = "", trigger: str | None = None,
                     fragment_id: str = "", timeout: float = 120, query: str = "") -> float:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = query
        state.page_name = page_name
        state.page_script_hash = self._page_hash if not page_name else ""
        state.fragment_id = fragment_id
        state.is_auto_rerun = bool(fragment_id)
        state.widget_states.widgets.extend(self._widgets.values())
        if trigger:
            state.widget_states.widgets.append(WidgetState(id=trigger, trigger_value=True))
        if fragment_id:
            # timed by the reader; nobody waits for a fragment rerun
            self._fragments_asked.append(time.perf_counter())
            await self._ws.send(msg.SerializeToString())
            return 0.0
        self._finished.clear()
        self._begun_before = set(self._started)
        asked = self._asked_at = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        await asyncio.wait_for(self._finished.wait(), timeout)
        return time.perf_counter() - asked

    async def _read(self) -> None:
        async for data in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            self._handle(msg)

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            if msg.metadata.run.script_run_id:
                self._started.add(msg.metadata.run.script_run_id)
            if not msg.metadata.run.fragment_ids:
                self._stop_auto()  # as the browser does on a full run
                self._fragments_asked.clear()  # a full run drops the ones asked before
        elif kind == "navigation":
            # st.navigation names the page this run shows; later reruns ask for it
            self._page_hash = msg.navigation.page_script_hash
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element)
        elif kind == "auto_rerun":
            self._start_auto(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment in msg.stop_auto_rerun.fragment_ids:
                if fragment in self._auto:
                    self._auto.pop(fragment)[1].cancel()
        elif kind == "script_finished":
            status = msg.script_finished
            now = time.perf_counter()
            if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return  # a rerun (st.rerun, a newer request) follows
            if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                if self._fragments_asked:
                    self.runs.append((now - self._fragments_asked.popleft(), True))
                return
            if msg.metadata.run.script_run_id and (
                    msg.metadata.run.script_run_id in self._begun_before):
                return  # a run begun before the pending request (a page's own rerun)
            if self._asked_at is not None:
                self.runs.append((now - self._asked_at, False))
                self._asked_at = None
            self._finished.set()

    def _element(self, element) -> None:
        which = element.WhichOneof("type")
        if which == "exception":
            self.exceptions += 1
            self._text("Traceback: " + element.exception.message)
        elif which in ("button", "number_input", "text_input"):
            self._elements[getattr(element, which).label] = getattr(element, which)
        elif which in TEXT_FIELDS:
            self._text(getattr(getattr(element, which), TEXT_FIELDS[which]))

    def _text(self, text: str) -> None:
        self.texts.append(text)
        self.stamps.append(time.time())

    def _stop_auto(self) -> None:
        for _, task in self._auto.values():
            task.cancel()
        self._auto.clear()

    def _start_auto(self, fragment_id: str, interval: float) -> None:
        if not fragment_id or self._auto.get(fragment_id, (None,))[0] == interval:
            return
        if fragment_id in self._auto:
            self._auto.pop(fragment_id)[1].cancel()

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                await self._rerun(fragment_id=fragment_id)

        self._auto[fragment_id] = (interval, asyncio.create_task(loop()))
