"""bench/common.py's studio server, which the browser tests and benchmarks start."""

import json
import os
import socket
import subprocess
import sys
import urllib.request

from bench import common


def test_a_server_whose_port_is_taken_before_it_binds_starts_on_another(tmp_path, monkeypatch):
    with socket.socket() as taken:  # another process took the port after it was found free
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spare = common.free_port()
        ports = iter([taken.getsockname()[1], spare])
        monkeypatch.setattr(common, "free_port", lambda: next(ports))
        with common.studio_server(tmp_path / "home") as (url, _):
            assert url == f"http://127.0.0.1:{spare}"
            with urllib.request.urlopen(url + "/_stcore/health", timeout=30) as answer:
                assert answer.read() == b"ok"
        log = (tmp_path / "home" / "server.log").read_text()
        assert f"Port {taken.getsockname()[1]} {common.PORT_TAKEN}" in log
        assert log.count("--- starting on port") == 2


def test_results_go_to_the_folder_named_in_the_environment(tmp_path):
    env = dict(os.environ, BENCH_RESULTS_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", "from bench.common import write_result; "
                           "write_result('probe', {'figure': 1})"],
                          cwd=common.ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "probe.json").read_text())["figure"] == 1
    assert not (common.ROOT / "bench" / "results" / "probe.json").exists()
    assert str(tmp_path / "probe.json") in done.stdout
