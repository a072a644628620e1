"""Persistent connections, pipelining and the keep-alive directives (core manual:
KeepAlive, KeepAliveTimeout, MaxKeepAliveRequests; RFC 2616 8.1 / RFC 7230 6.3), with
Apache 2.2's ap_set_keepalive rules: the Keep-Alive header only answers a client's
keep-alive token, "Connection: close" otherwise, N+1 requests for MaxKeepAliveRequests N.
"""

from __future__ import annotations

import time

import pytest
import test_http_util
from test_http_util import (
    Conn,
    needs_apache,
    no_crash,
    parse_responses,
    req,
    still_serving,
    wait_log,
)

module_apache = test_http_util.module_apache   # the shared fixture
module_server = test_http_util.module_server   # the shared fixture

KA = {"Connection": "keep-alive"}


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server("MaxKeepAliveRequests 3\nKeepAliveTimeout 1\nTraceEnable on\n")


@pytest.fixture(scope="module")
def srv_default(module_server):
    return module_server()


@pytest.fixture(scope="module")
def srv_off(module_server):
    return module_server("KeepAlive Off\n")


@pytest.fixture(scope="module")
def srv_unlimited(module_server):
    return module_server("MaxKeepAliveRequests 0\nKeepAliveTimeout 7\n")


def test_http11_persistent_without_keepalive_headers(srv_default):
    # HTTP/1.1 is persistent by default; no token sent, so no Keep-Alive header back
    with Conn(srv_default.port) as c:
        for _ in range(3):
            r = c.request(req())
            assert r.status == 200 and r.body == b"hello\n"
            assert r.h("Connection") is None and r.h("Keep-Alive") is None
        assert not c.closed(0.3)


def test_keepalive_header_counts_down(srv_default):
    # core manual, MaxKeepAliveRequests default 100; "max" is what is left
    with Conn(srv_default.port) as c:
        for left in (100, 99, 98):
            r = c.request(req(headers=KA))
            assert r.status == 200
            assert r.h("Keep-Alive") == f"timeout=5, max={left}"
            assert r.h("Connection") == "Keep-Alive"


def test_max_keepalive_requests_allows_n_plus_one(srv):
    # MaxKeepAliveRequests 3: Apache serves 4 requests, the last one with "close"
    with Conn(srv.port) as c:
        for left in (3, 2, 1):
            r = c.request(req(headers=KA))
            assert r.status == 200
            assert r.h("Keep-Alive") == f"timeout=1, max={left}"
        r = c.request(req(headers=KA))
        assert r.status == 200
        assert r.h("Keep-Alive") is None
        assert r.h("Connection") == "close"
        assert c.closed()


def test_max_keepalive_requests_http11_without_token(srv):
    with Conn(srv.port) as c:
        for _ in range(3):
            r = c.request(req())
            assert r.h("Connection") is None
        r = c.request(req())
        assert r.h("Connection") == "close"
        assert c.closed()


def test_unlimited_keepalive_and_timeout_value(srv_unlimited):
    # MaxKeepAliveRequests 0: no limit, and the header carries no max
    with Conn(srv_unlimited.port) as c:
        for _ in range(120):
            r = c.request(req(headers=KA))
            assert r.status == 200
        assert r.h("Keep-Alive") == "timeout=7"
        assert r.h("Connection") == "Keep-Alive"


def test_keepalive_timeout_closes_idle_connection(srv):
    with Conn(srv.port) as c:
        assert c.request(req()).status == 200
        t0 = time.monotonic()
        assert c.closed(4)
        took = time.monotonic() - t0
        assert 0.7 < took < 3.0, took


def test_keepalive_timeout_restarts_after_each_request(srv):
    with Conn(srv.port) as c:
        for _ in range(3):
            time.sleep(0.6)            # less than KeepAliveTimeout 1 each time
            assert c.request(req()).status == 200


def test_keepalive_off(srv_off):
    with Conn(srv_off.port) as c:
        r = c.request(req(headers=KA))
        assert r.status == 200
        assert r.h("Connection") == "close" and r.h("Keep-Alive") is None
        assert c.closed()


def test_http10_without_keepalive_closes(srv_default):
    with Conn(srv_default.port) as c:
        r = c.request(req(version="HTTP/1.0", host=None))
        assert r.status == 200 and r.version == "HTTP/1.1"
        assert r.h("Connection") == "close"
        assert c.closed()


def test_http10_with_keepalive_stays_open(srv_default):
    with Conn(srv_default.port) as c:
        r = c.request(req(version="HTTP/1.0", host=None, headers=KA))
        assert r.h("Keep-Alive") == "timeout=5, max=100"
        assert r.h("Connection") == "Keep-Alive"
        r = c.request(req("/abc.txt", version="HTTP/1.0", host=None, headers=KA))
        assert r.body == b"abcdefghijklmnopqrstuvwxyz"
        assert r.h("Keep-Alive") == "timeout=5, max=99"
        r = c.request(req(version="HTTP/1.0", host=None))   # no token: the last one
        assert r.h("Connection") == "close"
        assert c.closed()


