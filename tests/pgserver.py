"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries, a data folder in
a temporary directory, loopback only, a free port.

The server runs as the `postgres` user when the tests run as root (CI does, and `initdb`
refuses root); otherwise as the current user. It is stopped with its own data folder
(`pg_ctl stop -m fast`), never by process name, so other PostgreSQL servers on the machine are
left alone. Durability is off (`fsync`), which is fine for data that lives one test session.

    server = PostgresServer.find()          # None when the package is not installed
    server.start()
    url = server.create_database("t1")      # postgresql://postgres@127.0.0.1:PORT/t1
    server.stop(); server.start()           # a restart, as in a database outage
    server.remove()
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import free_port, port_taken

SERVICE_USER = "postgres"
BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _version(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def find_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` that has initdb and pg_ctl."""
    found = [d for d in glob.glob(BIN_GLOB)
             if os.access(os.path.join(d, "initdb"), os.X_OK)
             and os.access(os.path.join(d, "pg_ctl"), os.X_OK)]
    return Path(max(found, key=_version)) if found else None


# A free port is found by binding it and letting it go, so another process may take it
# before the server binds it: a first start that finds it taken tries another.
PORT_TRIES = 3


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, started and stopped by its owner."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = Path(bin_dir)
        self.as_service_user = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.started = False  # once it has run, its URLs are out: it keeps its port
        if self.as_service_user:
            shutil.chown(self.root, user=SERVICE_USER)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--locale=C")

    @classmethod
    def find(cls) -> PostgresServer | None:
        bin_dir = find_bin_dir()
        return None if bin_dir is None else cls(bin_dir)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bin_dir / tool), *args]
        if self.as_service_user:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def start(self) -> None:
        """Starts the server (again) on its port and waits until it accepts connections; the
        first start takes another port if its own was taken meanwhile."""
        tries = 1 if self.started else PORT_TRIES
        for attempt in range(tries):
            try:
                self._start()
                break
            except RuntimeError:
                if attempt == tries - 1 or not port_taken(self.port):
                    raise
                self.port = free_port()
        self.started = True

    def _start(self) -> None:
        options = " ".join([
            "-c listen_addresses=127.0.0.1", f"-p {self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            # every test opens its own stores (a pool each) and the browser tests run servers
            "-c max_connections=300",
        ])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stops this server (fast: open transactions are rolled back)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def remove(self) -> None:
        """Stops the server and deletes its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drops a database, ending whatever connections are still open to it."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
