"""Polling for a condition in tests that drive real threads and processes."""

import time


def wait_for(predicate, timeout: float = 120, what: str = "condition", every: float = 0.05):
    """Calls `predicate` every `every` seconds until it returns something truthy, and
    returns that; fails the test after `timeout` seconds, naming `what` it waited for."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
