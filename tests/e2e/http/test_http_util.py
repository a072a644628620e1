"""Helpers shared by the HTTP engine's end-to-end tests (this file holds no tests).

* ``module_server``: a module-scoped factory of real featherd processes (one per
  configuration, shared by the tests of a module to keep the suite fast);
* ``Conn``: a raw socket conversation (send bytes, read whole responses, see the
  server close); ``parse_responses``: split raw bytes into responses;
* ``Apache``: Debian's apache2 (2.4) on a free port, started and stopped by
  tests/compat/compat_harness.py's ``apache_server``, the oracle for the comparison
  tests (skipped when apache2 is not installed).
"""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from featherd_testlib import Server, base_conf, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import apache_available, apache_server  # noqa: E402

GOOD = b"GET /index.html HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n"


class Resp:
    """One parsed response."""

    def __init__(self, version: str, status: int, reason: str,
                 headers: list[tuple[str, str]], body: bytes, raw_head: bytes,
                 chunked_raw: bytes = b"") -> None:
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw_head = raw_head
        self.chunked_raw = chunked_raw

    def h(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def names(self) -> list[str]:
        return [k for k, _ in self.headers]

    def __repr__(self) -> str:
        return f"<Resp {self.status} {self.headers!r} {self.body[:60]!r}>"


class Incomplete(Exception):
    pass


def _parse_one(buf: bytes, method: str, at_eof: bool) -> tuple[Resp, int]:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise Incomplete
    head = buf[:end]
    lines = head.decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k, v.strip()))
    r = Resp(version, int(status), reason[0] if reason else "", headers, b"", head)
    pos = end + 4
    if r.status < 200:
        return r, pos
    te = r.h("Transfer-Encoding")
    cl = r.h("Content-Length")
    if method == "HEAD" or r.status in (204, 304):
        return r, pos
    if te and "chunked" in te.lower():
        body = []
        p = pos
        while True:
            e = buf.find(b"\r\n", p)
            if e < 0:
                raise Incomplete
            size = int(buf[p:e].split(b";")[0], 16)
            p = e + 2
            if size == 0:
                e2 = buf.find(b"\r\n", p)
                while e2 >= 0 and e2 != p:     # trailers
                    p = e2 + 2
                    e2 = buf.find(b"\r\n", p)
                if e2 < 0:
                    raise Incomplete
                p = e2 + 2
                break
            if len(buf) < p + size + 2:
                raise Incomplete
            body.append(buf[p:p + size])
            assert buf[p + size:p + size + 2] == b"\r\n", "bad chunk framing"
            p += size + 2
        r.body = b"".join(body)
        r.chunked_raw = buf[pos:p]
        return r, p
    if cl is not None:
        n = int(cl)
        if len(buf) < pos + n:
            raise Incomplete
        r.body = buf[pos:pos + n]
        return r, pos + n
    if not at_eof:
        raise Incomplete
    r.body = buf[pos:]
    return r, len(buf)


def parse_responses(data: bytes, methods: list[str] | None = None) -> list[Resp]:
    """Every complete response in ``data`` (read until the server closed)."""
    out = []
    pos = 0
    i = 0
    while pos < len(data):
        m = methods[i] if methods and i < len(methods) else "GET"
        r, used = _parse_one(data[pos:], m, True)
        out.append(r)
        pos += used
        if r.status >= 200:
            i += 1
    return out


class Conn:
    """A raw client connection."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        try:
            b = self.sock.recv(1 << 20)
        except ConnectionResetError:
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def response(self, method: str = "GET") -> Resp:
        """The next complete response (a 100 Continue counts as one)."""
        while True:
            try:
                r, used = _parse_one(self.buf, method, self.eof)
                break
            except Incomplete:
                if self.eof:
                    raise AssertionError(f"connection closed; got {self.buf!r}") from None
                self._fill()
        self.buf = self.buf[used:]
        return r

    def request(self, data: bytes, method: str = "GET") -> Resp:
        self.send(data)
        return self.response(method)

    def closed(self, wait: float = 3.0) -> bool:
        """True when the server closes the connection within ``wait`` seconds."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            return not self._fill()
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def read_all(self, wait: float = 5.0) -> bytes:
        self.sock.settimeout(wait)
        try:
            while self._fill():
                pass
        except TimeoutError:
            pass
        out, self.buf = self.buf, b""
        return out

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *a: Any) -> None:
        self.close()


