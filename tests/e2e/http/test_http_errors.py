"""Error pages (http_protocol.c get_canned_error_string, 2.2 wording, byte for byte),
the Date header, ServerTokens and ServerSignature (core manual), compared with Apache.

Apache 2.4 words several pages differently from 2.2 (403, 404, 405, 413, 417, 500, 501)
and changed reason phrases ("Request-URI Too Long", "Not Implemented", "Request
Timeout"); featherd keeps 2.2's, the comparison tests pin down where they differ.
"""

from __future__ import annotations

import email.utils
import re
import time

import pytest
import test_http_util
from test_http_util import (
    Conn,
    needs_apache,
    no_crash,
    one,
    req,
    still_serving,
)

module_apache = test_http_util.module_apache   # the shared fixture
module_server = test_http_util.module_server   # the shared fixture

CONF = """\
    ServerName test.local:@PORT@
    TimeOut 1
    TraceEnable on
    <Directory "@ROOT@/htdocs/noindex">
        Options -Indexes
    </Directory>
    <Location /secret>
        Require valid-user
    </Location>
    """
FILES = {"htdocs/noindex/.keep": "", "htdocs/secret/s.txt": "s\n"}
ADMIN = "admin@test.local"

# status -> (request, reason phrase, the 2.2 page text between </h1> and </body>)
CASES: dict[int, tuple[bytes, str, bytes]] = {
    400: (b"GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", "Bad Request",
          b"<p>Your browser sent a request that this server could not understand.<br />\n"
          b"</p>\n"),
    403: (req("/noindex/", close=True), "Forbidden",
          b"<p>You don't have permission to access /noindex/\non this server.</p>\n"),
    404: (req("/no/such<thing>", close=True), "Not Found",
          b"<p>The requested URL /no/such&lt;thing&gt; was not found on this server.</p>\n"),
    405: (req("/index.html", "PUT", close=True), "Method Not Allowed",
          b"<p>The requested method PUT is not allowed for the URL /index.html.</p>\n"),
    408: (b"GET /index.html HTTP/1.1\r\nHost: test.local\r\n", "Request Time-out",
          b"<p>Server timeout waiting for the HTTP request from the client.</p>\n"),
    413: (req("/index.html", "TRACE", headers={"Content-Length": "3"}, body=b"abc"),
          "Request Entity Too Large",
          b"The requested resource<br />/index.html<br />\ndoes not allow request data with "
          b"TRACE requests, or the amount of data provided in\nthe request exceeds the "
          b"capacity limit.\n"),
    414: (req("/" + "a" * 9000), "Request-URI Too Large",
          b"<p>The requested URL's length exceeds the capacity\nlimit for this server."
          b"<br />\n</p>\n"),
    416: (req("/index.html", headers={"Range": "bytes=1000-"}),
          "Requested Range Not Satisfiable",
          b"<p>None of the range-specifier values in the Range\nrequest-header field overlap "
          b"the current extent\nof the selected resource.</p>\n"),
    417: (req("/index.html", headers={"Expect": "nonsense"}, close=True), "Expectation Failed",
          b"<p>The expectation given in the Expect request-header\nfield could not be met by "
          b"this server.</p>\n<p>The client sent<pre>\n    Expect: nonsense\n</pre>\nbut we "
          b"only allow the 100-continue expectation.</p>\n"),
    500: (req("/secret/s.txt", close=True), "Internal Server Error",
          b"<p>The server encountered an internal error or\nmisconfiguration and was unable "
          b"to complete\nyour request.</p>\n<p>Please contact the server administrator,\n "
          b"admin@test.local and inform them of the time the error occurred,\nand anything "
          b"you might have done that may have\ncaused the error.</p>\n<p>More information "
          b"about this error may be available\nin the server error log.</p>\n"),
    501: (req("/index.html", "BREW", close=True), "Method Not Implemented",
          b"<p>BREW to /index.html not supported.<br />\n</p>\n"),
    505: (req("/index.html", version="HTTP/2.0", close=True), "HTTP Version Not Supported",
          b""),
}

