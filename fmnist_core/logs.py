"""Where the engine's log lines go: one place that sets them up, for the server, its worker
processes and the command line.

Every module logs under its own name (`logging.getLogger(__name__)`: `fmnist_core.training.
jobqueue`, `ui.resources`, …), so the package's logger decides for all of them. What the
studio swallows to keep serving (a store write retried, a queue tick that failed, an
unusual-input check that could not be fitted) is logged there with its traceback, at
warning level: an operator sees it in the server's output without asking. `STUDIO_LOG_LEVEL`
(`debug`, `info`, `warning`, `error`; default `warning`) says how much.

    from fmnist_core import logs
    logs.configure()          # once, where the process starts
"""

from __future__ import annotations

import logging
import os
import sys

LEVEL_VARIABLE = "STUDIO_LOG_LEVEL"
DEFAULT_LEVEL = "warning"
LOGGERS = ("fmnist_core", "ui")  # the engine's and the pages' helpers'
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MARK = "studio_handler"  # on our handler, so configuring twice adds no second one


def level_from_env() -> int:
    """The level `$STUDIO_LOG_LEVEL` names; warning when unset or not a level's name."""
    name = os.environ.get(LEVEL_VARIABLE, DEFAULT_LEVEL).strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.WARNING


def configure(level: int | None = None, stream=None) -> None:
    """Sends the studio's log lines to `stream` (stderr by default) at `level` (by default
    `$STUDIO_LOG_LEVEL`); called again, it changes the level (and the stream, when given)
    and adds no second handler."""
    level = level_from_env() if level is None else level
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = False  # not twice, through a root handler someone else set up
        ours = [handler for handler in logger.handlers if getattr(handler, _MARK, False)]
        if ours:
            if stream is not None:
                ours[0].setStream(stream)
            continue
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
