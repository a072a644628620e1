"""mod_cern_meta through a real server, and through Debian's apache2: headers,
Content-Type and Status from .web/<file>.meta, MetaDir and MetaSuffix, MetaFiles not
inherited by a section that sets only the others, a malformed meta file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from featherd_testlib import site_server

BODY = """
MetaFiles on
<Directory @DOCROOT@/md>
MetaDir meta
MetaSuffix .hdr
MetaFiles on
</Directory>
<Directory @DOCROOT@/nomf>
MetaDir meta
</Directory>
"""
FILES = {"m.html": "m\n", ".web/m.html.meta": "Content-Type: text/x-Custom; charset=UTF-8\n"
         "X-Meta: one\nX-Two:   two  \n",
         "st.html": "s\n", ".web/st.html.meta": "Status: 404 Not Here\nX-S: 1\n",
         "blank.html": "b\n", ".web/blank.html.meta": "X-Lost: 1\n\nX-After: 2\n",
         "bad.html": "b\n", ".web/bad.html.meta": "X-Ok: 1\nno colon here\n",
         "md/f.txt": "f\n", "md/meta/f.txt.hdr": "X-Md: yes\n",
         "nomf/f.txt": "f\n", "nomf/meta/f.txt.meta": "X-No: 1\n", "plain.txt": "p\n"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = site_server(tmp_path_factory.mktemp("cm"), BODY, FILES)
    yield s
    s.stop()


def test_headers_and_type(srv: Any) -> None:
    r = requests.get(srv.url("/m.html"), timeout=10)
    assert r.headers["Content-Type"] == "text/x-custom; charset=UTF-8"
    assert (r.headers["X-Meta"], r.headers["X-Two"]) == ("one", "two  ")
    assert r.text == "m\n"


def test_status(srv: Any) -> None:
    r = requests.get(srv.url("/st.html"), timeout=10)
    assert (r.status_code, r.reason, r.headers["X-S"], r.text) == (404, "Not Here", "1", "s\n")


def test_blank_line_ends_the_meta_file(srv: Any) -> None:
    # as in Apache, the headers read before a blank line are dropped with it
    r = requests.get(srv.url("/blank.html"), timeout=10)
    assert "X-Lost" not in r.headers and "X-After" not in r.headers


def test_malformed(srv: Any) -> None:
    assert requests.get(srv.url("/bad.html"), timeout=10).status_code == 500
    assert "malformed header in meta file: " in srv.error_log()


def test_metadir_suffix_and_inheritance(srv: Any) -> None:
    assert requests.get(srv.url("/md/f.txt"), timeout=10).headers["X-Md"] == "yes"
    assert "X-No" not in requests.get(srv.url("/nomf/f.txt"), timeout=10).headers
    assert requests.get(srv.url("/plain.txt"), timeout=10).text == "p\n"


@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
    from compat_harness import Pair, apache_available

    if apache_available() is not None:
        pytest.skip(f"apache2: {apache_available()}")
    p = Pair(BODY, FILES).start()
    yield p
    p.stop()


@pytest.mark.parametrize("path", ["/m.html", "/st.html", "/blank.html", "/bad.html",
                                  "/md/f.txt", "/nomf/f.txt", "/plain.txt"])
def test_same_as_apache(pair: Any, path: str) -> None:
    from compat_harness import req

    f, a = pair.one(req("GET", path, "Connection: close"))
    assert (f.status, f.reason) == (a.status, a.reason)
    for h in ("Content-Type", "X-Meta", "X-Two", "X-S", "X-Lost", "X-Md", "X-No"):
        assert f.header(h) == a.header(h), h
