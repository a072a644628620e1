"""Methods and request-level protocol rules: HEAD, OPTIONS, TRACE (core manual:
TraceEnable), unknown methods (501), Expect: 100-continue (RFC 2616 8.2.3 / 14.20),
absolute-form targets and Host rules (RFC 2616 5.2, 14.23)."""

from __future__ import annotations

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

LONG_BODY = b"x" * 70000


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server("TraceEnable on\n", files={"htdocs/empty.txt": ""})


@pytest.fixture(scope="module")
def srv_trace_off(module_server):
    return module_server("TraceEnable off\n")


@pytest.fixture(scope="module")
def srv_ext(module_server):
    return module_server("""\
        TraceEnable extended
        <Location /limited>
            LimitRequestBody 100
        </Location>
        """)


@pytest.fixture(scope="module")
def srv_vhosts(module_server):
    return module_server("""\
        NameVirtualHost *
        <VirtualHost *>
            ServerName a.test
            DocumentRoot @ROOT@/htdocs/a
        </VirtualHost>
        <VirtualHost *>
            ServerName b.test
            DocumentRoot @ROOT@/htdocs/b
        </VirtualHost>
        """, files={"htdocs/a/who.txt": "a\n", "htdocs/b/who.txt": "b\n"})


# --- HEAD ----------------------------------------------------------------------------
def _without_date(r):
    return [(k, v) for k, v in r.headers if k != "Date"]


@pytest.mark.parametrize("path", ["/index.html", "/abc.txt", "/missing"])
def test_head_headers_identical_to_get(srv, path):
    g = one(srv, req(path, close=True))
    h = one(srv, req(path, "HEAD", close=True), "HEAD")
    assert h.status == g.status
    if g.status == 200:
        assert _without_date(h) == _without_date(g)
        assert h.h("Content-Length") == str(len(g.body))
    else:
        # an error page is not even generated for HEAD: no body, so no Content-Length
        # (ap_send_error_response returns early for header_only; 2.2 and 2.4)
        assert h.h("Content-Length") is None
        assert [x for x in _without_date(g) if x[0] != "Content-Length"] == _without_date(h)


def test_head_has_no_body_on_a_persistent_connection(srv):
    with Conn(srv.port) as c:
        h = c.request(req("/abc.txt", "HEAD"), "HEAD")
        assert h.h("Content-Length") == "26"
        # the next response starts right away: no body bytes were sent for HEAD
        r = c.request(req("/index.html"))
        assert r.status == 200 and r.body == b"hello\n"


def test_head_of_empty_file_has_no_content_length(srv):
    # ap_http_header_filter drops "Content-Length: 0" on HEAD (the RBB hack)
    h = one(srv, req("/empty.txt", "HEAD", close=True), "HEAD")
    g = one(srv, req("/empty.txt", close=True))
    assert h.status == 200 and h.h("Content-Length") is None
    assert g.h("Content-Length") == "0"


def test_head_with_range(srv):
    h = one(srv, req("/abc.txt", "HEAD", headers={"Range": "bytes=2-4"}, close=True), "HEAD")
    assert h.status == 206
    assert h.h("Content-Range") == "bytes 2-4/26" and h.h("Content-Length") == "3"


# --- OPTIONS -------------------------------------------------------------------------
def test_options_star_is_a_ping_without_allow(srv):
    # http_core's http_send_options: "Send HTTP pong, without Allow header"
    r = one(srv, req("*", "OPTIONS", close=True))
    assert r.status == 200 and r.h("Allow") is None
    assert r.h("Content-Length") == "0" and r.body == b""


def test_options_path_lists_methods(srv):
    r = one(srv, req("/index.html", "OPTIONS", close=True))
    assert r.status == 200
    assert r.h("Allow") == "GET,HEAD,POST,OPTIONS,TRACE"
    assert r.h("Content-Length") == "0"


def test_options_allow_without_trace_when_disabled(srv_trace_off):
    r = one(srv_trace_off, req("/index.html", "OPTIONS", close=True))
    assert r.h("Allow") == "GET,HEAD,POST,OPTIONS"


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "TRACE"])
def test_star_only_for_options(srv, method):
    r = one(srv, req("*", method, close=True), method)
    assert r.status == 400


