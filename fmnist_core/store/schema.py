"""The run store's tables and their versions, the same on SQLite and PostgreSQL.

Version 1 is the store the first releases wrote (runs and epochs, no version recorded).
Each later version is a list of statements applied in one transaction, so a store of any
earlier release opens and is upgraded in place without losing a run. The column types are
ones both databases accept (`DOUBLE PRECISION` and `BIGINT` have REAL and INTEGER affinity
in SQLite).
"""

from __future__ import annotations

from fmnist_core.store.db import Database, Transaction

VERSION_1 = (
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        pid BIGINT,
        device TEXT,
        backend TEXT,
        params BIGINT,
        epochs_run BIGINT DEFAULT 0,
        train_seconds DOUBLE PRECISION,
        total_seconds DOUBLE PRECISION,
        flops_per_second DOUBLE PRECISION,
        best_val_accuracy DOUBLE PRECISION,
        test_loss DOUBLE PRECISION,
        test_accuracy DOUBLE PRECISION,
        stop_reason TEXT,
        error TEXT,
        model_path TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS epochs (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch BIGINT NOT NULL,
        loss DOUBLE PRECISION,
        accuracy DOUBLE PRECISION,
        val_loss DOUBLE PRECISION,
        val_accuracy DOUBLE PRECISION,
        seconds DOUBLE PRECISION,
        PRIMARY KEY (run_id, epoch)
    )""",
)

# Version 2: the queue, owners and servers live in the store (several studio servers share
# one), epochs know whether they were complete, and a run keeps its live progress.
VERSION_2 = (
    "ALTER TABLE runs ADD COLUMN seq BIGINT",  # FIFO order of the queue
    "ALTER TABLE runs ADD COLUMN host TEXT",  # machine of `pid`
    "ALTER TABLE runs ADD COLUMN server TEXT",  # studio server that trains it
    "ALTER TABLE runs ADD COLUMN executor TEXT",  # "thread", "process", "ray" or "cli"
    "ALTER TABLE runs ADD COLUMN started DOUBLE PRECISION",
    "ALTER TABLE runs ADD COLUMN finished DOUBLE PRECISION",
    "ALTER TABLE runs ADD COLUMN stop_requested BIGINT DEFAULT 0",
    "ALTER TABLE runs ADD COLUMN progress TEXT",  # JSON: the live snapshot, for any server
    "ALTER TABLE runs ADD COLUMN estimate_seconds DOUBLE PRECISION",  # per epoch, at start
    "ALTER TABLE runs ADD COLUMN estimate_factor DOUBLE PRECISION",  # this machine's correction
    "ALTER TABLE epochs ADD COLUMN complete BIGINT DEFAULT 1",  # 0: a stopped epoch
    "ALTER TABLE epochs ADD COLUMN batches BIGINT",  # batches trained in the epoch
    "ALTER TABLE epochs ADD COLUMN class_accuracy TEXT",  # JSON list, validation per class
    """CREATE TABLE IF NOT EXISTS owners (
        id TEXT PRIMARY KEY,
        name TEXT,
        created DOUBLE PRECISION,
        last_seen DOUBLE PRECISION
    )""",
    """CREATE TABLE IF NOT EXISTS servers (
        id TEXT PRIMARY KEY,
        host TEXT,
        pid BIGINT,
        executor TEXT,
        started DOUBLE PRECISION,
        heartbeat DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS runs_status_seq ON runs (status, seq)",
    "CREATE INDEX IF NOT EXISTS runs_owner ON runs (owner)",
)

# Version 3: who stopped a run (its owner or the teacher), and the teacher's passcode tries,
# kept per client in the store so that every server of a class counts them together.
VERSION_3 = (
    "ALTER TABLE runs ADD COLUMN stopped_by TEXT",  # "owner" or "teacher"
    "ALTER TABLE runs ADD COLUMN client TEXT",  # the address it was queued from
    """CREATE TABLE IF NOT EXISTS passcode_tries (
        client TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS passcode_tries_client ON passcode_tries (client, at)",
)

# Version 4: the teacher's class settings (one JSON value per key, read by every server of a
# class), and each machine's measured training pace (what the time estimates rest on).
VERSION_4 = (
    """CREATE TABLE IF NOT EXISTS class_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        changed DOUBLE PRECISION
    )""",
    """CREATE TABLE IF NOT EXISTS paces (
        host TEXT NOT NULL,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        measured DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (host, device, kind)
    )""",
)

# Version 5: the lessons: each student's guess per lesson, which lesson's setup a run was
# queued for, and the lesson the teacher put the class on (one row) with whether the class's
# answers are revealed.
VERSION_5 = (
    """CREATE TABLE IF NOT EXISTS lesson_guesses (
        owner TEXT NOT NULL,
        lesson TEXT NOT NULL,
        guess TEXT NOT NULL,
        made DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, lesson)
    )""",
    """CREATE TABLE IF NOT EXISTS lesson_runs (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        lesson TEXT NOT NULL,
        setup TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS class_lesson (
        id BIGINT PRIMARY KEY,
        lesson TEXT,
        revealed BIGINT DEFAULT 0,
        changed DOUBLE PRECISION
    )""",
)

# Version 6: where a run trained (`host` stays the machine of its `pid`, the server's for a
# run on a Ray cluster): this machine's host name, or the Ray node's id and address.
VERSION_6 = (
    "ALTER TABLE runs ADD COLUMN node TEXT",
)

MIGRATIONS = {2: VERSION_2, 3: VERSION_3, 4: VERSION_4, 5: VERSION_5, 6: VERSION_6}
LATEST = max(MIGRATIONS)


def table_exists(tx: Transaction, name: str) -> bool:
    if tx.dialect == "sqlite":
        return tx.one("SELECT name FROM sqlite_master WHERE type='table' AND name=?",
                      (name,)) is not None
    return tx.value("SELECT to_regclass(?) IS NOT NULL AS found", (name,))


def migrate(db: Database) -> int:
    """Creates the tables or upgrades them to `LATEST`; returns the version found.

    Runs in a locked transaction, so servers starting together upgrade once.

    Raises:
        RuntimeError: the store was written by a newer release (a sentence).
    """
    with db.transaction(locked=True) as tx:
        if table_exists(tx, "meta"):
            found = int(tx.value("SELECT value FROM meta WHERE key='schema_version'") or 1)
        else:
            found = 1
            for statement in VERSION_1:
                tx.execute(statement)
            tx.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            tx.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        if found > LATEST:
            raise RuntimeError(
                f"The run store ({db.describe()}) was written by a newer release of the "
                f"studio (schema {found}, this one knows {LATEST}); update the studio.")
        for version in range(found + 1, LATEST + 1):
            for statement in MIGRATIONS[version]:
                tx.execute(statement)
            # runs already stored come before any queued from now on (the queue orders by
            # seq, then creation time)
            tx.execute("UPDATE runs SET seq = 0 WHERE seq IS NULL")
            tx.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
        return found
