"""mod_asis through a real server: Status and headers from the file, the body after the
blank line, a local Location as an internal redirect, HEAD, other methods declined, and
the same files through Debian's apache2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from featherd_testlib import site_server

BODY = "AddHandler send-as-is asis\nAddType httpd/send-as-is .raw\n"
FILES = {
    "m.asis": "Status: 301 Moved Away\nLocation: http://elsewhere.example/x\n"
              "Content-Type: text/html\nX-Custom: yes\n\n<html>moved</html>\n",
    "ok.asis": "Content-Type: text/plain\r\nX-A: 1\r\n\r\nbody line 1\nline2\n",
    "int.asis": "Location: /target.txt\n\nignored\n", "target.txt": "target\n",
    "st.asis": "Status: 404 Gone Fishing\nContent-Type: text/plain\n\nnf\n",
    "r.raw": "Content-Type: text/plain\n\nraw type\n", "empty.asis": "",
    "cookie.asis": "Set-Cookie: a=1\nSet-Cookie: b=2\n\nc\n",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = site_server(tmp_path_factory.mktemp("asis"), BODY, FILES)
    yield s
    s.stop()


def test_status_headers_and_body(srv: Any) -> None:
    r = requests.get(srv.url("/m.asis"), allow_redirects=False, timeout=10)
    assert (r.status_code, r.reason) == (301, "Moved Away")
    assert r.headers["Location"] == "http://elsewhere.example/x"
    assert (r.headers["X-Custom"], r.headers["Content-Type"]) == ("yes", "text/html")
    assert r.text == "<html>moved</html>\n"
    r = requests.get(srv.url("/ok.asis"), timeout=10)
    assert (r.text, r.headers["X-A"], r.headers["Content-Length"]) == \
        ("body line 1\nline2\n", "1", "18")


def test_local_location_is_an_internal_redirect(srv: Any) -> None:
    r = requests.get(srv.url("/int.asis"), allow_redirects=False, timeout=10)
    assert (r.status_code, r.text) == (200, "target\n")


def test_status_type_cookies_empty(srv: Any) -> None:
    r = requests.get(srv.url("/st.asis"), timeout=10)
    assert (r.status_code, r.reason, r.text) == (404, "Gone Fishing", "nf\n")
    assert requests.get(srv.url("/r.raw"), timeout=10).text == "raw type\n"
    r = requests.get(srv.url("/cookie.asis"), timeout=10)
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert requests.get(srv.url("/empty.asis"), timeout=10).text == ""


def test_head_missing_and_other_methods(srv: Any) -> None:
    raw = srv.raw(b"HEAD /ok.asis HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK") and raw.endswith(b"\r\n\r\n")
    assert b"X-A: 1\r\n" in raw
    assert requests.get(srv.url("/missing.asis"), timeout=10).status_code == 404
    # POST is declined: the core serves the file itself
    r = requests.post(srv.url("/ok.asis"), timeout=10)
    assert r.text.startswith("Content-Type: text/plain")


@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
    from compat_harness import Pair, apache_available

    if apache_available() is not None:
        pytest.skip(f"apache2: {apache_available()}")
    p = Pair(BODY, FILES).start()
    yield p
    p.stop()


@pytest.mark.parametrize("path", [f"/{k}" for k in FILES if not k.startswith("target")])
def test_same_as_apache(pair: Any, path: str) -> None:
    from compat_harness import req

    f, a = pair.one(req("GET", path, "Connection: close"))
    assert (f.status, f.reason, f.body) == (a.status, a.reason, a.body)
    for h in ("Location", "X-Custom", "X-A", "Set-Cookie"):
        assert f.header(h) == a.header(h)