def test_http11_connection_close(srv_default):
    with Conn(srv_default.port) as c:
        r = c.request(req(close=True))
        assert r.status == 200 and r.h("Connection") == "close"
        assert c.closed()


def test_connection_tokens_are_case_insensitive(srv_default):
    with Conn(srv_default.port) as c:
        r = c.request(req(headers={"Connection": "TE, Keep-Alive"}))
        assert r.h("Keep-Alive") == "timeout=5, max=100"
        r = c.request(req(headers={"Connection": "foo, CLOSE"}))
        assert r.h("Connection") == "close"
        assert c.closed()


def test_http10_keepalive_unknown_length_closes(srv):
    # TRACE streams its body; HTTP/1.0 can't be chunked, so the connection ends it
    with Conn(srv.port) as c:
        r = c.request(req("/", "TRACE", version="HTTP/1.0", host=None, headers=KA))
        assert r.status == 200 and r.h("Transfer-Encoding") is None
        assert r.h("Content-Length") is None and r.h("Connection") == "close"
        assert r.body.startswith(b"TRACE / HTTP/1.0\r\n")
        assert c.closed()


def test_pipelined_requests_answered_in_order(srv_default):
    batch = (req("/abc.txt") + req("/index.html", "HEAD") + req("/missing")
             + req("/index.html", close=True))
    with Conn(srv_default.port) as c:
        c.send(batch)          # one packet
        data = c.read_all()
    rs = parse_responses(data, ["GET", "HEAD", "GET", "GET"])
    assert [r.status for r in rs] == [200, 200, 404, 200]
    assert rs[0].body == b"abcdefghijklmnopqrstuvwxyz"
    assert rs[1].body == b"" and rs[1].h("Content-Length") == "6"
    assert b"/missing was not found" in rs[2].body
    assert rs[3].body == b"hello\n" and rs[3].h("Connection") == "close"


def test_pipelined_requests_split_at_odd_places(srv_default):
    batch = req("/abc.txt") * 3 + req(close=True)
    with Conn(srv_default.port) as c:
        for i in range(0, len(batch), 7):
            c.send(batch[i:i + 7])
            time.sleep(0.002)
        rs = parse_responses(c.read_all())
    assert [r.status for r in rs] == [200, 200, 200, 200]
    assert rs[-1].body == b"hello\n"


def test_pipelined_post_bodies_are_drained(srv_default):
    # a body nobody reads (PUT on a static file: 405) is discarded before the next request
    chunked = (b"PUT /index.html HTTP/1.1\r\nHost: test.local\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n"
               b"X-Trailer: yes\r\n\r\n")
    plain = req("/index.html", "PUT", headers={"Content-Length": "11"}, body=b"hello world")
    with Conn(srv_default.port) as c:
        c.send(chunked + plain + req("/abc.txt", close=True))
        rs = parse_responses(c.read_all())
    assert [r.status for r in rs] == [405, 405, 200]
    assert rs[0].h("Allow") == "GET,HEAD,POST,OPTIONS,TRACE"
    assert rs[0].h("Connection") is None       # 405 keeps the connection
    assert rs[2].body == b"abcdefghijklmnopqrstuvwxyz"


def test_body_arriving_later_is_drained(srv_default):
    with Conn(srv_default.port) as c:
        c.send(req("/index.html", "PUT", headers={"Content-Length": "10"}))
        r = c.response()
        assert r.status == 405
        time.sleep(0.2)
        c.send(b"0123456789")
        r = c.request(req("/abc.txt"))
        assert r.status == 200 and r.body == b"abcdefghijklmnopqrstuvwxyz"


def test_many_pipelined_requests(srv_unlimited):
    n = 200
    with Conn(srv_unlimited.port) as c:
        c.send(req("/abc.txt") * (n - 1) + req(close=True))
        rs = parse_responses(c.read_all(10))
    assert len(rs) == n
    assert all(r.status == 200 for r in rs)


@pytest.mark.parametrize("status_req,status,keeps", [
    (req("/missing"), 404, True),
    (req("/index.html", "PUT"), 405, True),
    (req("/index.html", "BREW"), 501, False),
    (b"GET /x HTTP/1.1\r\nHost: test.local\r\nBad Header\r\n\r\n", 400, False),
    (req("/index.html", headers={"Expect": "nonsense"}), 417, True),
])
def test_error_statuses_and_persistence(srv_default, status_req, status, keeps):
    # ap_status_drops_connection: 400, 408, 411, 413, 414, 500, 501, 503 close
    with Conn(srv_default.port) as c:
        r = c.request(status_req)
        assert r.status == status
        assert (r.h("Connection") != "close") == keeps
        if keeps:
            assert c.request(req()).status == 200
        else:
            assert c.closed()