# Where Apache 2.4 (the installed oracle) differs from 2.2: a phrase of its text
APACHE24_TEXT = {
    403: b"<p>You don't have permission to access this resource.</p>",
    404: b"<p>The requested URL was not found on this server.</p>",
    405: b"<p>The requested method PUT is not allowed for this URL.</p>",
    413: b"does not allow request data with TRACE requests",
    417: b"The client sent<pre>\n    Expect: nonsense\n</pre>",
    500: b"admin@test.local",
    501: b"BREW not supported for current URL.",
}
SAME_IN_24 = {400, 408, 414, 416}


def page(status: int, reason: str, text: bytes, sig: bytes = b"") -> bytes:
    return (b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>'
            + f"{status} {reason}".encode() + b"</title>\n</head><body>\n<h1>"
            + reason.encode() + b"</h1>\n" + text + sig + b"</body></html>\n")


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server(CONF, files=FILES)


@pytest.fixture(scope="module")
def apache(module_apache):
    return module_apache(CONF, files=FILES)


def _get(s, data: bytes):
    with Conn(s.port, timeout=5) as c:
        c.send(data)
        return c.response()


@pytest.mark.parametrize("status", sorted(CASES))
def test_error_page_byte_for_byte(srv, status):
    data, reason, text = CASES[status]
    r = _get(srv, data)
    assert (r.status, r.reason) == (status, reason)
    assert r.h("Content-Type") == "text/html; charset=iso-8859-1"
    assert r.body == page(status, reason, text)
    assert r.h("Content-Length") == str(len(r.body))
    if status in (400, 408, 413, 414, 500, 501):
        assert r.h("Connection") == "close"
    if status == 416:
        assert r.h("Content-Range") == "bytes */6"
        assert r.h("Connection") is None      # 416 keeps the connection


def test_missing_colon_note(srv):
    # 2.2's ap_get_mime_headers_core puts the offending line in the page (2.4 does not)
    r = _get(srv, b"GET /x HTTP/1.1\r\nHost: test.local\r\nBad <Header>\r\n\r\n")
    assert r.body == page(400, "Bad Request", b"<p>Your browser sent a request that this "
                          b"server could not understand.<br />\nRequest header field is "
                          b"missing ':' separator.<br />\n<pre>\nBad &lt;Header&gt;</pre>\n"
                          b"</p>\n")


@needs_apache
@pytest.mark.parametrize("status", sorted(s for s in CASES if s != 505))
def test_error_page_compared_with_apache(srv, apache, status):
    data = CASES[status][0]
    ours, theirs = _get(srv, data), _get(apache, data)
    assert ours.status == theirs.status
    body = re.search(rb"</h1>\n(.*)</body>", theirs.body, re.S)
    assert body is not None
    if status in SAME_IN_24:
        assert body.group(1) == CASES[status][2]
    else:
        assert APACHE24_TEXT[status] in body.group(1)
    # the same header fields, in the same order (Apache 2.4 has no DefaultType; its
    # 416 page, sent from an error bucket, has no Content-Range and is chunked)
    skip = {"Content-Type", "ETag", "Last-Modified"}
    if status == 416:
        skip |= {"Content-Range", "Content-Length", "Connection", "Transfer-Encoding"}
    assert [h for h in ours.names() if h not in skip] == \
        [h for h in theirs.names() if h not in skip]


@needs_apache
def test_http2_version_is_505_unlike_apache24(srv, apache):
    # 2.4 serves "HTTP/2.0" as if it were 1.1; featherd's parser refuses majors > 1
    data = CASES[505][0]
    assert _get(srv, data).status == 505
    assert _get(apache, data).status == 200


def test_head_error_has_headers_only(srv):
    r = one(srv, req("/missing", "HEAD", close=True), "HEAD")
    assert r.status == 404 and r.body == b""
    assert r.h("Content-Type") == "text/html; charset=iso-8859-1"


