"""Request limits and timeouts (core manual: LimitRequestLine, LimitRequestFieldSize,
LimitRequestFields, LimitRequestBody, TimeOut), with Apache's status codes, error-page
notes and error-log lines."""

from __future__ import annotations

import socket
import time

import pytest
import test_http_util
from test_http_util import (
    Conn,
    no_crash,
    one,
    req,
    still_serving,
    wait_log,
)

module_server = test_http_util.module_server   # the shared fixture

BIG = bytes(range(256)) * 4096 * 10     # 10 MiB


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server("""\
        LimitRequestLine 100
        LimitRequestFieldSize 60
        LimitRequestFields 5
        TraceEnable extended
        <Location /small>
            LimitRequestBody 10
        </Location>
        <Location /medium>
            LimitRequestBody 1000
        </Location>
        """, files={"htdocs/small/f.txt": "f\n"})


@pytest.fixture(scope="module")
def srv_timeout(module_server):
    return module_server("""\
        TimeOut 1
        KeepAliveTimeout 5
        TraceEnable extended
        """, files={"htdocs/big.bin": BIG})


# --- LimitRequestLine ----------------------------------------------------------------
def test_request_line_at_the_limit_is_fine(srv):
    # "GET " + path + " HTTP/1.1" == 100 characters
    path = "/" + "a" * (100 - len("GET / HTTP/1.1"))
    r = one(srv, req(path, close=True))
    assert r.status == 404


def test_request_line_over_the_limit_414(srv):
    path = "/" + "a" * (101 - len("GET / HTTP/1.1"))
    r = one(srv, req(path, close=True))
    assert (r.status, r.reason) == (414, "Request-URI Too Large")
    assert r.body.endswith(b"<h1>Request-URI Too Large</h1>\n<p>The requested URL's length "
                           b"exceeds the capacity\nlimit for this server.<br />\n</p>\n"
                           b"</body></html>\n")
    assert r.h("Connection") == "close"
    log = wait_log(srv, "LimitRequestLine", "error_log")
    assert "request failed: client's request-line exceeds LimitRequestLine (longer than 100)" \
        in log


def test_request_line_flood_without_newline_414(srv):
    r = one(srv, b"GET /" + b"x" * 5000)
    assert r.status == 414


# --- LimitRequestFieldSize / LimitRequestFields --------------------------------------
def test_header_field_too_long_400_with_pre_note(srv):
    r = one(srv, req(headers={"X-Long": "v" * 80}, close=True))
    assert r.status == 400
    assert (b"<p>Your browser sent a request that this server could not understand.<br />\n"
            b"Size of a request header field exceeds server limit.<br />\n<pre>\nX-Long\n"
            b"</pre>\n</p>\n") in r.body
    log = wait_log(srv, "LimitRequestFieldSize", "error_log")
    assert "Request header exceeds LimitRequestFieldSize: X-Long" in log


def test_header_field_name_is_escaped_in_the_note(srv):
    r = one(srv, req(headers={"X-<b>": "v" * 80}, close=True))
    assert r.status == 400
    # "<" is not a token character, but the size check comes first (as in Apache)
    assert b"<pre>\nX-&lt;b&gt;\n</pre>" in r.body


def test_header_field_at_the_limit_is_fine(srv):
    line = "X-Ok: " + "v" * (60 - len("X-Ok: "))
    r = one(srv, req(headers=[tuple(line.split(": ", 1))], close=True))  # type: ignore[list-item]
    assert r.status == 200


def test_too_many_header_fields_400(srv):
    hdrs = [(f"X-{i}", "v") for i in range(6)]       # + Host = 7 > 5
    r = one(srv, req(headers=hdrs, close=True))
    assert r.status == 400
    assert (b"<br />\nThe number of request header fields exceeds this server's limit."
            b"</p>\n") in r.body
    assert "LimitRequestFields" in wait_log(srv, "LimitRequestFields", "error_log")


def test_header_count_at_the_limit_is_fine(srv):
    hdrs = [(f"X-{i}", "v") for i in range(3)]       # Host + 3 + Connection = 5
    assert one(srv, req(headers=hdrs, close=True)).status == 200


# --- LimitRequestBody ----------------------------------------------------------------
def test_body_within_limit(srv):
    data = req("/medium", "TRACE", headers={"Content-Length": "5"}, body=b"12345")
    r = one(srv, data + req(close=True), "TRACE")
    assert r.status == 200 and r.body.endswith(b"\r\n\r\n12345")


