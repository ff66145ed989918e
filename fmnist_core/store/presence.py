"""Who is still there: servers' heartbeats, owners' open pages, and runs whose server is gone.

Each server's queue writes a heartbeat every few seconds; a running run whose server has
been silent for SERVER_STALE_SECONDS (or, without a server, whose process has ended) is an
orphan. An orphan is interrupted, or, on a Ray cluster where runs outlive their server,
adopted by a live server. Owners' pages say they are open the same way (`touch_owners`), so
the queued runs of a closed tab can be cancelled (`RunStore.cancel_absent`).

`Presence` is a part of `fmnist_core.store.runs.RunStore`, which gives it `db`.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from fmnist_core.store.db import Database

HOST = socket.gethostname()
# A server that has not written its heartbeat for this long is gone: its runs are
# interrupted (or, on a Ray cluster, adopted by a live server).
SERVER_STALE_SECONDS = 30.0
# Runs on a Ray cluster outlive their server: opening the store leaves them to the next
# server's queue, which adopts them or interrupts them.
ADOPTABLE_EXECUTORS = ("ray",)
INTERRUPTED = "The server stopped while this run was training."


class Presence:
    """Servers' heartbeats, owners' last visits, and the orphans they leave."""

    db: Database

    def heartbeat(self, server: str, executor: str) -> None:
        """Says that `server` is alive (every few seconds from its queue)."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO servers (id, host, pid, executor, started, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "heartbeat=excluded.heartbeat", (server, HOST, os.getpid(), executor, now, now))

    def remove_server(self, server: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM servers WHERE id=?", (server,))

    def servers(self) -> list[dict[str, Any]]:
        with self.db.transaction() as tx:
            return tx.all("SELECT * FROM servers ORDER BY started")

    def orphaned_runs(self) -> list[dict[str, Any]]:
        """Running runs whose server (or, without a server, whose process) is gone.

        Right after this store got its database back from an outage, every server's heartbeat
        is old; they are judged by it only once they have had SERVER_STALE_SECONDS to write
        a new one.
        """
        now = time.time()
        back = self.db.reconnected_at
        heartbeats_count = back is None or now - back > SERVER_STALE_SECONDS
        with self.db.transaction() as tx:
            rows = tx.all("SELECT r.id, r.pid, r.host, r.server, r.executor, s.host AS s_host, "
                          "s.pid AS s_pid, s.heartbeat FROM runs r LEFT JOIN servers s ON "
                          "s.id = r.server WHERE r.status='running'")
        gone = []
        for row in rows:
            if row["server"]:
                same_host = row["s_host"] == HOST
                stale = (row["heartbeat"] is None
                         or now - row["heartbeat"] > SERVER_STALE_SECONDS)
                dead = ((stale and heartbeats_count)
                        or (same_host and not pid_alive(row["s_pid"])))
            else:
                dead = row["host"] in (None, HOST) and not pid_alive(row["pid"])
            if dead:
                gone.append(row)
        return gone

    def interrupt_orphans(self, keep_executors: tuple[str, ...] = ()) -> list[str]:
        """Marks running runs whose server or process is gone as interrupted, except those
        of `keep_executors` (a live server adopts them); returns the interrupted ids."""
        interrupted = []
        for row in self.orphaned_runs():
            if row["executor"] in keep_executors:
                continue
            with self.db.transaction() as tx:
                # unless a live server adopted it meanwhile
                tx.execute("UPDATE runs SET status='interrupted', finished=?, error=?, "
                           "stop_reason=? WHERE id=? AND status='running' AND (server=? OR "
                           "(server IS NULL AND CAST(? AS TEXT) IS NULL))",
                           (time.time(), INTERRUPTED, INTERRUPTED, row["id"], row["server"],
                            row["server"]))
            interrupted.append(row["id"])
        return interrupted

    def adopt(self, run_id: str, server: str) -> bool:
        """Moves a running run of a gone server to `server`; False if someone was first."""
        with self.db.transaction(locked=True) as tx:
            row = tx.one("SELECT server FROM runs WHERE id=? AND status='running'", (run_id,))
            if row is None:
                return False
            tx.execute("UPDATE runs SET server=? WHERE id=?", (server, run_id))
            return True

    def touch_owners(self, owners: list[str]) -> None:
        """Records that these owners have a page open now (a server's session check)."""
        now = time.time()
        with self.db.transaction() as tx:
            for owner in owners:
                tx.execute("INSERT INTO owners (id, created, last_seen) VALUES (?, ?, ?) ON "
                           "CONFLICT (id) DO UPDATE SET last_seen=excluded.last_seen",
                           (owner, now, now))


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` of this machine is still running (a zombie is not)."""
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie has ended; in a container whose first process does not reap orphans, a
    # worker that outlived its server stays one
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