# --- Date ----------------------------------------------------------------------------
def test_date_header_is_now_in_rfc1123(srv):
    r = one(srv, req(close=True))
    d = r.h("Date")
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul"
                        r"|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", d or "")
    assert abs(email.utils.parsedate_to_datetime(d).timestamp() - time.time()) < 3
    assert r.names()[:2] == ["Date", "Server"]


def test_date_on_error_pages(srv):
    r = _get(srv, CASES[400][0])
    assert r.names()[:2] == ["Date", "Server"]


# --- ServerTokens --------------------------------------------------------------------
TOKENS = {
    "Prod": r"featherd", "ProductOnly": r"featherd", "Major": r"featherd/\d+",
    "Minor": r"featherd/\d+\.\d+", "Min": r"featherd/\d+\.\d+\.\d+",
    "Minimal": r"featherd/\d+\.\d+\.\d+", "OS": r"featherd/\d+\.\d+\.\d+ \(Unix\)",
    "Full": r"featherd/\d+\.\d+\.\d+ \(Unix\) Python/\S+",
}


@pytest.fixture(scope="module")
def token_servers(module_server):
    return {t: module_server(f"ServerName test.local:@PORT@\nServerTokens {t}\n"
                             "ServerSignature On\n") for t in TOKENS}


@pytest.mark.parametrize("tok", sorted(TOKENS))
def test_server_tokens(token_servers, tok):
    s = token_servers[tok]
    r = one(s, req("/missing", close=True))
    assert re.fullmatch(TOKENS[tok], r.h("Server") or ""), r.h("Server")
    # the signature carries the same banner (ap_get_server_banner)
    sig = f"<hr>\n<address>{r.h('Server')} Server at test.local Port {s.port}</address>\n"
    assert r.body.endswith(sig.encode() + b"</body></html>\n")


def test_server_tokens_default_is_full(srv):
    assert re.fullmatch(TOKENS["Full"], one(srv, req(close=True)).h("Server") or "")


# --- ServerSignature -----------------------------------------------------------------
@pytest.fixture(scope="module")
def sig_srv(module_server):
    return module_server("""\
        ServerName test.local:@PORT@
        ServerSignature Off
        <Location /on>
            ServerSignature On
        </Location>
        <Location /mail>
            ServerSignature EMail
        </Location>
        """)


def test_signature_off(sig_srv):
    r = one(sig_srv, req("/missing", close=True))
    assert r.body.endswith(b"on this server.</p>\n</body></html>\n")


def test_signature_on(sig_srv):
    r = one(sig_srv, req("/on/missing", close=True))
    srv_hdr = r.h("Server")
    assert r.body == page(404, "Not Found", b"<p>The requested URL /on/missing was not found "
                          b"on this server.</p>\n", f"<hr>\n<address>{srv_hdr} Server at "
                          f"test.local Port {sig_srv.port}</address>\n".encode())


def test_signature_email(sig_srv):
    r = one(sig_srv, req("/mail/missing", close=True))
    assert (f'<hr>\n<address>{r.h("Server")} Server at <a href="mailto:{ADMIN}">test.local'
            f"</a> Port {sig_srv.port}</address>\n</body></html>\n").encode() in r.body


@needs_apache
def test_signature_shape_matches_apache(module_server, module_apache):
    conf = "ServerName test.local:@PORT@\nServerSignature On\n"
    ours, theirs = module_server(conf), module_apache(conf)
    pat = rb"<hr>\n<address>[^<]+ Server at test\.local Port (\d+)</address>\n</body></html>\n$"
    for s in (ours, theirs):
        r = one(s, req("/missing", close=True))
        m = re.search(pat, r.body)
        assert m and int(m.group(1)) == s.port


def test_nothing_crashed(srv, sig_srv):
    for s in (srv, sig_srv):
        no_crash(s)
        still_serving(s)
