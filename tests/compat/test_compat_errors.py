"""featherd vs apache2 on error responses and protocol edge cases: 404/403/405/501/400/
414 pages, TRACE off, Content-Length with Transfer-Encoding. Error page texts may use
Apache 2.2's wording (see ALLOWED_22 in compat_harness.py)."""

from __future__ import annotations

import pytest
from compat_harness import Pair, assert_same, req, requires

BODY = """\
TraceEnable Off
<Directory "@DOCROOT@">
    Options FollowSymLinks
    AllowOverride None
</Directory>
<Directory "@DOCROOT@/sig">
    ServerSignature On
</Directory>
<IfModule authz_host_module>
<Files "secret.txt">
    Order allow,deny
    Deny from all
</Files>
</IfModule>
"""

FILES: dict[str, str | bytes] = {
    "a.txt": "hello, world\n",
    "secret.txt": "secret\n",
    "sig/present.txt": "here\n",
}


@pytest.fixture(scope="module")
def pair(make_pair) -> Pair:  # type: ignore[no-untyped-def]
    return make_pair(BODY, FILES)  # type: ignore[no-any-return]


def test_404_page(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/missing.html"))
    assert a.status == 404
    assert_same(f, a, uri="/missing.html")


def test_404_page_escapes_uri(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/missing%3Cb%3E.html"))
    assert a.status == 404
    assert_same(f, a, uri="/missing<b>.html")


def test_404_page_with_signature(pair: Pair) -> None:
    # same text except the server's name in <address>
    f, a = pair.one(req("GET", "/sig/missing"))
    assert b"<address>" in a.body
    assert_same(f, a, uri="/sig/missing")


def test_403_page_denied_file(pair: Pair) -> None:
    requires("authz_host_module")
    f, a = pair.one(req("GET", "/secret.txt"))
    assert a.status == 403
    assert_same(f, a, uri="/secret.txt")


def test_post_to_static_file(pair: Pair) -> None:
    # Apache 2.x's default handler serves GET *and* POST from a file (200; 1.3 said 405),
    # after reading and discarding the request body
    f, a = pair.one(req("POST", "/a.txt", "Content-Type: application/x-www-form-urlencoded",
                        "Content-Length: 3", body="a=b"))
    assert a.status == 200
    assert_same(f, a, uri="/a.txt", method="POST")


def test_405_put_to_static_file(pair: Pair) -> None:
    f, a = pair.one(req("PUT", "/a.txt", "Content-Length: 3", body="a=b"))
    assert a.status == 405
    assert_same(f, a, uri="/a.txt", method="PUT")


def test_405_delete_static_file(pair: Pair) -> None:
    f, a = pair.one(req("DELETE", "/a.txt"))
    assert a.status == 405
    assert_same(f, a, uri="/a.txt", method="DELETE")


def test_501_unknown_method(pair: Pair) -> None:
    f, a = pair.one(req("FROB", "/a.txt"), method="FROB")
    assert a.status == 501
    assert_same(f, a, uri="/a.txt", method="FROB", connection=True)


def test_400_http11_without_host(pair: Pair) -> None:
    f, a = pair.one(req("GET", "/a.txt", host=None))
    assert a.status == 400
    assert_same(f, a, uri="/a.txt", connection=True)
    assert f.closed == a.closed


def test_414_long_uri(pair: Pair) -> None:
    uri = "/" + "a" * 9000
    f, a = pair.one(req("GET", uri))
    assert a.status == 414
    assert_same(f, a, uri=uri, connection=True)


def test_trace_off_405(pair: Pair) -> None:
    f, a = pair.one(req("TRACE", "/a.txt"))
    assert a.status == 405
    assert_same(f, a, uri="/a.txt", method="TRACE")


def test_content_length_and_chunked(pair: Pair) -> None:
    """A deliberate difference (issue 2, request smuggling): Apache drops the
    Content-Length and answers 200; featherd refuses the request with 400 and closes.
    Both must close the connection: a pipelined second request is never answered."""
    raw = req("GET", "/a.txt", "Content-Length: 5", "Transfer-Encoding: chunked",
              body="0\r\n\r\n") + req("GET", "/a.txt")
    fs, as_ = pair.both(raw, ["GET", "GET"])
    assert as_ and fs, f"featherd {fs}, apache2 {as_}"
    assert as_[0].status == 200
    assert fs[0].status == 400
    assert fs[0].header("Connection") == "close"
    assert len(fs) == len(as_) == 1, (f"responses: featherd {len(fs)}, apache2 {len(as_)}")
    assert fs[-1].closed and as_[-1].closed


def test_unknown_transfer_encoding(pair: Pair) -> None:
    # 2.4.68: 400; 2.2: 501 "POST to /a.txt not supported." (ALLOWED_22["unknown-te"]);
    # either way the connection is closed
    f, a = pair.one(req("POST", "/a.txt", "Transfer-Encoding: gzip", body="x"))
    assert a.status == 400
    if f.status == 501:
        assert f.header("Connection") == "close", f"featherd:\n{f}"
        assert b"<p>POST to /a.txt not supported.<br />\n" in f.body, f"featherd:\n{f}"
        assert f.closed
    else:
        assert_same(f, a, uri="/a.txt", method="POST", connection=True)
        assert f.closed == a.closed
