"""Connections for the run store: an SQLite file (the embedded default) or PostgreSQL.

The store writes its SQL once, with `?` placeholders and types both databases accept
(`TEXT`, `BIGINT`, `DOUBLE PRECISION`, `INSERT … ON CONFLICT`, `CAST(? AS TEXT)` where
PostgreSQL cannot infer a parameter's type). What differs lives here: how to connect, the
placeholder style, row locking for claims (`skip_locked`), and how a transaction is
serialised against every other server's (`transaction(locked=True)`: SQLite's
`BEGIN IMMEDIATE`, PostgreSQL's transaction-level advisory lock), which keeps the queue's cap
and FIFO order true across servers. A database that cannot be reached is
`StoreUnavailableError`, whose text is the sentence a page shows.

    db = open_database(url=None, home=Path("~/.fmnist_studio"))   # SQLite
    with db.transaction() as tx:
        tx.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit

# Any constant: the key of the advisory lock every PostgreSQL queue decision takes.
_QUEUE_LOCK_KEY = 0x464D4E53  # "FMNS"
CONNECT_TIMEOUT_SECONDS = 5
POOL_WAIT_SECONDS = 1.0


class StoreUnavailableError(RuntimeError):
    """The database cannot be reached; `str(err)` is a sentence for the page."""


class Transaction:
    """One open transaction; rows come back as dicts."""

    def __init__(self, conn: Any, dialect: str):
        self._conn = conn
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "postgresql":
            sql = sql.replace("%", "%%").replace("?", "%s")
        return self._conn.execute(sql, tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self.execute(sql, params).fetchone()
        return None if row is None else dict(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.execute(sql, params).fetchall()]

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else list(dict(row).values())[0]


class Database:
    """Where the store's tables live; `transaction()` is the only way in."""

    dialect = ""
    # appended to a SELECT that claims queued rows; SQLite serialises writers instead
    skip_locked = ""
    # time.time() when the database came back after an outage (None: never lost); until
    # other servers have written a heartbeat since, theirs are not taken as stale
    reconnected_at: float | None = None

    def transaction(self, locked: bool = False) -> contextlib.AbstractContextManager[Transaction]:
        """A transaction committed on success and rolled back on error.

        Args:
            locked: serialise it against every other locked transaction of every server
                (queue decisions: the cap, the per-owner limit, FIFO claims).

        Raises:
            StoreUnavailableError: the database cannot be reached.
        """
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SqliteDatabase(Database):
    """An SQLite file in WAL mode: readers never wait for the writer, and several
    processes of one machine (the server, its workers, the CLI) share it safely."""

    dialect = "sqlite"

    def __init__(self, path: Path):
        self.path = Path(path)
        # this user's only (0600): it holds the key that signs owner tokens; SQLite gives
        # its -wal and -shm files the same permissions
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        if self.path.stat().st_uid == os.getuid():
            self.path.chmod(0o600)
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            # Two connections switching a new file to WAL at once would deadlock, so SQLite
            # answers one of them "locked" at once instead of waiting its busy timeout:
            # servers opening a new store together take turns here
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as err:
                    if "locked" not in str(err) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self, locked: bool = False) -> Iterator[Transaction]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("BEGIN IMMEDIATE" if locked else "BEGIN")
            try:
                yield Transaction(conn, self.dialect)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    def integrity_ok(self) -> bool:
        with self.transaction() as tx:
            return tx.value("PRAGMA integrity_check") == "ok"


