"""Connections for the run store: an SQLite file (the embedded default) or PostgreSQL.

The store writes its SQL once, with `?` placeholders and types both databases accept
(`TEXT`, `BIGINT`, `DOUBLE PRECISION`, `INSERT … ON CONFLICT`). What differs lives here:
how to connect, the placeholder style, and how a transaction is serialised against every
other server's (`locked()`: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's transaction-level
advisory lock), which keeps the queue's cap and FIFO order true across servers.

    db = open_database(url=None, home=Path("~/.fmnist_studio"))   # SQLite
    with db.transaction() as tx:
        tx.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit

# Any constant: the key of the advisory lock every PostgreSQL queue decision takes.
_QUEUE_LOCK_KEY = 0x464D4E53  # "FMNS"
CONNECT_TIMEOUT_SECONDS = 5


class StoreUnavailableError(RuntimeError):
    """The database cannot be reached; `str(err)` is a sentence for the page."""


class Transaction:
    """One open transaction; rows come back as dicts."""

    def __init__(self, conn: Any, dialect: str):
        self._conn = conn
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "postgresql":
            sql = sql.replace("?", "%s")
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
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
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
    """PostgreSQL through psycopg 3 and its connection pool; a pooled connection is
    checked before use, so the store comes back by itself after a database restart."""

    dialect = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, max_size: int = 8):
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as err:
            raise StoreUnavailableError(
                "STUDIO_DATABASE_URL points at PostgreSQL but its driver is not installed; "
                "run: pip install -r requirements-cluster.txt") from err
        self.url = url
        self._errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self._pool = ConnectionPool(
            url, min_size=0, max_size=max_size, open=True, timeout=CONNECT_TIMEOUT_SECONDS,
            check=ConnectionPool.check_connection,
            kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                    "autocommit": False},
        )

    @contextlib.contextmanager
    def transaction(self, locked: bool = False) -> Iterator[Transaction]:
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                with conn.transaction():
                    tx = Transaction(conn, self.dialect)
                    if locked:
                        tx.execute("SELECT pg_advisory_xact_lock(?)", (_QUEUE_LOCK_KEY,))
                    yield tx
        except (PoolTimeout, *self._errors) as err:
            raise StoreUnavailableError(
                f"The run store's database ({self.describe()}) cannot be reached; the page "
                "comes back by itself once it is running again.") from err

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"PostgreSQL at {parts.hostname or 'localhost'}{parts.path or ''}"

    def integrity_ok(self) -> bool:
        return True  # PostgreSQL checks its own pages; nothing like SQLite's PRAGMA

    def close(self) -> None:
        self._pool.close()


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
