"""The CGI environment helpers (util_script.c: http2env, ap_find_path_info,
ap_escape_shell_cmd, ap_create_environment; RFC 3875 section 4.1)."""

from __future__ import annotations

import pytest

from featherd.modules.generators import cgi_env as C


@pytest.mark.parametrize("name,want", [
    ("Host", "HTTP_HOST"), ("X-Forwarded-For", "HTTP_X_FORWARDED_FOR"),
    ("accept-language", "HTTP_ACCEPT_LANGUAGE"), ("X_Under", None), ("X.Dot", None),
    ("X Space", None),
])
def test_http2env(name: str, want: str | None) -> None:
    assert C.http2env(name) == want


@pytest.mark.parametrize("uri,pi,script", [
    ("/cgi-bin/x.cgi/a/b", "/a/b", "/cgi-bin/x.cgi"),
    ("/cgi-bin/x.cgi", "", "/cgi-bin/x.cgi"),
    ("/cgi-bin//x.cgi//a/b", "/a/b", "/cgi-bin//x.cgi"),
    ("/x.cgi/a/", "/a/", "/x.cgi"),
    ("/a/b", "/a/b", ""),
])
def test_find_path_info(uri: str, pi: str, script: str) -> None:
    assert uri[:C.find_path_info(uri, pi)] == script


def test_escapes() -> None:
    assert C.escape_shell_cmd("a&b;c`d'e\"f|g*h?i~j<k>l^m(n)o[p]q{r}s$t\\u\nv") == \
        "a\\&b\\;c\\`d\\'e\\\"f\\|g\\*h\\?i\\~j\\<k\\>l\\^m\\(n\\)o\\[p\\]q\\{r\\}s\\$t\\\\u\\\nv"
    assert C.escape_shell_cmd("plain text") == "plain text"
    assert C.unescape_url("a%20b+c%zz%2") == "a b+c%zz%2"
    assert C.unescape_url("a%00b") == "a"
    assert C.unescape_url("%C3%A9") == "\xc3\xa9"           # bytes, as latin-1
    assert C.escape_uri("/a b/é?#") == "/a%20b/%e9%3f%23"
    assert C.escape_bytes("a b*", ".-*_ ") == "a b*"


def test_create_environment_sanitises_names_and_values() -> None:
    env = C.create_environment({"GOOD": "v", "bad-name": "x", "1st": "y", "nul": "a\x00b",
                                "latin": "\xe9", "wide": "\u20ac", "none": None})
    assert env[b"GOOD"] == b"v"
    assert env[b"bad_name"] == b"x"
    assert env[b"_st"] == b"y"
    assert env[b"nul"] == b"a"
    assert env[b"latin"] == b"\xe9"
    assert env[b"wide"] == "\u20ac".encode()
    assert b"none" not in env


def test_overlap_keeps_position_and_spelling() -> None:
    env = {"Path": "old", "A": "1"}
    C.overlap(env, {"PATH": "new", "B": "2"})
    assert list(env.items()) == [("Path", "new"), ("A", "1"), ("B", "2")]
    empty: dict[str, str] = {}
    C.overlap(empty, {"X": "1"})
    assert empty == {"X": "1"}