def test_content_length_over_limit_413_up_front(srv):
    with Conn(srv.port) as c:
        # only the head: the 413 must not wait for the body
        r = c.request(req("/small/x", "TRACE", headers={"Content-Length": "11"}))
        assert (r.status, r.reason) == (413, "Request Entity Too Large")
        assert r.body.endswith(b"<h1>Request Entity Too Large</h1>\nThe requested resource"
                               b"<br />/small/x<br />\ndoes not allow request data with TRACE "
                               b"requests, or the amount of data provided in\nthe request "
                               b"exceeds the capacity limit.\n</body></html>\n")
        assert r.h("Connection") == "close"
        assert c.closed()
    log = wait_log(srv, "Requested content-length of 11", "error_log")
    assert "Requested content-length of 11 is larger than the configured limit of 10" in log


def test_chunked_body_over_limit_413_while_reading(srv):
    head = req("/small/x", "TRACE", headers={"Transfer-Encoding": "chunked"})
    with Conn(srv.port) as c:
        c.send(head + b"6\r\nabcdef\r\n")
        time.sleep(0.2)
        c.send(b"6\r\nghijkl\r\n")
        r = c.response("TRACE")
        assert r.status == 413 and r.h("Connection") == "close"
        assert c.closed()
    log = wait_log(srv, "Read content-length of 12", "error_log")
    assert "Read content-length of 12 is larger than the configured limit of 10" in log


def test_chunked_body_within_limit(srv):
    head = req("/small/x", "TRACE", headers={"Transfer-Encoding": "chunked"}, close=True)
    r = one(srv, head + b"3\r\nabc\r\n7\r\ndefghij\r\n0\r\n\r\n", "TRACE")
    assert r.status == 200 and r.body.endswith(b"abcdefghij")


def test_static_file_refuses_body_over_limit(srv):
    # the default handler discards the body first, with the limit (2.2)
    r = one(srv, req("/small/f.txt", "POST", headers={"Content-Length": "50"}))
    assert r.status == 413


def test_limit_applies_per_directory(srv):
    data = req("/medium", "TRACE", headers={"Content-Length": "500"}, body=b"z" * 500,
               close=True)
    assert one(srv, data, "TRACE").status == 200


# --- TimeOut -------------------------------------------------------------------------
def _closed_within(c: Conn, lo: float, hi: float) -> bytes:
    t0 = time.monotonic()
    data = c.read_all(hi + 2)
    took = time.monotonic() - t0
    assert c.eof, "the server did not close"
    assert lo <= took <= hi, took
    return data


def test_half_request_line_closed_after_timeout(srv_timeout):
    with Conn(srv_timeout.port) as c:
        c.send(b"GET /inde")
        assert _closed_within(c, 0.7, 2.5) == b""      # silently, as httpd


def test_idle_new_connection_closed_after_timeout(srv_timeout):
    with Conn(srv_timeout.port) as c:
        assert _closed_within(c, 0.7, 2.5) == b""


def test_stalled_headers_get_408(srv_timeout):
    with Conn(srv_timeout.port) as c:
        c.send(b"GET /index.html HTTP/1.1\r\nHost: test.local\r\n")
        data = _closed_within(c, 0.7, 2.5)
    assert data.startswith(b"HTTP/1.1 408 Request Time-out\r\n")
    assert b"<p>Server timeout waiting for the HTTP request from the client.</p>" in data


def test_trickled_request_is_fine(srv_timeout):
    # each piece comes within TimeOut: the timeout restarts with every read
    with Conn(srv_timeout.port) as c:
        for piece in (b"GET /index.html HT", b"TP/1.1\r\nHost: te", b"st.local\r\n\r\n"):
            c.send(piece)
            time.sleep(0.6)
        r = c.response()
        assert r.status == 200


def test_stalled_body_read_by_handler_408(srv_timeout):
    with Conn(srv_timeout.port) as c:
        c.send(req("/", "TRACE", headers={"Content-Length": "10"}, body=b"abc"))
        data = _closed_within(c, 0.7, 2.5)
    assert data.startswith(b"HTTP/1.1 408 Request Time-out\r\n")
    assert "error reading the request body" in wait_log(srv_timeout, "request body",
                                                        "error_log")


def test_stalled_unread_body_closes_after_the_response(srv_timeout):
    with Conn(srv_timeout.port) as c:
        c.send(req("/index.html", "PUT", headers={"Content-Length": "10"}, body=b"abc"))
        r = c.response()
        assert r.status == 405
        assert _closed_within(c, 0.7, 2.5) == b""


def test_client_not_reading_is_dropped_after_timeout(srv_timeout):
    s = socket.create_connection(("127.0.0.1", srv_timeout.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(req("/big.bin", close=True))
    time.sleep(2)                       # TimeOut 1 while the server can't write
    got = 0
    s.settimeout(5)
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += len(b)
    except (ConnectionResetError, TimeoutError):
        pass
    s.close()
    assert 0 < got < len(BIG)
    still_serving(srv_timeout)


def test_nothing_crashed(srv, srv_timeout):
    for s in (srv, srv_timeout):
        no_crash(s)
        still_serving(s)
