"""Helpers of the MPM tests: a featherd master with workers, clients in threads."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time
from pathlib import Path

from featherd_testlib import Server, base_conf, free_port


def start_master(root: Path, body: str = "", workers: int = 2, files: dict[str, str] | None = None,
                 args: list[str] | None = None) -> Server:
    (root / "htdocs").mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    (root / "htdocs" / "index.html").write_text("hello\n")
    for rel, content in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    port = free_port()
    conf = base_conf(port, f"StartServers {workers}\n" + body.replace("@ROOT@", str(root)))
    srv = Server(root, conf, port, args).start()
    # the master listens before its workers run: wait for all of them
    if not wait_for(lambda: len(workers_of(srv)) == workers, 15):
        srv.stop()
        raise RuntimeError(f"featherd did not start {workers} workers")
    return srv


def master_pid(srv: Server) -> int:
    assert srv.proc is not None
    return srv.proc.pid


def children(pid: int) -> list[int]:
    """The direct children of pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(st[1]) == pid and st[0] not in ("Z", "X"):
            out.append(int(d))
    return sorted(out)


def workers_of(srv: Server) -> list[int]:
    """Worker processes (children that are featherd, not piped loggers)."""
    out = []
    for c in children(master_pid(srv)):
        try:
            with open(f"/proc/{c}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"featherd" in cmd:
            out.append(c)
    return out


def wait_for(pred, timeout: float = 10.0, step: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Load:
    """N client threads: half reuse keep-alive connections, half reconnect each time."""

    def __init__(self, port: int, clients: int = 8, path: str = "/index.html",
                 expect: bytes = b"hello\n") -> None:
        self.port = port
        self.path = path
        self.expect = expect
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i % 2 == 0,), daemon=True)
                        for i in range(clients)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _run(self, keepalive: bool) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", self.path)
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or body != self.expect:
                    raise RuntimeError(f"status {r.status} body {body[:60]!r}")
                with self.lock:
                    self.ok += 1
                if not keepalive or r.getheader("Connection", "").lower() == "close" \
                        or r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures.append(f"{'ka' if keepalive else 'new'}: {e!r}")
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def kill(pid: int, sig: int = signal.SIGTERM) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def connect_ok(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