def req(path: str = "/index.html", method: str = "GET", *, version: str = "HTTP/1.1",
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        host: str | None = "test.local", body: bytes = b"", close: bool = False) -> bytes:
    """A raw request."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for k, v in items:
        lines.append(f"{k}: {v}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def one(srv: Any, data: bytes, method: str = "GET", timeout: float = 5.0) -> Resp:
    """Send one request on a new connection; its response (read until close)."""
    raw = srv.raw(data, timeout=timeout)
    rs = parse_responses(raw, [method])
    assert rs, f"no response to {data[:80]!r}"
    return rs[0]


def still_serving(srv: Any) -> None:
    """A good request on a new connection succeeds (the server survived)."""
    r = one(srv, GOOD)
    assert r.status == 200, r
    assert r.body == b"hello\n"


def wait_log(srv: Any, text: str, name: str = "access_log", wait: float = 4.0) -> str:
    """The log once ``text`` shows up in it (logs are flushed on a timer)."""
    deadline = time.monotonic() + wait
    while True:
        log = srv.error_log() if name == "error_log" else srv.access_log(name, wait=0)
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def no_crash(srv: Any) -> None:
    """Nothing in the error log looks like an unhandled exception."""
    log = srv.error_log()
    for bad in ("Traceback", "internal error"):
        assert bad not in log, log[-3000:]


STD_FILES: dict[str, str | bytes] = {
    "htdocs/index.html": "hello\n",
    "htdocs/abc.txt": "abcdefghijklmnopqrstuvwxyz",
}


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """module_server(conf_body, files) -> a started featherd shared by a test module."""
    servers: list[Server] = []

    def factory(body: str = "", files: dict[str, str | bytes] | None = None,
                raw_conf: str | None = None) -> Server:
        root = tmp_path_factory.mktemp("featherd")
        (root / "htdocs").mkdir(exist_ok=True)
        (root / "logs").mkdir(exist_ok=True)
        for rel, content in {**STD_FILES, **(files or {})}.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
            # an hour old: strong validators (no W/ ETag, If-Range dates usable)
            os.utime(p, (time.time() - 3600, time.time() - 3600))
        port = free_port()
        if raw_conf is not None:
            conf = raw_conf.replace("@PORT@", str(port)).replace("@ROOT@", str(root))
        else:
            conf = base_conf(port, textwrap.dedent(body).replace("@ROOT@", str(root))
                             .replace("@PORT@", str(port)))
        srv = Server(root, conf, port)
        servers.append(srv)
        srv.start()
        return srv

    yield factory
    for s in servers:
        out = s.stop()
        assert "Traceback" not in out, out


# --- Apache, the oracle ------------------------------------------------------------------
APACHE_MODULES = ("mpm_event", "authz_core", "authz_user", "dir", "autoindex", "mime")
have_apache = apache_available(("mpm_event",)) is None
needs_apache = pytest.mark.skipif(not have_apache, reason="apache2 is not installed")


class Apache:
    """apache2 -DFOREGROUND on a free port (compat_harness.apache_server); stopped by PID."""

    def __init__(self, root: Path, body: str, files: dict[str, str | bytes]) -> None:
        self.root = root
        self.port = free_port()
        (root / "htdocs").mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
        self.proc = apache_server(
            root, [m for m in APACHE_MODULES if apache_available((m,)) is None],
            "ServerName test.local\n"
            f"ServerAdmin admin@test.local\nDocumentRoot {root}/htdocs\n"
            "LogLevel debug\nTypesConfig /etc/mime.types\n"
            "<Directory />\n  Require all granted\n</Directory>\n"
            + textwrap.dedent(body).replace("@ROOT@", str(root))
            .replace("@PORT@", str(self.port)), port=self.port)
        self.proc.start(timeout=10)

    def raw(self, data: bytes, timeout: float = 5.0) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            out = []
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    out.append(b)
            except (TimeoutError, ConnectionResetError):
                pass
            return b"".join(out)

    def error_log(self) -> str:
        return self.proc.error_log()

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture(scope="module")
def module_apache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not have_apache:
        pytest.skip("apache2 is not installed")
    made: list[Apache] = []

    def factory(body: str = "", files: dict[str, str | bytes] | None = None) -> Apache:
        a = Apache(tmp_path_factory.mktemp("apache"), body, {**STD_FILES, **(files or {})})
        made.append(a)
        return a

    yield factory
    for a in made:
        a.stop()
