"""URI decoding and normalisation before mapping (CVE-2021-41773/42013 class)."""

from types import SimpleNamespace

import pytest

from featherd.core.request import BadURI, Request, getparents, parse_uri


def _req() -> Request:
    server = SimpleNamespace(lookup_defaults=[], module_config=[])
    return Request(SimpleNamespace(), server, SimpleNamespace())  # type: ignore[arg-type]


@pytest.mark.parametrize("raw,expected", [
    ("/", "/"),
    ("/a/b", "/a/b"),
    ("/a/./b", "/a/b"),
    ("/a/../b", "/b"),
    ("/../../etc/passwd", "/etc/passwd"),
    ("/a/b/..", "/a/"),
    ("/a/b/.", "/a/b/"),
    ("/a/..", "/"),
    ("/..", "/"),
])
def test_getparents(raw: str, expected: str) -> None:
    assert getparents(raw) == expected


@pytest.mark.parametrize("target,uri,args", [
    ("/index.html", "/index.html", None),
    ("/a%20b?x=1", "/a b", "x=1"),
    ("/cgi-bin/.%2e/x/.%2e/etc/passwd", "/etc/passwd", None),
    ("/a/b/%2e%2e/%2e%2e/c", "/c", None),
    ("/x/%252e%252e/y", "/x/%2e%2e/y", None),   # decoded once only
    ("/q?", "/q", ""),
])
def test_parse_uri_decodes_once_and_normalises(target: str, uri: str, args: str | None) -> None:
    r = _req()
    parse_uri(r, target)
    assert r.uri == uri
    assert r.args == args
    assert r.unparsed_uri == target


@pytest.mark.parametrize("target,status", [
    ("/a%2fb", 404),       # encoded slash: Apache's AllowEncodedSlashes Off gives 404
    ("/a%00b", 404),
    ("/a%zzb", 400),
    ("/a%4", 400),
    ("relative", 400),
    # CVE-2021-41773/42013: decoded dot-segments that climb above the root are refused
    ("/cgi-bin/.%2e/.%2e/.%2e/etc/passwd", 400),
    ("/icons/.%2e/%2e%2e/%2e%2e/etc/passwd", 400),
    ("/../../etc/passwd", 400),
    ("/a/../../b", 400),
])
def test_parse_uri_rejects(target: str, status: int) -> None:
    with pytest.raises(BadURI) as e:
        parse_uri(_req(), target)
    assert e.value.status == status


def test_absolute_form_sets_hostname_and_port() -> None:
    r = _req()
    parse_uri(r, "http://Example.COM:8080/p?q=1")
    assert r.hostname == "example.com"
    assert r.parsed_port == 8080
    assert r.uri == "/p"
    assert r.args == "q=1"