# --- TRACE ---------------------------------------------------------------------------
def test_trace_echoes_the_request_chunked(srv):
    data = req("/some/where?q=1", "TRACE", headers={"X-Foo": "bar", "Max-Forwards": "0"})
    with Conn(srv.port) as c:
        r = c.request(data, "TRACE")
        assert r.status == 200
        assert r.h("Content-Type") == "message/http"
        assert r.h("Transfer-Encoding") == "chunked" and r.h("Content-Length") is None
        assert r.body == data     # the request line, the headers, the blank line
        assert r.chunked_raw == b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
        # chunked responses keep the connection
        assert c.request(req()).status == 200


def test_trace_http10_is_delimited_by_close(srv):
    r = one(srv, b"TRACE / HTTP/1.0\r\nX: y\r\n\r\n", "TRACE")
    assert r.status == 200 and r.h("Transfer-Encoding") is None
    assert r.body == b"TRACE / HTTP/1.0\r\nX: y\r\n\r\n"


def test_trace_with_body_refused(srv):
    with Conn(srv.port) as c:
        r = c.request(req("/", "TRACE", headers={"Content-Length": "5"}, body=b"hello"),
                      "TRACE")
        assert r.status == 413
        assert b"does not allow request data with TRACE requests" in r.body
        assert r.h("Connection") == "close"
        assert c.closed()
    assert "TRACE with body is not allowed for /" in wait_log(srv, "TRACE with body",
                                                               "error_log")


def test_trace_with_chunked_body_refused(srv):
    r = one(srv, req("/", "TRACE", headers={"Transfer-Encoding": "chunked"},
                     body=b"3\r\nabc\r\n0\r\n\r\n", close=True), "TRACE")
    assert r.status == 413


def test_trace_with_empty_content_length_is_fine(srv):
    r = one(srv, req("/", "TRACE", headers={"Content-Length": "0"}, close=True), "TRACE")
    assert r.status == 200


def test_trace_off(srv_trace_off):
    r = one(srv_trace_off, req("/index.html", "TRACE", close=True), "TRACE")
    assert r.status == 405
    assert b"The requested method TRACE is not allowed for the URL /index.html." in r.body
    assert "TRACE" not in (r.h("Allow") or "")


def test_trace_extended_echoes_body(srv_ext):
    data = req("/", "TRACE", headers={"Content-Length": "11"}, body=b"hello world")
    r = one(srv_ext, data + req(close=True), "TRACE")
    assert r.status == 200 and r.body == data


def test_trace_extended_echoes_chunked_body(srv_ext):
    head = req("/", "TRACE", headers={"Transfer-Encoding": "chunked"}, close=True)
    r = one(srv_ext, head + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "TRACE")
    assert r.status == 200 and r.body == head + b"hello world"


def test_trace_extended_64k_cap(srv_ext):
    r = one(srv_ext, req("/", "TRACE", headers={"Content-Length": str(len(LONG_BODY))},
                         body=LONG_BODY), "TRACE")
    assert r.status == 413
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(LONG_BODY[i:i + 8192]), LONG_BODY[i:i + 8192])
                       for i in range(0, len(LONG_BODY), 8192)) + b"0\r\n\r\n"
    r = one(srv_ext, req("/", "TRACE", headers={"Transfer-Encoding": "chunked"}, body=chunked),
            "TRACE")
    assert r.status == 413


# --- 501, 405 --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["BREW", "get", "FOO-BAR"])
def test_unknown_method_501(srv, method):
    r = one(srv, req("/index.html", method, close=True))
    assert r.status == 501 and r.reason == "Method Not Implemented"
    assert r.h("Allow") == "GET,HEAD,POST,OPTIONS,TRACE"
    assert f"<p>{method} to /index.html not supported.<br />\n</p>\n".encode() in r.body
    assert r.h("Connection") == "close"
    log = wait_log(srv, f"Invalid method in request {method} /index.html", "error_log")
    assert f"Invalid method in request {method} /index.html HTTP/1.1" in log


def test_put_to_static_file_405(srv):
    r = one(srv, req("/index.html", "PUT", headers={"Content-Length": "2"}, body=b"ab",
                     close=True))
    assert r.status == 405
    assert r.h("Allow") == "GET,HEAD,POST,OPTIONS,TRACE"
    assert b"<p>The requested method PUT is not allowed for the URL /index.html.</p>" in r.body


# --- Expect ----------------------------------------------------------------------------
def test_100_continue_when_the_handler_reads(srv_ext):
    head = req("/", "TRACE", headers={"Content-Length": "4", "Expect": "100-continue"})
    with Conn(srv_ext.port) as c:
        c.send(head)
        r = c.response()
        assert (r.status, r.reason) == (100, "Continue")
        assert r.raw_head == b"HTTP/1.1 100 Continue"
        c.send(b"body")
        r = c.response("TRACE")
        assert r.status == 200 and r.body == head + b"body"
        assert c.request(req()).status == 200     # still usable


