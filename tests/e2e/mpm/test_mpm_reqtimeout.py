"""mod_reqtimeout (RequestReadTimeout) and the per-worker connection cap, against slow
clients: a Python slowloris of 300 sockets (bounded in time) while a probe keeps being
answered, and Debian's slowhttptest (-H, -B, -X) when installed."""

from __future__ import annotations

import selectors
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from mpm_helpers import get, start_master, wait_for


def _read_all(s: socket.socket, timeout: float) -> tuple[bytes, float]:
    s.settimeout(timeout)
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except TimeoutError:
        pass
    return data, time.monotonic() - t0


def test_header_timeout_408(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body="RequestReadTimeout header=1 body=5\n")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        data, took = _read_all(s, 5)
        assert data.startswith(b"HTTP/1.1 408 Request Time-out\r\n"), data[:80]
        assert 0.8 < took < 2.5
        assert wait_for(lambda: "Request header read timeout" in srv.error_log(), 3)
        assert '"GET / HTTP/1.1" 408' in srv.access_log()
    finally:
        srv.stop()


def test_header_min_rate_extends_up_to_max(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1,
                       body="RequestReadTimeout header=1-3,MinRate=20 body=5\n")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET / HTTP/1.1\r\n")
        t0 = time.monotonic()
        s.settimeout(0.05)
        data = b""
        # 20 bytes/s: every byte buys a twentieth of a second, until the 3 s maximum
        while time.monotonic() - t0 < 6 and not data:
            try:
                s.sendall(b"X-Slow: 1234567890\r\n")
            except OSError:
                break
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                try:
                    b = s.recv(4096)
                except TimeoutError:
                    continue
                data += b
                if not b or data:
                    break
        took = time.monotonic() - t0
        assert data.startswith(b"HTTP/1.1 408"), data[:60]
        assert 2.5 < took < 4.5
    finally:
        srv.stop()


def test_nothing_sent_is_closed_silently(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body="RequestReadTimeout header=1\n")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        data, took = _read_all(s, 5)
        assert data == b"" and 0.8 < took < 2.5
        assert wait_for(lambda: "Request header read timeout" in srv.error_log(), 3)
    finally:
        srv.stop()


def test_idle_keepalive_is_not_a_header_timeout(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1,
                       body="RequestReadTimeout header=1\nKeepAliveTimeout 5\n")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(1.6)
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = _read_all(s, 5)
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello\n")
    finally:
        srv.stop()


def test_body_timeout_408(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1,
                       body="RequestReadTimeout header=5 body=1\nTraceEnable extended\n")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"TRACE / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        data, took = _read_all(s, 6)
        assert data.startswith(b"HTTP/1.1 408"), data[:80]
        assert 0.8 < took < 2.5
        assert wait_for(lambda: "Request body read timeout" in srv.error_log(), 3)
    finally:
        srv.stop()


def test_off_with_zero(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1,
                       body="RequestReadTimeout header=0 body=0\nTimeout 3\n")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        data, took = _read_all(s, 6)
        # only TimeOut (3 s) applies
        assert data.startswith(b"HTTP/1.1 408") and took > 2.5
        assert "Request header read timeout" not in srv.error_log()
    finally:
        srv.stop()


def test_bad_config(tmp_path: Path) -> None:
    from featherd_testlib import Server, base_conf, free_port

    (tmp_path / "logs").mkdir()
    for arg, msg in (("header=10-20", "RequestReadTimeout: header=10-20: Must set MinRate "
                                      "option if using timeout range"),
                     ("foo=1", "RequestReadTimeout: foo=1: Unknown RequestReadTimeout "
                               "parameter"),
                     ("header", "Invalid RequestReadTimeout parameter. Parameter must be "
                                "in the form 'key=value'"),
                     ("body=20-10,MinRate=5", "Maximum timeout must be larger than initial "
                                              "timeout")):
        port = free_port()
        with pytest.raises(RuntimeError, match=msg.replace("(", r"\(")):
            Server(tmp_path, base_conf(port, f"RequestReadTimeout {arg}\n"), port).start()


