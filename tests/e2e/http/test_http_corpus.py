"""The raw request corpus (tests/http/requests/*.http, format in its README.md): every
request against a real featherd, with the expected status and connection outcome;
after each one a good request must still succeed and nothing may crash. The same
corpus runs against Apache (2.4) to record where the two differ."""

from __future__ import annotations

import codecs
import socket
from pathlib import Path

import pytest
import test_http_util
from test_http_util import (
    GOOD,
    Conn,
    Incomplete,
    _parse_one,
    needs_apache,
    no_crash,
    req,
    still_serving,
)

module_apache = test_http_util.module_apache   # the shared fixture
module_server = test_http_util.module_server   # the shared fixture

CORPUS = Path(__file__).resolve().parents[2] / "http" / "requests"


class Case:
    def __init__(self, path: Path) -> None:
        self.name = path.stem
        self.meta: dict[str, str] = {}
        self.comment = ""
        payload = []
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("#") and not payload:
                body = line[1:].strip()
                key, sep, value = body.partition(":")
                if sep and key.strip() in ("expect", "closes", "eof", "apache"):
                    self.meta[key.strip()] = value.strip()
                elif not self.comment:
                    self.comment = body
                continue
            payload.append(line)
        self.data: bytes = codecs.escape_decode("".join(payload).encode("latin-1"))[0]
        self.expect = self.meta["expect"]
        self.closes = self.meta.get("closes", "yes") == "yes"
        self.eof = self.meta.get("eof", "no") == "yes"
        self.apache = self.meta.get("apache", self.expect)


CASES = [Case(p) for p in sorted(CORPUS.glob("*.http"))]


def test_corpus_is_big_enough():
    assert len(CASES) >= 30
    bad = [c for c in CASES if c.expect not in ("200", "none") and c.expect[0] in "45"]
    assert len(bad) >= 30


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server("TraceEnable extended\n")


def run(port: int, case: Case, wait: float = 3.0,
        check_close: bool = True) -> tuple[int | None, bool, Conn]:
    """(status of the first response or None, closed by the server, the connection)."""
    c = Conn(port, timeout=wait)
    c.send(case.data)
    if case.eof:
        c.sock.shutdown(socket.SHUT_WR)
    method = "HEAD" if case.data.lstrip(b"\r\n").startswith(b"HEAD ") else "GET"
    status = None
    while True:
        try:
            r, used = _parse_one(c.buf, method, c.eof)
            c.buf = c.buf[used:]
            if r.status >= 200:
                status = r.status
                assert b"Traceback" not in r.body
                break
        except (Incomplete, ValueError):
            if c.eof:
                if c.buf.startswith(b"hello"):      # HTTP/0.9: the bare body
                    status = 200
                    c.buf = b""
                break
            try:
                if not c._fill():
                    continue
            except TimeoutError:
                break
    if not check_close:
        return status, c.eof, c
    closed = c.eof or c.closed(0.5 if not case.closes else wait)
    return status, closed, c


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus(srv, case):
    status, closed, c = run(srv.port, case)
    try:
        assert (str(status) if status else "none") == case.expect, case.comment
        assert closed == case.closes, case.comment
        if not case.closes:
            r = c.request(req("/abc.txt"))
            assert r.status == 200 and r.body == b"abcdefghijklmnopqrstuvwxyz"
    finally:
        c.close()
    still_serving(srv)


def test_corpus_left_no_crash(srv):
    no_crash(srv)
    still_serving(srv)
    assert b"Traceback" not in srv.raw(GOOD)


@pytest.fixture(scope="module")
def apache(module_apache):
    return module_apache("TraceEnable extended\n")


@needs_apache
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_against_apache(apache, case):
    status, _, c = run(apache.port, case, wait=2.0, check_close=False)
    c.close()
    assert (str(status) if status else "none") == case.apache, case.comment