def test_keepalive_requests_logged(srv_default):
    with Conn(srv_default.port) as c:
        c.request(req("/abc.txt?ka1"))
        c.request(req("/abc.txt?ka2"))
    log = wait_log(srv_default, "ka2")
    assert '"GET /abc.txt?ka1 HTTP/1.1" 200 26' in log
    assert '"GET /abc.txt?ka2 HTTP/1.1" 200 26' in log
    no_crash(srv_default)
    still_serving(srv_default)


# --- the same requests against Apache --------------------------------------------------
MATRIX = [
    req(), req(headers=KA), req(close=True),
    req(version="HTTP/1.0", host=None), req(version="HTTP/1.0", host=None, headers=KA),
    req("/missing", headers=KA), req("/index.html", "HEAD", headers=KA),
    req("/missing", "POST", headers={"Content-Length": "3", **KA}, body=b"abc"),
    req("/index.html", "BREW", headers=KA),
    req("/", "TRACE", version="HTTP/1.0", host=None, headers=KA),
    req("/", "TRACE", headers=KA),
    req("/index.html", headers={"Connection": "Keep-Alive, TE"}),
    req("/missing", version="HTTP/1.0", host=None, headers=KA),
]


@pytest.fixture(scope="module")
def ka_pair(module_server, module_apache):
    conf = "MaxKeepAliveRequests 50\nKeepAliveTimeout 3\nTraceEnable on\n"
    return module_server(conf), module_apache(conf)


@needs_apache
@pytest.mark.parametrize("data", MATRIX, ids=lambda d: d.split(b"\r\n")[0].decode()
                         + (" ka" if b"keep-alive" in d.lower() else "")
                         + (" close" if b"close" in d.lower() else ""))
def test_connection_headers_match_apache(ka_pair, data):
    method = data.split(b" ", 1)[0].decode()
    results = []
    for port in (ka_pair[0].port, ka_pair[1].port):
        with Conn(port, timeout=5) as c:
            r = c.request(data, method)
            closed = c.closed(0.5)
        results.append((r.status, r.h("Connection"), r.h("Keep-Alive"),
                        r.h("Transfer-Encoding"), closed))
    assert results[0] == results[1]


@needs_apache
def test_417_keeps_the_connection_unlike_apache24(ka_pair):
    # 2.2 answers a bad Expect from ap_read_request and keeps the connection (417 is
    # not in ap_status_drops_connection); 2.4 says Keep-Alive but closes. We keep 2.2's.
    data = req(headers={"Expect": "nonsense", **KA})
    with Conn(ka_pair[0].port) as c:
        r = c.request(data)
        assert (r.status, r.h("Connection")) == (417, "Keep-Alive")
        assert c.request(req()).status == 200
    with Conn(ka_pair[1].port) as c:
        r = c.request(data)
        assert (r.status, r.h("Connection")) == (417, "Keep-Alive")
        assert c.closed(1)


def test_close_in_the_middle_of_a_pipeline(srv_default):
    # requests after "Connection: close" are not answered
    with Conn(srv_default.port) as c:
        c.send(req("/abc.txt") + req(close=True) + req("/abc.txt") + req("/missing"))
        rs = parse_responses(c.read_all())
    assert [r.status for r in rs] == [200, 200]
    assert rs[1].h("Connection") == "close"


def test_keepalive_off_still_chunks_http11(srv_off):
    # ap_set_keepalive decides on chunking before it looks at KeepAlive
    with Conn(srv_off.port) as c:
        r = c.request(req("/", "TRACE"), "TRACE")
        assert r.h("Transfer-Encoding") == "chunked" and r.h("Connection") == "close"
        assert r.body.startswith(b"TRACE / HTTP/1.1\r\n")
        assert c.closed()


@pytest.fixture(scope="module")
def limit_pair(module_server, module_apache):
    conf = "MaxKeepAliveRequests 2\nKeepAliveTimeout 1\n"
    return module_server(conf), module_apache(conf)


@needs_apache
def test_max_keepalive_requests_like_apache(limit_pair):
    counts = []
    for s in limit_pair:
        with Conn(s.port) as c:
            c.send(req("/abc.txt", headers=KA) * 6)
            rs = parse_responses(c.read_all())
        counts.append([(r.status, r.h("Keep-Alive"), r.h("Connection")) for r in rs])
    assert counts[0] == counts[1]
    assert len(counts[0]) == 3          # N + 1


@needs_apache
def test_keepalive_timeout_like_apache(limit_pair):
    took = []
    for s in limit_pair:
        with Conn(s.port) as c:
            assert c.request(req()).status == 200
            t0 = time.monotonic()
            assert c.closed(4)
            took.append(time.monotonic() - t0)
    assert all(0.7 < t < 3.0 for t in took), took
