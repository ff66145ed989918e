"""A read-only folder for a child process, as a read-only mount or a folder of another user
would be: the permissions say no, and the child obeys them even when the tests run as root
(CI does), since it starts without CAP_DAC_OVERRIDE."""

from __future__ import annotations

import ctypes
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PR_CAPBSET_DROP = 24  # <linux/prctl.h>
CAP_DAC_OVERRIDE = 1  # <linux/capability.h>: write whatever the permissions say


def without_write_override() -> None:
    """`preexec_fn` of a child that cannot write where the permissions forbid it: root's
    CAP_DAC_OVERRIDE leaves the bounding set, so the program it runs never has it."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def make_read_only(folder: Path) -> None:
    """Takes write permission away from `folder` and everything in it; skips the test where
    a child process could write there all the same."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)
    probe = subprocess.run(
        [sys.executable, "-c", f"open({str(folder / 'probe')!r}, 'w')"],
        preexec_fn=without_write_override, capture_output=True, timeout=60)
    if probe.returncode == 0:
        os.unlink(folder / "probe")
        pytest.skip("this machine lets the tests' processes write into read-only folders")


def make_writable(folder: Path) -> None:
    """Gives write permission back (so the test's temporary folder can be removed)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)
