"""A real Ray head for the tests and benchmarks: loopback only, token authentication, a small
object store, its own short temp dir, ended by its own process ids.

Never `ray stop`: it ends every Ray process of the machine, other people's clusters too.
The head runs in a session of its own (`start_new_session`), so its processes, the worker
processes its raylet starts included, are found by their session id and only they are ended.

    os.environ.update(CLIENT_ENV)            # before this process imports ray
    head = RayHead(num_cpus=1).start()
    ...
    head.stop()
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import free_port, port_taken

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 128_000_000
# Ray swaps a node address of 127.0.0.1 for the machine's network address (and then listens
# on every interface) unless this is off; with it off, every Ray server of the node, and of
# a driver, listens on 127.0.0.1 only.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
# What a process connecting to the heads of this process needs in its environment before it
# imports ray (Ray reads the authentication mode then): one token per test session.
CLIENT_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
              "RAY_USAGE_STATS_ENABLED": "0", **LOOPBACK_ENV}


# A free port is found by binding it and letting it go, so another process may take it
# before the head binds it: a head that could not start on a port taken meanwhile is started
# again on others.
PORT_TRIES = 3


class RayHead:
    """`ray start --head --block` on free loopback ports.

    Args:
        num_cpus: CPUs the node offers (the runs it trains at once, at 1 CPU each).
        token: the cluster's token (RAY_AUTH_TOKEN); by default CLIENT_ENV's.
        auth: token authentication on (the only way the studio uses a cluster).
    """

    def __init__(self, num_cpus: int = 1, token: str | None = None, auth: bool = True):
        self.num_cpus = num_cpus
        self.token = token or CLIENT_ENV["RAY_AUTH_TOKEN"]
        self.auth = auth  # False: a head that lets anyone in (what the studio refuses)
        self.port, self.client_port = free_port(), free_port()
        # a short path: Ray's Unix sockets live under it (108 bytes at most)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
        self.proc: subprocess.Popen | None = None
        self.started_seconds: float | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client_env(self) -> dict[str, str]:
        """What a process connecting to this head needs in its environment."""
        return {**CLIENT_ENV, "RAY_AUTH_TOKEN": self.token}

    def start(self, timeout: float = 120) -> RayHead:
        """Starts the head and waits until it runs; on other ports when one of its own was
        taken meanwhile."""
        for _ in range(PORT_TRIES - 1):
            try:
                return self._start(timeout)
            except RuntimeError:
                if not (port_taken(self.port) or port_taken(self.client_port)):
                    raise
                self.port, self.client_port = free_port(), free_port()
                self.temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
        return self._start(timeout)

    def _start(self, timeout: float) -> RayHead:
        env = {**os.environ, **self.client_env()}
        if not self.auth:
            env = {k: v for k, v in env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        command = [str(RAY), "start", "--head", "--block", "--port", str(self.port),
                   "--node-ip-address", "127.0.0.1", "--include-dashboard=false",
                   "--object-store-memory", str(OBJECT_STORE_BYTES),
                   "--temp-dir", str(self.temp_dir), "--num-cpus", str(self.num_cpus),
                   "--num-gpus", "0", "--ray-client-server-port", str(self.client_port),
                   "--disable-usage-stats"]
        log = open(self.temp_dir / "head.log", "w")
        started = time.perf_counter()
        self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = self.log()
                self.stop()
                raise RuntimeError(f"the Ray head did not start:\n{text[-3000:]}")
            time.sleep(0.2)
        self.started_seconds = time.perf_counter() - started
        return self

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.temp_dir / "head.log").read_text(errors="replace")
        return ""

    def pids(self) -> list[int]:
        """Every process of the head's session: its own, the raylet's workers included."""
        if self.proc is None:
            return []
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == self.proc.pid and fields[0] != "Z":  # session id
                    found.append(int(stat.parent.name))
        return found

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        """Ends the head's processes and removes its temp dir. SIGKILL at once: a head takes
        15 s and more to end on SIGTERM, and nothing of a test cluster is worth keeping."""
        if self.proc is not None:
            for pid in [self.proc.pid, *self.pids()]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def listeners(pids: list[int]) -> list[tuple[str, str]]:
    """(address, process) of every listening TCP socket of these processes (`ss -ltnp`)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    wanted = set(pids)
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 6:
            continue
        owners = {int(pid) for pid in re.findall(r"pid=(\d+)", parts[5])}
        if owners & wanted:
            found.append((parts[3], parts[5]))
    return found


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1") or \
        host.startswith("::ffff:127.")
