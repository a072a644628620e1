"""Byte ranges (RFC 7233; byterange_filter.c, MaxRanges) and conditional requests
(RFC 7232 section 6 order: If-Match, If-Unmodified-Since, If-None-Match,
If-Modified-Since, then If-Range), end to end on real files."""

from __future__ import annotations

import os
import random
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

ABC = b"abcdefghijklmnopqrstuvwxyz"
BIG = random.Random(7).randbytes(1 << 20)        # 1 MiB: pieces go out with sendfile
FILES = {"htdocs/abc.txt": ABC, "htdocs/big.bin": BIG}
OLD = time.time() - 7200


@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server("""\
        <Location /cap>
            MaxRanges 2
        </Location>
        <Location /none>
            MaxRanges none
        </Location>
        <Location /unlimited>
            MaxRanges unlimited
        </Location>
        """, files={**FILES, "htdocs/cap/abc.txt": ABC, "htdocs/none/abc.txt": ABC,
                    "htdocs/unlimited/abc.txt": ABC})
    for rel in ("abc.txt", "big.bin", "cap/abc.txt", "none/abc.txt", "unlimited/abc.txt"):
        os.utime(s.root / "htdocs" / rel, (OLD, OLD))     # strong validators
    return s


def get(srv, path="/abc.txt", method="GET", **hdrs):
    return one(srv, req(path, method, headers=hdrs, close=True), method)


def multipart(r):
    m = re.fullmatch(r"multipart/(x-)?byteranges; boundary=(\S+)", r.h("Content-Type") or "")
    assert m, r.h("Content-Type")
    boundary = m.group(2).encode()
    assert r.body.startswith(b"\r\n--" + boundary + b"\r\n")
    assert r.body.endswith(b"\r\n--" + boundary + b"--\r\n")
    parts = []
    for chunk in r.body.split(b"\r\n--" + boundary)[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        hdrs = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((hdrs, data))
    return parts


# --- ranges --------------------------------------------------------------------------
@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-4", 0, 4), ("bytes=-3", 23, 25), ("bytes=20-", 20, 25),
    ("bytes=20-100", 20, 25), ("bytes=25-25", 25, 25), ("bytes=0-0", 0, 0),
    ("bytes=0-5,3-8", 0, 8), ("bytes=0-2,3-5", 0, 5), ("bytes=-100", 0, 25),
])
def test_single_range(srv, spec, start, end):
    r = get(srv, Range=spec)
    assert r.status == 206 and r.reason == "Partial Content"
    assert r.body == ABC[start:end + 1]
    assert r.h("Content-Range") == f"bytes {start}-{end}/26"
    assert r.h("Content-Length") == str(end - start + 1)
    assert r.h("Accept-Ranges") == "bytes"


def test_multiple_ranges(srv):
    r = get(srv, Range="bytes=0-1,5-6,-2")
    assert r.status == 206 and r.h("Content-Range") is None
    assert r.h("Content-Length") == str(len(r.body))
    parts = multipart(r)
    assert [p[1] for p in parts] == [b"ab", b"fg", b"yz"]
    assert [p[0]["Content-range"] for p in parts] == \
        ["bytes 0-1/26", "bytes 5-6/26", "bytes 24-25/26"]
    assert all(p[0]["Content-type"] == "text/plain" for p in parts)


def test_multiple_ranges_out_of_order(srv):
    parts = multipart(get(srv, Range="bytes=10-12,0-1"))
    assert [p[1] for p in parts] == [b"klm", b"ab"]


def test_ranges_of_a_big_file(srv):
    spans = [(0, 299999), (400000, 999999), (1048000, 1048575)]
    r = get(srv, "/big.bin", Range="bytes=" + ",".join(f"{a}-{b}" for a, b in spans))
    assert r.status == 206
    assert [p[1] for p in multipart(r)] == [BIG[a:b + 1] for a, b in spans]
    r = get(srv, "/big.bin", Range="bytes=1000-900000")
    assert r.status == 206 and r.body == BIG[1000:900001]