def test_no_100_continue_when_nobody_reads(srv):
    # a static file never reads the body: no 100, and the connection must close since
    # the client may or may not send the body now
    head = req("/index.html", "PUT", headers={"Content-Length": "4",
                                               "Expect": "100-continue"})
    with Conn(srv.port) as c:
        c.send(head)
        r = c.response()
        assert r.status == 405
        assert r.h("Connection") == "close"
        assert c.closed()


def test_100_continue_not_sent_to_http10(srv_ext):
    head = req("/", "TRACE", version="HTTP/1.0", host=None,
               headers={"Content-Length": "4", "Expect": "100-continue"})
    with Conn(srv_ext.port) as c:
        c.send(head)
        time.sleep(0.3)
        c.send(b"body")
        data = c.read_all()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"100 Continue" not in data


def test_no_100_continue_once_the_body_is_refused(srv_ext):
    # LimitRequestBody: refused up front, before any 100 Continue
    head = req("/limited", "TRACE", headers={"Content-Length": "500",
                                             "Expect": "100-continue"})
    with Conn(srv_ext.port) as c:
        r = c.request(head)
        assert r.status == 413 and r.h("Connection") == "close"
        assert c.closed()


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_unknown_expectation_417(srv, version):
    r = one(srv, req("/index.html", version=version, headers={"Expect": "nonsense"},
                     close=True))
    assert r.status == 417 and r.reason == "Expectation Failed"
    assert (b"<p>The expectation given in the Expect request-header\nfield could not be met "
            b"by this server.</p>\n<p>The client sent<pre>\n    Expect: nonsense\n</pre>\n"
            b"but we only allow the 100-continue expectation.</p>\n") in r.body
    log = wait_log(srv, "unrecognized expectation", "error_log")
    assert "client sent an unrecognized expectation value of Expect: nonsense" in log


def test_expect_value_is_escaped_in_the_page(srv):
    r = one(srv, req("/index.html", headers={"Expect": "<b>x</b>"}, close=True))
    assert r.status == 417 and b"Expect: &lt;b&gt;x&lt;/b&gt;" in r.body


# --- Host and absolute-form ----------------------------------------------------------
def test_http11_without_host_400(srv):
    r = one(srv, req("/index.html", host=None))
    assert r.status == 400 and r.h("Connection") == "close"
    log = wait_log(srv, "without hostname", "error_log")
    assert ("client sent HTTP/1.1 request without hostname (see RFC2616 section 14.23): "
            "/index.html") in log


def test_http10_without_host_is_fine(srv):
    assert one(srv, req("/index.html", version="HTTP/1.0", host=None)).status == 200


def test_http11_absolute_uri_still_needs_host(srv):
    # ap_read_request: an HTTP/1.1 request without a Host header is refused even when
    # the URI names the host (2.2 and 2.4 alike)
    assert one(srv, req("http://test.local/index.html", host=None)).status == 400
    assert one(srv, req("http://test.local/index.html", version="HTTP/1.0",
                        host=None)).status == 200


@pytest.mark.parametrize("host", ["a b", "foo/bar", "[::1", "x:80a", "a@b", "ex\tample"])
def test_malformed_host_400(srv, host):
    r = one(srv, req("/index.html", host=host))
    assert r.status == 400
    assert "Client sent malformed Host header" in wait_log(srv, "malformed Host", "error_log")


def test_host_selects_vhost(srv_vhosts):
    assert one(srv_vhosts, req("/who.txt", host="a.test", close=True)).body == b"a\n"
    assert one(srv_vhosts, req("/who.txt", host="B.TEST:80", close=True)).body == b"b\n"


def test_absolute_uri_host_wins_over_host_header(srv_vhosts):
    r = one(srv_vhosts, req("http://b.test/who.txt", host="a.test", close=True))
    assert r.status == 200 and r.body == b"b\n"
    r = one(srv_vhosts, req("http://A.test:80/who.txt?x", host="b.test", close=True))
    assert r.body == b"a\n"


def test_nothing_crashed(srv, srv_ext, srv_trace_off, srv_vhosts):
    for s in (srv, srv_ext, srv_trace_off):
        no_crash(s)
        still_serving(s)
