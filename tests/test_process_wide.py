"""The objects one server process makes once for every session."""

import threading

from ui import process_wide


def test_a_process_wide_object_is_made_once_however_many_sessions_ask_at_once():
    made = []

    def make():
        made.append(object())
        return made[-1]

    try:
        got = []
        threads = [threading.Thread(target=lambda: got.append(
            process_wide.process_wide("test-object", make))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(made) == 1 and all(g is made[0] for g in got)
        assert process_wide.held()["test-object"] is made[0]
    finally:
        process_wide.held().pop("test-object", None)