def test_legacy_request_range(srv):
    r = get(srv, **{"Request-Range": "bytes=0-1,3-4"})
    assert r.status == 206
    assert r.h("Content-Type").startswith("multipart/x-byteranges; boundary=")
    r = get(srv, **{"Request-Range": "bytes=0-1"})
    assert r.status == 206 and r.body == b"ab"


@pytest.mark.parametrize("spec", ["bytes=30-40", "bytes=26-", "bytes=30-40,50-60"])
def test_unsatisfiable_416(srv, spec):
    with Conn(srv.port) as c:
        r = c.request(req("/abc.txt", headers={"Range": spec}))
        assert r.status == 416 and r.reason == "Requested Range Not Satisfiable"
        assert r.h("Content-Range") == "bytes */26"
        assert b"<p>None of the range-specifier values in the Range\n" in r.body
        assert c.request(req()).status == 200      # the connection stays usable


def test_some_satisfiable_ranges_are_served(srv):
    r = get(srv, Range="bytes=30-40,0-1")
    assert r.status == 206 and r.body == b"ab"


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-1", "bytes=5-2", "bytes=", "bytes=-",
                                  "bytes=1-2,x"])
def test_malformed_range_sends_everything(srv, spec):
    r = get(srv, Range=spec)
    assert r.status == 200 and r.body == ABC


def test_range_ignored_on_errors(srv):
    assert get(srv, "/missing", Range="bytes=0-1").status == 404


def test_if_range_etag(srv):
    etag = get(srv).h("ETag")
    assert etag and not etag.startswith("W/")
    r = get(srv, Range="bytes=0-1", **{"If-Range": etag})
    assert r.status == 206 and r.body == b"ab"
    r = get(srv, Range="bytes=0-1", **{"If-Range": '"other"'})
    assert r.status == 200 and r.body == ABC


def test_if_range_date(srv):
    lm = get(srv).h("Last-Modified")
    assert get(srv, Range="bytes=0-1", **{"If-Range": lm}).status == 206
    r = get(srv, Range="bytes=0-1", **{"If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert r.status == 200


def test_max_ranges_cap(srv):
    assert get(srv, "/cap/abc.txt", Range="bytes=0-1,3-4").status == 206
    r = get(srv, "/cap/abc.txt", Range="bytes=0-1,3-4,6-7")
    assert r.status == 200 and r.body == ABC


def test_max_ranges_none(srv):
    r = get(srv, "/none/abc.txt", Range="bytes=0-1")
    assert r.status == 200 and r.body == ABC
    assert r.h("Accept-Ranges") == "none"


def test_max_ranges_unlimited(srv):
    spec = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 26, 2))
    r = get(srv, "/unlimited/abc.txt", Range=spec)
    assert r.status == 206 and len(multipart(r)) == 13


def test_too_many_ranges_default_cap(srv):
    # MaxRanges default is 200 (after merging): 201 distinct ranges send the whole file
    spec = "bytes=" + ",".join(f"{i * 3}-{i * 3}" for i in range(201))
    r = get(srv, "/big.bin", Range=spec)
    assert r.status == 200 and len(r.body) == len(BIG)


# --- conditionals --------------------------------------------------------------------
def test_if_none_match_304_headers(srv):
    g = get(srv)
    with Conn(srv.port) as c:
        r = c.request(req("/abc.txt", headers={"If-None-Match": g.h("ETag"),
                                               "Connection": "keep-alive"}))
        assert r.status == 304 and r.reason == "Not Modified" and r.body == b""
        # 2.2's ap_http_header_filter: Date, Server, then only the listed fields
        assert r.names() == ["Date", "Server", "Connection", "Keep-Alive", "ETag"]
        assert r.h("ETag") == g.h("ETag")
        assert c.request(req()).status == 200     # no body went out


@pytest.mark.parametrize("value", ["*", 'W/{etag}', '"x", {etag}'])
def test_if_none_match_variants(srv, value):
    etag = get(srv).h("ETag")
    assert get(srv, **{"If-None-Match": value.format(etag=etag)}).status == 304


def test_if_none_match_other(srv):
    r = get(srv, **{"If-None-Match": '"nope"'})
    assert r.status == 200 and r.body == ABC


