"""What the tests read back from a run store about how its runs were trained."""

import math


def peak_running(store) -> int:
    """The most runs of `store` that trained at once, from the times each was claimed
    (`started`) and ended (`finished`): a run's end is written before its slot is claimed
    again, so runs that followed one another never overlap."""
    spans = [(run["started"], run["finished"] or math.inf) for run in store.list_runs()
             if run["started"] is not None]
    return max((sum(1 for start, end in spans if start <= moment < end)
                for moment, _ in spans), default=0)
