"""Connection.send: finished responses go to the transport at the end of the event-loop
pass, batched per connection, and never out of order with anything written directly
(100 Continue, a close, an abort, a protocol switch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from featherd_testlib import InProcessSite

ECHO = ("def application(environ, start_response):\n"
        "    body = environ['wsgi.input'].read()\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'got ' + body]\n")
Site = InProcessSite


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = InProcessSite(tmp_path, "WSGIScriptAlias /echo @ROOT@/echo.py\n",
                      {"htdocs/a.txt": "AAAA\n", "htdocs/b.txt": "BBBB\n", "echo.py": ECHO})
    yield s
    s.close()


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test.local\r\n{extra}\r\n".encode()


def test_a_response_waits_for_the_end_of_the_loop_pass(site: Site) -> None:
    conn, tr = site.connect()
    conn.data_received(get("/a.txt"))
    assert tr.out == []                       # served, not written yet
    site.passes(1)
    assert len(tr.out) == 1
    assert tr.out[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert tr.out[0].endswith(b"\r\n\r\nAAAA\n")


def test_pipelined_responses_leave_in_order(site: Site) -> None:
    conn, tr = site.connect()
    conn.data_received(get("/a.txt") + get("/b.txt") + get("/missing"))
    site.passes()
    data = b"".join(tr.out)
    a, b, c = data.index(b"AAAA"), data.index(b"BBBB"), data.index(b"404 Not Found")
    assert a < b < c
    assert data.count(b"HTTP/1.1 ") == 3


def test_connections_finishing_in_one_pass_are_written_together(site: Site) -> None:
    c1, t1 = site.connect()
    c2, t2 = site.connect()
    c1.data_received(get("/a.txt"))
    c2.data_received(get("/b.txt"))
    assert t1.out == [] and t2.out == []
    site.passes(1)
    assert b"AAAA" in t1.out[0] and b"BBBB" in t2.out[0]


def test_100_continue_follows_the_earlier_response(site: Site) -> None:
    conn, tr = site.connect()
    post = (b"POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n")
    conn.data_received(get("/b.txt") + post)
    for _ in range(100):
        site.passes(1, 0.01)
        if b"100 Continue" in b"".join(tr.out):
            break
    data = b"".join(tr.out)
    assert data.index(b"BBBB") < data.index(b"HTTP/1.1 100 Continue")
    conn.data_received(b"body")
    for _ in range(100):
        site.passes(1, 0.01)
        if b"got body" in b"".join(tr.out):
            break
    data = b"".join(tr.out)
    assert data.index(b"100 Continue") < data.index(b"got body")


def test_close_writes_the_waiting_response_first(site: Site) -> None:
    conn, tr = site.connect()
    conn.data_received(get("/a.txt", "Connection: close\r\n"))
    # the close came in the same pass as the response: the bytes went out before it
    assert tr.closed
    assert len(tr.out) == 1 and tr.out[0].endswith(b"AAAA\n")
    assert b"Connection: close" in tr.out[0]


def test_abort_writes_what_was_finished_before_it(site: Site) -> None:
    conn, tr = site.connect()
    conn.data_received(get("/a.txt"))
    conn.abort()
    assert tr.closed
    assert len(tr.out) == 1 and tr.out[0].endswith(b"AAAA\n")
    site.passes()
    assert len(tr.out) == 1                   # nothing written twice


def test_a_lost_connection_drops_what_waits(site: Site) -> None:
    conn, tr = site.connect()
    conn.data_received(get("/a.txt"))
    conn.connection_lost(None)
    site.passes()
    assert tr.out == []
