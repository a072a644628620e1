"""featherd vs apache2 on static files: 200, HEAD, OPTIONS, ranges, conditionals,
directories. Each test sends the same raw request to both and compares."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from compat_harness import HOST, Pair, assert_same, req, requires

BODY = """\
TraceEnable Off
<Directory "@DOCROOT@">
    Options FollowSymLinks
    AllowOverride None
</Directory>
"""

FILES: dict[str, str | bytes] = {
    "a.txt": "hello, world\n",
    "page.html": "<html><body><p>a page</p></body></html>\n",
    "range.txt": "0123456789" * 10,
    "noext": "a file without an extension\n",
    "noindex/x.txt": "x\n",
    "withindex/index.html": "<p>the index</p>\n",
}


@pytest.fixture(scope="module")
def pair(make_pair) -> Pair:  # type: ignore[no-untyped-def]
    return make_pair(BODY, FILES)  # type: ignore[no-any-return]


def test_static_200_headers(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt"))
    assert a.status == 200
    assert_same(f, a, uri="/a.txt")


def test_static_200_html_type(pair: Pair) -> None:
    requires("mime_module")
    f, a = pair.one(req("GET", "/page.html"))
    assert a.header("Content-Type") == "text/html"
    assert_same(f, a, uri="/page.html")


def test_static_unknown_type(pair: Pair) -> None:
    # 2.4 sends no Content-Type; 2.2's DefaultType text/plain is accepted (ALLOWED_22)
    f, a = pair.one(req("GET", "/noext"))
    assert_same(f, a, uri="/noext")


def test_keepalive_headers_not_requested(pair: Pair) -> None:
    # HTTP/1.1 without a Connection header: persistent, and Apache (2.2 and 2.4) sends
    # neither Keep-Alive nor Connection (ka_sent is only set by a keep-alive token)
    f, a = pair.one(req("GET", "/a.txt"))
    assert a.header("Connection") is None and a.header("Keep-Alive") is None
    assert_same(f, a, uri="/a.txt", connection=True)
    assert f.closed == a.closed


def test_keepalive_headers_requested(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt", "Connection: keep-alive"))
    assert a.header("Keep-Alive") == "timeout=5, max=100"
    assert_same(f, a, uri="/a.txt", connection=True)


def test_keepalive_connection_close(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt", "Connection: close"))
    assert a.header("Connection") == "close"
    assert_same(f, a, uri="/a.txt", connection=True)
    assert f.closed and a.closed


def test_static_http10(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt", version="HTTP/1.0"))
    assert_same(f, a, uri="/a.txt", connection=True)
    assert f.closed == a.closed


def test_static_http10_keepalive(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt", "Connection: Keep-Alive", version="HTTP/1.0"))
    assert_same(f, a, uri="/a.txt", connection=True)
    assert f.closed == a.closed


def test_keepalive_second_request_on_connection(pair: Pair) -> None:
    raw = req("GET", "/a.txt") + req("GET", "/range.txt", "Connection: close")
    fs, as_ = pair.both(raw, ["GET", "GET"])
    assert len(as_) == 2
    assert len(fs) == 2, f"featherd answered {len(fs)} of 2 pipelined requests"
    for f, a, uri in zip(fs, as_, ("/a.txt", "/range.txt"), strict=True):
        assert_same(f, a, uri=uri, connection=True)


def test_head(pair: Pair) -> None:
    f, a = pair.one(req("HEAD", "/a.txt"))
    assert a.status == 200 and a.body == b""
    assert f.body == b""
    assert_same(f, a, uri="/a.txt", method="HEAD")


def test_head_404(pair: Pair) -> None:
    f, a = pair.one(req("HEAD", "/missing"))
    assert_same(f, a, uri="/missing", method="HEAD")


def test_options_file(pair: Pair) -> None:
    f, a = pair.one(req("OPTIONS", "/a.txt"))
    assert a.status == 200
    assert_same(f, a, uri="/a.txt", method="OPTIONS")


def test_options_star(pair: Pair) -> None:
    f, a = pair.one(req("OPTIONS", "*"))
    assert_same(f, a, uri="*", method="OPTIONS")


def test_range_single(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/range.txt", "Range: bytes=10-19"))
    assert a.status == 206 and a.body == b"0123456789"
    assert_same(f, a, uri="/range.txt")


def test_range_suffix(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/range.txt", "Range: bytes=-5"))
    assert a.status == 206
    assert_same(f, a, uri="/range.txt")


def test_range_multi(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/range.txt", "Range: bytes=0-4,20-24"))
    assert a.status == 206
    assert (a.header("Content-Type") or "").startswith("multipart/byteranges; boundary=")
    assert_same(f, a, uri="/range.txt")


def test_range_multi_overlapping(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/range.txt", "Range: bytes=0-9,5-14"))
    assert_same(f, a, uri="/range.txt")


def test_range_416(pair: Pair) -> None:
    """Same status and error page; featherd adds Content-Range: bytes */N as RFC 7233
    section 4.4 asks (Apache's error-bucket path leaves it out)."""
    f, a = pair.one(req("GET", "/range.txt", "Range: bytes=500-600"))
    assert a.status == 416
    assert f.header("Content-Range") == "bytes */100"
    assert a.header("Content-Range") is None
    assert f.status == a.status
    assert f.body.split(b"<hr>")[0] == a.body.split(b"<hr>")[0] or b"None of the range-specifier" in f.body


def test_range_ignored_for_bad_unit(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/range.txt", "Range: lines=1-2"))
    assert_same(f, a, uri="/range.txt")


def test_if_none_match_304(pair: Pair) -> None:
    fg, ag = pair.one(req("GET", "/a.txt"))
    f = pair.both(req("GET", "/a.txt", f"If-None-Match: {fg.header('ETag')}"))[0][0]
    a = pair.both(req("GET", "/a.txt", f"If-None-Match: {ag.header('ETag')}"))[1][0]
    assert a.status == 304 and a.body == b""
    assert_same(f, a, uri="/a.txt")


def test_if_none_match_other_etag_200(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt", 'If-None-Match: "not-this-one"'))
    assert a.status == 200
    assert_same(f, a, uri="/a.txt")


def test_if_modified_since_304(pair: Pair) -> None:
    fg, ag = pair.one(req("GET", "/a.txt"))
    assert fg.header("Last-Modified") == ag.header("Last-Modified")
    f, a = pair.one(req("GET", "/a.txt", f"If-Modified-Since: {ag.header('Last-Modified')}"))
    assert a.status == 304
    assert_same(f, a, uri="/a.txt")


def test_if_modified_since_older_200(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"))
    assert a.status == 200
    assert_same(f, a, uri="/a.txt")


def test_directory_slash_301(pair: Pair) -> None:
    requires("dir_module")
    f, a = pair.one(req("GET", "/withindex"))
    assert a.status == 301 and a.header("Location") == f"http://{HOST}/withindex/"
    assert_same(f, a, uri="/withindex")


def test_directory_index_200(pair: Pair) -> None:
    requires("dir_module", "mime_module")
    f, a = pair.one(req("GET", "/withindex/"))
    assert a.status == 200
    assert_same(f, a, uri="/withindex/")


def test_directory_without_index_403(pair: Pair) -> None:
    requires("autoindex_module")
    f, a = pair.one(req("GET", "/noindex/"))
    assert a.status == 403
    assert_same(f, a, uri="/noindex/")


def test_directory_without_index_same_modules(pair: Pair) -> None:
    # whatever the module set (404 from the core alone, 403 with mod_autoindex)
    f, a = pair.one(req("GET", "/noindex/"))
    assert_same(f, a, uri="/noindex/")


def _log_tail(path: Path, marker: str, wait: float = 2.5) -> str:
    """The access-log line of the request whose target contains marker (logs may be
    flushed on a timer)."""
    deadline = time.monotonic() + wait
    while True:
        text = path.read_text() if path.exists() else ""
        lines = [ln for ln in text.splitlines() if marker in ln]
        if lines or time.monotonic() > deadline:
            return lines[-1] if lines else ""
        time.sleep(0.05)


@pytest.mark.parametrize("request_line", [
    "GET /a.txt?log-200", "HEAD /a.txt?log-head", "GET /missing?log-404",
    "GET /range.txt?log-206"])
def test_access_log_status_and_bytes(pair: Pair, request_line: str) -> None:
    # common format: "%h %l %u %t \"%r\" %>s %b" -- %b is the body size without headers
    method, target = request_line.split(" ")
    extra = ("Range: bytes=0-9",) if "206" in target else ()
    f, a = pair.one(req(method, target, *extra), method=method)
    marker = target.split("?")[1]
    fl = _log_tail(pair.featherd.logdir / "access_log", marker)
    al = _log_tail(pair.apache.logdir / "access_log", marker)
    assert al, "apache2 logged nothing"
    assert fl, "featherd logged nothing"
    f_status, f_bytes = fl.rsplit(" ", 2)[1:]
    a_status, a_bytes = al.rsplit(" ", 2)[1:]
    # each logs the body it sent (error pages may differ in wording: ALLOWED_22)
    assert a_bytes == (str(len(a.body)) if a.body else "-"), al
    assert (f_status, f_bytes) == (a_status, str(len(f.body)) if f.body else "-"), \
        f"featherd: {fl} (sent {len(f.body)} body bytes)\napache2:  {al}"
