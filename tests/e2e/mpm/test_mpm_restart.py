"""The event MPM under real signals (issue 3): graceful restarts under load lose no
request and no log line; HUP restarts; WINCH stops gracefully; a bad configuration on
restart keeps the old generation serving."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from mpm_helpers import Load, get, kill, master_pid, start_master, wait_for, workers_of


def _log_lines(srv, expected: int) -> list[str]:  # type: ignore[no-untyped-def]
    p = srv.root / "logs" / "access_log"
    lines: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = p.read_text().splitlines() if p.exists() else []
        if len(lines) >= expected:
            break
        time.sleep(0.1)
    return lines


def test_graceful_restart_under_load_loses_nothing(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2)
    try:
        pid = master_pid(srv)
        with Load(srv.port, clients=8) as load:
            time.sleep(0.5)
            for _ in range(4):
                before = set(workers_of(srv))
                kill(pid, signal.SIGUSR1)
                # the new generation is up (and the old one goes once idle)
                assert wait_for(lambda b=before: len(set(workers_of(srv)) - b) >= 2, 10)
                time.sleep(0.6)
            time.sleep(0.5)
        assert load.failures == [], load.failures[:5]
        assert load.ok > 100
        srv.stop()
        lines = _log_lines(srv, load.ok)
        assert len(lines) == load.ok
        assert all(line.endswith('"GET /index.html HTTP/1.1" 200 6') for line in lines)
        assert srv.error_log().count("Graceful restart requested, doing restart") == 4
    finally:
        srv.stop()


def test_graceful_restart_piped_access_log(tmp_path: Path) -> None:
    """A piped logger survives graceful restarts: every line reaches it once, whole."""
    out = tmp_path / "piped.log"
    srv = start_master(tmp_path, workers=2,
                       body=f'CustomLog "|cat >> {out}" "%h %>s %U pipe"\n')
    try:
        pid = master_pid(srv)
        with Load(srv.port, clients=6) as load:
            time.sleep(0.3)
            for _ in range(3):
                kill(pid, signal.SIGUSR1)
                time.sleep(0.7)
        assert load.failures == []
        srv.stop()
        lines = wait_for(lambda: out.read_text().splitlines()
                         if len(out.read_text().splitlines()) >= load.ok else None, 5)
        assert lines and len(lines) == load.ok
        assert all(line == "127.0.0.1 200 /index.html pipe" for line in lines)
    finally:
        srv.stop()


def test_hup_restart_rereads_config(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2, files={"htdocs/new.txt": "new\n"})
    try:
        old = set(workers_of(srv))
        assert len(old) == 2
        conf = srv.conf_path.read_text()
        srv.conf_path.write_text(conf + "Alias /aliased @ROOT@/htdocs/new.txt\n"
                                 .replace("@ROOT@", str(tmp_path)))
        kill(master_pid(srv), signal.SIGHUP)
        assert wait_for(lambda: get(srv.port, "/aliased")[0] == 200, 10)
        # HUP stops the old generation at once
        assert wait_for(lambda: not (set(workers_of(srv)) & old), 5)
        for _ in range(20):
            assert get(srv.port, "/aliased") == (200, b"new\n")
        assert len(workers_of(srv)) == 2
        assert "SIGHUP received.  Attempting to restart" in srv.error_log()
    finally:
        srv.stop()


def test_bad_config_on_graceful_restart_keeps_serving(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2)
    try:
        old = set(workers_of(srv))
        good = srv.conf_path.read_text()
        srv.conf_path.write_text(good + "NoSuchDirective here\n")
        kill(master_pid(srv), signal.SIGUSR1)
        assert wait_for(lambda: "keeping the running configuration" in srv.error_log(), 5)
        log = srv.error_log()
        assert "Invalid command 'NoSuchDirective'" in log
        assert set(workers_of(srv)) == old
        assert get(srv.port) [0] == 200
        # the configuration fixed, the next restart works
        srv.conf_path.write_text(good)
        kill(master_pid(srv), signal.SIGUSR1)
        assert wait_for(lambda: len(set(workers_of(srv)) - old) == 2, 10)
        assert get(srv.port)[0] == 200
    finally:
        srv.stop()


def test_winch_graceful_stop_finishes_inflight(tmp_path: Path) -> None:
    """WINCH: no new connections; a request in flight completes, then the master exits."""
    srv = start_master(tmp_path, workers=1, files={"htdocs/big.bin": "x" * 1_500_000},
                       body="KeepAliveTimeout 1\n")
    try:
        import socket

        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        kill(master_pid(srv), signal.SIGWINCH)
        time.sleep(0.3)
        got = len(first)
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += len(b)
        s.close()
        assert got > 1_500_000
        assert srv.proc is not None
        assert srv.proc.wait(10) == 0
        assert "caught SIGWINCH, shutting down gracefully" in srv.error_log()
    finally:
        srv.stop()
