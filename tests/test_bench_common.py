"""bench/common.py's studio server, which the browser tests and benchmarks start."""

import socket
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