class Probe:
    """Requests / every 0.1 s on a new connection; records failures and latency."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.times: list[float] = []
        self.failures: list[str] = []
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                st, body = get(self.port, "/index.html", timeout=3)
                if st != 200 or body != b"hello\n":
                    self.failures.append(f"status {st}")
            except Exception as e:  # noqa: BLE001
                self.failures.append(repr(e))
            self.times.append(time.monotonic() - t0)
            time.sleep(0.1)

    def __enter__(self) -> Probe:
        self.t.start()
        return self

    def __exit__(self, *a: object) -> None:
        self.stop.set()
        self.t.join(10)


def slowloris(port: int, n: int, duration: float) -> dict[str, int]:
    """n connections sending a header line every 0.5 s for ``duration`` seconds."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        s.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    got: dict[socket.socket, bytes] = {}
    closed: set[socket.socket] = set()
    end = time.monotonic() + duration
    next_send = time.monotonic() + 0.5
    while time.monotonic() < end and len(closed) < n:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj  # type: ignore[assignment]
            try:
                b = s.recv(4096)  # type: ignore[union-attr]
            except OSError:
                b = b""
            if b:
                got[s] = got.get(s, b"") + b  # type: ignore[index]
            else:
                sel.unregister(s)
                closed.add(s)  # type: ignore[arg-type]
        if time.monotonic() >= next_send:
            next_send += 0.5
            for s in socks:
                if s not in closed:
                    try:
                        s.send(b"X-a: b\r\n")
                    except OSError:
                        pass
    for s in socks:
        s.close()
    return {"open": n, "closed": len(closed),
            "got_408": sum(1 for v in got.values() if v.startswith(b"HTTP/1.1 408"))}


def test_slowloris_300_sockets_probe_answered(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=2, body="RequestReadTimeout header=2-3,MinRate=500\n")
    try:
        with Probe(srv.port) as probe:
            res = slowloris(srv.port, 300, duration=5.0)
        assert probe.failures == []
        assert len(probe.times) >= 20
        assert max(probe.times) < 1.0, max(probe.times)
        # every slow connection was cut by the header deadline, with a 408
        assert res["closed"] == 300 and res["got_408"] == 300, res
    finally:
        srv.stop()


def test_connection_cap_stops_accepting_then_resumes(tmp_path: Path) -> None:
    srv = start_master(tmp_path, workers=1, body="MaxClients 10\nRequestReadTimeout header=0\n")
    try:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(10)]
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        extra.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        extra.settimeout(0.8)
        with pytest.raises(TimeoutError):
            extra.recv(100)           # queued, not accepted: the worker is at its cap
        assert wait_for(lambda: "server reached MaxClients setting, consider raising the "
                                "MaxClients setting" in srv.error_log(), 3)
        idle.pop().close()            # one goes: the worker accepts again
        data, _ = _read_all(extra, 5)
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello\n")
        for s in idle:
            s.close()
    finally:
        srv.stop()


SLOWHTTPTEST = shutil.which("slowhttptest")


@pytest.mark.skipif(SLOWHTTPTEST is None, reason="slowhttptest not installed")
@pytest.mark.parametrize("mode", [["-H"], ["-B"], ["-X", "-k", "3", "-w", "10", "-y", "20",
                                                   "-n", "2", "-z", "32"]])
def test_slowhttptest_probe_answered(tmp_path: Path, mode: list[str]) -> None:
    srv = start_master(tmp_path, workers=2, body="RequestReadTimeout header=2-4,MinRate=500 "
                       "body=2-4,MinRate=500\nTraceEnable extended\n",
                       files={"htdocs/big.txt": "x" * 200_000})
    try:
        url = f"http://127.0.0.1:{srv.port}/" + ("big.txt" if "-X" in mode else "index.html")
        with Probe(srv.port) as probe:
            r = subprocess.run([SLOWHTTPTEST, *mode, "-c", "300", "-r", "150", "-i", "1",
                                "-l", "6", "-u", url, "-p", "2"],
                               capture_output=True, text=True, timeout=60)
        assert "slowhttptest" in (r.stdout + r.stderr).lower()
        assert probe.failures == [], probe.failures[:3]
        assert len(probe.times) >= 20 and max(probe.times) < 2.0, max(probe.times)
    finally:
        srv.stop()
