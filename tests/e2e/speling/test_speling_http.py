"""mod_speling through a real server, and the same requests through Debian's apache2:
301 for one candidate, 300 with Apache's list for several, CheckCaseOnly, .htaccess."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from featherd_testlib import site_server

BODY = """
<Directory @DOCROOT@>
CheckSpelling On
AllowOverride All
</Directory>
<Directory @DOCROOT@/co>
CheckSpelling On
CheckCaseOnly On
</Directory>
<Directory @DOCROOT@/off>
CheckCaseOnly On
</Directory>
"""
FILES = {"Index.html": "idx\n", "about.html": "about\n", "abuot.htm": "x\n", "faq.txt": "faq\n",
         "faq.html": "faqh\n", "readme": "r\n", "Readme.txt": "R\n", "co/Foo.html": "foo\n",
         "co/foo.txt": "foot\n", "co/bar.html": "b\n", "off/Foo.html": "f\n",
         "dir/page.html": "p\n", "q": "q\n", "ht/.htaccess": "CheckSpelling Off\n",
         "ht/File.html": "h\n"}
CASES = ["/index.html", "/INDEX.HTML?a=b", "/abuot.html", "/about.htm", "/aobut.html",
         "/bout.html", "/abbout.html", "/faq", "/faq.htm", "/README", "/co/foo.html",
         "/co/FOO.txt", "/co/foo.htm", "/co/fo.html", "/off/foo.html", "/Dir/page.html",
         "/dir/Page.html", "/x", "/qq", "/nothing-like", "/dir/Page.html/extra",
         "/a%20bout.html", "/ht/file.html"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = site_server(tmp_path_factory.mktemp("sp"), BODY, FILES)
    yield s
    s.stop()


def get(srv: Any, path: str, **h: str) -> requests.Response:
    return requests.get(srv.url(path), headers=h, allow_redirects=False, timeout=10)


def test_one_candidate_is_a_301(srv: Any) -> None:
    r = get(srv, "/INDEX.HTML?a=b", Referer="http://ref.example/", Host="test.local")
    assert (r.status_code, r.headers["Location"]) == (301, "http://test.local/Index.html?a=b")
    assert "Fixed spelling: /INDEX.HTML to /Index.html?a=b from http://ref.example/" in \
        srv.error_log()
    assert get(srv, "/aobut.html", Host="test.local").headers["Location"] == \
        "http://test.local/about.html"


def test_several_candidates_are_a_300_list(srv: Any) -> None:
    r = get(srv, "/faq", Referer="http://ref.example/p?a=<b>")
    assert r.status_code == 300
    assert ("The document name you requested (<code>/faq</code>) could not be found on this "
            "server.\nHowever, we found documents with names similar to the one you "
            "requested.<p>Available documents:\n<ul>\n") in r.text
    assert '<li><a href="/faq.txt">/faq.txt</a> (common basename)\n' in r.text
    assert ('Please consider informing the owner of the <a href="http://ref.example/p%3fa=%3cb%3e">'
            "referring page</a> about the broken link.\n") in r.text
    assert "Spelling fix: /faq: 2 candidates from http://ref.example/p?a=<b>" in srv.error_log()


def test_case_only_and_htaccess(srv: Any) -> None:
    assert get(srv, "/co/FOO.html").status_code == 301
    assert get(srv, "/co/fo.html").status_code == 404
    assert get(srv, "/off/foo.html").status_code == 404     # CheckCaseOnly alone: off
    assert get(srv, "/ht/file.html").status_code == 404     # CheckSpelling Off in .htaccess


def test_post_is_not_corrected(srv: Any) -> None:
    assert requests.post(srv.url("/index.html"), timeout=10).status_code == 404


@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
    from compat_harness import Pair, apache_available

    if apache_available() is not None:
        pytest.skip(f"apache2: {apache_available()}")
    p = Pair(BODY, FILES).start()
    yield p
    p.stop()


@pytest.mark.parametrize("path", CASES)
def test_same_as_apache(pair: Any, path: str) -> None:
    from compat_harness import req

    f, a = pair.one(req("GET", path, "Connection: close"))
    assert (f.status, f.header("Location")) == (a.status, a.header("Location"))
    if a.status == 300:       # the list is the same; 2.4 uses another DOCTYPE
        assert f.body.split(b"<h1>")[1] == a.body.split(b"<h1>")[1]