def test_if_modified_since(srv):
    lm = get(srv).h("Last-Modified")
    assert get(srv, **{"If-Modified-Since": lm}).status == 304
    assert get(srv, **{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status == 200
    assert get(srv, **{"If-Modified-Since": "garbage"}).status == 200
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 86400))
    assert get(srv, **{"If-Modified-Since": future}).status == 200


def test_if_none_match_wins_over_if_modified_since(srv):
    lm = get(srv).h("Last-Modified")
    r = get(srv, **{"If-None-Match": '"nope"', "If-Modified-Since": lm})
    assert r.status == 200


def test_if_match(srv):
    etag = get(srv).h("ETag")
    assert get(srv, **{"If-Match": etag}).status == 200
    assert get(srv, **{"If-Match": "*"}).status == 200
    r = get(srv, **{"If-Match": '"nope"'})
    assert r.status == 412 and r.reason == "Precondition Failed"
    assert b"<p>The precondition on the request for the URL /abc.txt evaluated to false.</p>" \
        in r.body
    # a weak tag never matches If-Match (strong comparison)
    assert get(srv, **{"If-Match": "W/" + etag}).status == 412


def test_if_unmodified_since(srv):
    lm = get(srv).h("Last-Modified")
    assert get(srv, **{"If-Unmodified-Since": lm}).status == 200
    assert get(srv, **{"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status == 412


def test_if_match_overrides_if_unmodified_since(srv):
    etag = get(srv).h("ETag")
    r = get(srv, **{"If-Match": etag, "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert r.status == 200


def test_precondition_before_range(srv):
    etag = get(srv).h("ETag")
    assert get(srv, Range="bytes=0-1", **{"If-None-Match": etag}).status == 304
    assert get(srv, Range="bytes=0-1", **{"If-Match": '"x"'}).status == 412


def test_head_conditional(srv):
    etag = get(srv).h("ETag")
    r = get(srv, method="HEAD", **{"If-None-Match": etag})
    assert r.status == 304 and r.h("Content-Length") is None


@pytest.fixture(scope="module")
def apache(module_apache):
    return module_apache(files=FILES)


@needs_apache
def test_304_compared_with_apache(srv, apache):
    # 2.4.68 sends every header on a 304 (Last-Modified, Accept-Ranges too); 2.2 and we
    # send only Connection, Keep-Alive, ETag, Content-Location, Expires, Cache-Control,
    # Vary, Warning, WWW-Authenticate, Proxy-Authenticate, Set-Cookie(2)
    for s in (srv, apache):
        etag = get(s).h("ETag")
        r = get(s, **{"If-None-Match": etag})
        assert r.status == 304 and r.body == b""
        assert r.h("Content-Length") is None and r.h("Content-Type") is None
        assert r.h("ETag") == etag and r.h("Connection") == "close"


@needs_apache
@pytest.mark.parametrize("spec", ["bytes=0-4", "bytes=-3", "bytes=20-", "bytes=20-100",
                                  "bytes=0-5,3-8", "bytes=30-40", "bytes=abc",
                                  "bytes=0-1,5-6,-2"])
def test_ranges_compared_with_apache(srv, apache, spec):
    ap = apache
    ours, theirs = get(srv, Range=spec), get(ap, Range=spec)
    assert ours.status == theirs.status
    if ours.status == 206 and ours.h("Content-Range"):
        assert ours.h("Content-Range") == theirs.h("Content-Range")
        assert ours.body == theirs.body
    if ours.status == 206 and not ours.h("Content-Range"):
        assert [p[1] for p in multipart(ours)] == [p[1] for p in multipart(theirs)]
        assert [p[0]["Content-range"] for p in multipart(ours)] == \
            [p[0]["Content-range"] for p in multipart(theirs)]


def test_no_fd_leak_and_nothing_crashed(srv):
    pid = int((srv.root / "logs" / "httpd.pid").read_text())
    before = len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(20):
        get(srv, "/big.bin", Range="bytes=0-1,400000-700000")
        get(srv, Range="bytes=30-40")
        get(srv, method="HEAD", Range="bytes=0-1")
    after = len(os.listdir(f"/proc/{pid}/fd"))
    assert after <= before + 2, (before, after)
    no_crash(srv)
    still_serving(srv)
