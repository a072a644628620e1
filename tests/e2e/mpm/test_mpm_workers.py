"""Workers kept alive: SIGKILL'd workers are replaced, MaxRequestsPerChild, PidFile,
`featherd -k graceful|stop`, an idle keep-alive connection across a graceful restart,
and piped loggers that die are restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from featherd_testlib import SRC
from mpm_helpers import children, get, kill, master_pid, start_master, wait_for, workers_of


def test_killed_worker_is_replaced(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2)
    try:
        ws = workers_of(srv)
        assert len(ws) == 2
        kill(ws[0], signal.SIGKILL)
        assert wait_for(lambda: len(workers_of(srv)) == 2 and ws[0] not in workers_of(srv), 5)
        for _ in range(20):
            assert get(srv.port) == (200, b"hello\n")
        assert wait_for(lambda: f"child pid {ws[0]} exit signal Killed (9)" in srv.error_log(), 3)
    finally:
        srv.stop()


def test_max_requests_per_child(tmp_path: Path) -> None:
    """MaxRequestsPerChild counts connections; the worker is replaced after that many."""
    srv = start_master(tmp_path, workers=1, body="MaxRequestsPerChild 5\n")
    try:
        first = workers_of(srv)
        assert len(first) == 1
        for _ in range(5):
            assert get(srv.port) == (200, b"hello\n")
        # the old worker finishes (lingering close included) and a new one serves
        assert wait_for(lambda: len(workers_of(srv)) == 1 and workers_of(srv) != first, 8)
        for _ in range(3):
            assert get(srv.port) == (200, b"hello\n")
        assert len(workers_of(srv)) == 1
    finally:
        srv.stop()


def test_pidfile_written_and_removed(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body="PidFile run/featherd.pid\n",
                       files={"run/.keep": ""})
    pidfile = tmp_path / "run" / "featherd.pid"
    try:
        assert wait_for(pidfile.exists, 3)
        assert int(pidfile.read_text()) == master_pid(srv)
    finally:
        srv.stop()
    assert not pidfile.exists()


def _featherd(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "featherd", "-d", str(root), "-f",
                           str(root / "httpd.conf"), *args], capture_output=True, text=True,
                          env=env, timeout=30)


def test_k_graceful_and_stop_through_pidfile(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2)
    try:
        old = set(workers_of(srv))
        r = _featherd(tmp_path, "-k", "graceful")
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: len(set(workers_of(srv)) - old) == 2, 10)
        assert get(srv.port)[0] == 200
        assert "Graceful restart requested, doing restart" in srv.error_log()
        r = _featherd(tmp_path, "-k", "stop")
        assert r.returncode == 0, r.stderr
        assert srv.proc is not None and srv.proc.wait(10) == 0
        assert not (tmp_path / "logs" / "httpd.pid").exists()
        r = _featherd(tmp_path, "-k", "stop")
        assert r.stdout.strip() == "featherd (no pid file) not running"
    finally:
        srv.stop()


def test_idle_keepalive_connection_survives_graceful_restart(tmp_path: Path) -> None:
    """An old worker answers the next request on an idle keep-alive connection (with
    Connection: close) instead of closing it under the client."""
    srv = start_master(tmp_path, workers=1, body="KeepAliveTimeout 30\n")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(4096)
        assert b"200 OK" in first and b"Connection: close" not in first
        old = workers_of(srv)
        kill(master_pid(srv), signal.SIGUSR1)
        assert wait_for(lambda: set(workers_of(srv)) - set(old), 5)
        time.sleep(0.3)
        # the old worker is still there, holding our idle connection
        assert old[0] in workers_of(srv)
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert b"Connection: close" in data and data.endswith(b"hello\n")
        assert wait_for(lambda: old[0] not in workers_of(srv), 5)
    finally:
        srv.stop()


def _logger_pids(srv) -> list[int]:  # type: ignore[no-untyped-def]
    out = []
    for c in children(master_pid(srv)):
        with open(f"/proc/{c}/cmdline", "rb") as f:
            if b"featherd" not in f.read():
                out.append(c)
    return out


def test_piped_loggers_are_restarted_when_they_die(tmp_path: Path) -> None:
    acc = tmp_path / "acc.log"
    err = tmp_path / "err.log"
    srv = start_master(tmp_path, workers=2, body=(
        f'CustomLog "|exec cat >> {acc}" "%U piped"\n'
        f'ErrorLog "|exec cat >> {err}"\n'))
    try:
        assert wait_for(lambda: len(_logger_pids(srv)) == 2, 5)
        for i in range(5):
            assert get(srv.port, f"/index.html?a{i}")[0] == 200
        loggers = _logger_pids(srv)
        for p in loggers:
            kill(p, signal.SIGKILL)
        assert wait_for(lambda: len(_logger_pids(srv)) == 2
                        and not set(_logger_pids(srv)) & set(loggers), 5)
        for _ in range(5):
            assert get(srv.port, "/nothere")[0] == 404
        srv.stop()
        lines = acc.read_text().splitlines()
        assert lines.count("/index.html piped") == 5
        assert lines.count("/nothere piped") == 5
        assert err.read_text().count("File does not exist") == 5
    finally:
        srv.stop()
