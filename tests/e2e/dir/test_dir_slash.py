"""mod_dir's trailing-slash redirect (manual: mod_dir, DirectorySlash). Location values
as Apache httpd sends them (ap_escape_uri, lower-case hex; query string kept)."""

from __future__ import annotations

from typing import Any

import requests


def get(srv: Any, path: str, method: str = "GET", **kw: Any) -> requests.Response:
    return requests.request(method, srv.url(path), allow_redirects=False, timeout=5, **kw)


FILES = {"htdocs/docs/index.html": "docs\n", "htdocs/sp ace/index.html": "space\n",
         "htdocs/a;b/index.html": "semi\n", "htdocs/q\"<x>/index.html": "quoted\n",
         "htdocs/p%q/index.html": "percent\n", "htdocs/docs/sub/index.html": "sub\n"}


def test_redirect_adds_the_slash(make_server: Any) -> None:
    srv = make_server("", files=FILES)
    r = get(srv, "/docs")
    assert r.status_code == 301
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/docs/"
    assert f'<a href="http://127.0.0.1:{srv.port}/docs/">here</a>' in r.text
    r = get(srv, "/docs/sub")
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/docs/sub/"


def test_redirect_keeps_the_query_string(make_server: Any) -> None:
    srv = make_server("", files=FILES)
    r = get(srv, "/docs?a=1&b=%20x")
    assert r.status_code == 301
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/docs/?a=1&b=%20x"
    raw = srv.raw(b"GET /docs? HTTP/1.0\r\nHost: h.test\r\n\r\n")
    assert b"\r\nLocation: http://h.test/docs/?\r\n" in raw


def test_redirect_escapes_the_path(make_server: Any) -> None:
    srv = make_server("", files=FILES)
    base = f"http://127.0.0.1:{srv.port}"
    assert get(srv, "/sp%20ace").headers["Location"] == base + "/sp%20ace/"
    assert get(srv, "/a;b").headers["Location"] == base + "/a;b/"
    assert get(srv, "/q%22%3Cx%3E").headers["Location"] == base + "/q%22%3cx%3e/"
    assert get(srv, "/p%25q").headers["Location"] == base + "/p%25q/"
    # and the redirected URL works
    assert get(srv, "/sp%20ace/").text == "space\n"
    assert get(srv, "/p%25q/").text == "percent\n"


def test_redirect_uses_the_host_asked_for(make_server: Any) -> None:
    srv = make_server("UseCanonicalName Off\n", files=FILES)
    raw = srv.raw(b"GET /docs HTTP/1.1\r\nHost: www.example.test:8123\r\n"
                  b"Connection: close\r\n\r\n")
    assert b"\r\nLocation: http://www.example.test:8123/docs/\r\n" in raw
    srv2 = make_server("UseCanonicalName On\n", files=FILES)
    raw = srv2.raw(b"GET /docs HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n")
    assert b"\r\nLocation: http://test.local" in raw     # the ServerName, not the Host
    assert b"/docs/\r\n" in raw


def test_head_is_redirected_and_post_too(make_server: Any) -> None:
    srv = make_server("", files=FILES)
    r = get(srv, "/docs", "HEAD")
    assert r.status_code == 301
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/docs/"
    r = get(srv, "/docs", "POST", data="a=1")
    assert r.status_code == 301


def test_redirect_carefully_spares_non_get(make_server: Any) -> None:
    conf = "SetEnvIf Request_Method POST redirect-carefully\n"
    srv = make_server(conf, files=FILES)
    r = get(srv, "/docs", "POST", data="a=1")
    assert r.status_code != 301 and "Location" not in r.headers
    assert get(srv, "/docs").status_code == 301


def test_directory_slash_off(make_server: Any) -> None:
    conf = """
<Directory "@ROOT@/htdocs/docs">
    DirectorySlash Off
    Options -Indexes
</Directory>
"""
    srv = make_server(conf, files=FILES)
    r = get(srv, "/docs")
    assert r.status_code == 403               # no redirect, no index: mod_autoindex refuses
    assert "Location" not in r.headers
    assert "docs\n" != r.text
    assert get(srv, "/docs/").text == "docs\n"
    # only that directory
    assert get(srv, "/sp%20ace").status_code == 301


def test_directory_slash_off_lists_with_indexes(make_server: Any) -> None:
    # the manual's security warning: with Indexes, the slash-less URL lists the directory
    conf = """
<Directory "@ROOT@/htdocs/docs">
    DirectorySlash Off
    Options +Indexes
</Directory>
"""
    srv = make_server(conf, files=FILES)
    r = get(srv, "/docs")
    assert r.status_code == 200
    assert "Location" not in r.headers
    assert "Index of /docs" in r.text


def test_directory_slash_off_then_on_below(make_server: Any) -> None:
    conf = """
DirectorySlash Off
<Directory "@ROOT@/htdocs/docs/sub">
    DirectorySlash On
</Directory>
"""
    srv = make_server(conf, files=FILES)
    assert "Location" not in get(srv, "/docs").headers
    assert get(srv, "/docs/sub").status_code == 301


def test_files_and_missing_paths_are_not_redirected(make_server: Any) -> None:
    srv = make_server("", files=FILES)
    assert get(srv, "/docs/index.html").status_code == 200
    assert get(srv, "/nothere").status_code == 404