class PostgresDatabase(Database):
    """PostgreSQL through psycopg 3 and its connection pool.

    A pooled connection is checked before use, so idle connections that a database restart
    broke are replaced unseen. When the database cannot be reached at all, every call fails
    at once with `StoreUnavailableError` (no page waits for a timeout), at most one call per
    `RETRY_SECONDS` tries a plain connection, and the first that succeeds opens a fresh pool:
    the store comes back by itself, without the pool's growing back-off after a long outage.
    """

    dialect = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    RETRY_SECONDS = 1.0

    def __init__(self, url: str, max_size: int = 8):
        try:
            import psycopg
            import psycopg_pool
        except ImportError as err:
            raise StoreUnavailableError(
                "STUDIO_DATABASE_URL points at PostgreSQL but its driver is not installed; "
                "run: pip install -r requirements-cluster.txt") from err
        self.url = url
        self.max_size = max_size
        self._psycopg = psycopg
        self._pool_errors = (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed)
        self._lock = threading.Lock()
        self._pool: Any = None
        self._probing = False
        self._retry_at = 0.0
        self._closed = False
        self._ever_connected = False

    def _unavailable(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"The saved runs cannot be reached right now, since their database "
            f"({self.describe()}) does not answer; this page comes back by itself once it "
            "does.")

    def _new_pool(self) -> Any:
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        return ConnectionPool(
            self.url, min_size=1, max_size=self.max_size, open=True,
            timeout=CONNECT_TIMEOUT_SECONDS, check=ConnectionPool.check_connection,
            name="run-store",
            # autocommit: `conn.transaction()` below is the only transaction, BEGIN … COMMIT
            kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                    "autocommit": True})

    def _current_pool(self) -> Any:
        """The open pool, or a new one once a plain connection succeeds again."""
        with self._lock:
            if self._closed:
                raise StoreUnavailableError("The run store has been closed.")
            if self._pool is not None:
                return self._pool
            if self._probing or time.monotonic() < self._retry_at:
                raise self._unavailable()
            self._probing = True
        if not self._reachable():
            with self._lock:
                self._probing = False
                self._retry_at = time.monotonic() + self.RETRY_SECONDS
            raise self._unavailable()
        with self._lock:
            self._probing = False
            if self._pool is None:
                self._pool = self._new_pool()
                if self._ever_connected:
                    self.reconnected_at = time.time()
                self._ever_connected = True
            return self._pool

    def _lost(self, pool: Any) -> None:
        """Drops a pool whose database went away; the next call after RETRY_SECONDS
        probes."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
                self._retry_at = time.monotonic() + self.RETRY_SECONDS
        # connections still out are closed as they come back
        threading.Thread(target=pool.close, kwargs={"timeout": 1.0}, daemon=True,
                         name="run-store-pool-close").start()

    def _is_outage(self, err: BaseException) -> bool:
        """Whether an error means the database is away (not a problem of one statement)."""
        if isinstance(err, (self._psycopg.InterfaceError, *self._pool_errors)):
            return True
        if isinstance(err, self._psycopg.OperationalError):
            state = getattr(err, "sqlstate", None)
            # 08: connection exceptions; 57P01-57P03: the server shuts down or starts up
            return state is None or state.startswith("08") or state in (
                "57P01", "57P02", "57P03")
        return False

    def _reachable(self) -> bool:
        try:
            self._psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except self._psycopg.Error:
            return False
        return True

    @contextlib.contextmanager
    def _connection(self, pool: Any) -> Iterator[Any]:
        """A pooled connection. The pool waits for a connection without telling a busy pool
        from a database that went away, so it is asked for one second at a time, and
        between tries a plain connection tells which it is."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
        while True:
            try:
                conn = pool.getconn(timeout=max(0.1, min(
                    POOL_WAIT_SECONDS, deadline - time.monotonic())))
                break
            except self._pool_errors[0]:  # PoolTimeout
                if time.monotonic() >= deadline or not self._reachable():
                    raise
        try:
            yield conn
        finally:
            pool.putconn(conn)

    @contextlib.contextmanager
    def transaction(self, locked: bool = False) -> Iterator[Transaction]:
        pool = self._current_pool()
        try:
            with self._connection(pool) as conn:
                with conn.transaction():
                    tx = Transaction(conn, self.dialect)
                    if locked:
                        tx.execute("SELECT pg_advisory_xact_lock(?)", (_QUEUE_LOCK_KEY,))
                    yield tx
        except self._psycopg.Error as err:
            if not self._is_outage(err):
                raise
            self._lost(pool)
            raise self._unavailable() from err

    def describe(self) -> str:
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"PostgreSQL at {parts.hostname or 'localhost'}{port}{parts.path or ''}"

    def integrity_ok(self) -> bool:
        return True  # PostgreSQL checks its own pages; nothing like SQLite's PRAGMA

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def open_database(url: str | None, home: Path) -> Database:
    """PostgreSQL when `url` is a postgresql:// URL, else `home/runs.sqlite`.

    Raises:
        ValueError: a URL of another kind.
        StoreUnavailableError: PostgreSQL asked for but its driver is missing.
    """
    if not url:
        return SqliteDatabase(home / "runs.sqlite")
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url)
    if scheme == "sqlite":
        return SqliteDatabase(Path(urlsplit(url).path))
    raise ValueError(f"Argument `STUDIO_DATABASE_URL` must start with postgresql:// or "
                     f"sqlite://, received {url.split(':', 1)[0]!r}.")
