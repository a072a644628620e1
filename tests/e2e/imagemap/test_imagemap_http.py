"""mod_imagemap through a real server: rect, circle, poly, point, default, base (map,
referer, URL), the menus (formatted, semiformatted, unformatted, none), nocontent/error,
syntax errors; and the same requests through Debian's apache2 (whose menus differ only
in 2.4's DOCTYPE)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from featherd_testlib import site_server

BODY = """
AddHandler imap-file map
<Directory @DOCROOT@/semi>
ImapMenu semiformatted
ImapDefault error
ImapBase referer
</Directory>
<Directory @DOCROOT@/unf>
ImapMenu unformatted
ImapDefault referer
ImapBase http://base.example/dir/sub/
</Directory>
<Directory @DOCROOT@/none>
ImapMenu none
ImapDefault /default.html
</Directory>
"""
MAP = """# A comment line
base http://maps.example/a/b/c.map
default nocontent "Nothing"

rect rect.html "The rectangle" 0,0 100,50
circle /circle.html 200,200 200,250
poly ../poly.html 300,300 400,300 350,400 "Triangle"
point http://abs.example/point1 500,500
point point2.html 600,600
# another comment
rect ../../up.html 10,60 20,70
rect error 30,60 40,70
rect menu 50,60 60,70
"""
MAP2 = "default referer\nrect x.html 0,0 10 10\npoint p.html 50,50\n"
FILES = {"m.map": MAP, "semi/m.map": MAP, "unf/m.map": MAP2, "none/m.map": MAP2,
         "bad.map": "rect\n", "nc.map": "rect x.html 0,0 1,1\n", "cont.map": "rect a.html \\\n 0,0 10,10\n"}
CASES: list[tuple[str, ...]] = [
    ("/m.map",), ("/m.map?10,10",), ("/m.map?0,0",), ("/m.map?210,210",),
    ("/m.map?350,350",), ("/m.map?350,390",), ("/m.map?450,450",), ("/m.map?900,900",),
    ("/m.map?15,65",), ("/m.map?35,65",), ("/m.map?55,65",), ("/m.map?1000,5",),
    ("/semi/m.map",), ("/semi/m.map", "Referer: http://r.example/p/q.html"),
    ("/semi/m.map?1000,5",), ("/semi/m.map?5,5", "Referer: http://r.example/p/q.html"),
    ("/unf/m.map",), ("/unf/m.map?5,5",), ("/unf/m.map?900,900", "Referer: http://ref.example/"),
    ("/unf/m.map?20,20",), ("/none/m.map",), ("/none/m.map?900,900",), ("/bad.map",),
    ("/bad.map?1,1",), ("/cont.map?5,5",), ("/missing.map",), ("/nc.map?50,50",)]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = site_server(tmp_path_factory.mktemp("imap"), BODY, FILES)
    yield s
    s.stop()


def get(srv: Any, path: str, **h: str) -> requests.Response:
    return requests.get(srv.url(path), headers={"Host": "test.local", **h},
                        allow_redirects=False, timeout=10)


@pytest.mark.parametrize("q,location", [
    ("10,10", "http://maps.example/a/b/rect.html"),          # rect, relative to base
    ("210,210", "http://maps.example/circle.html"),          # circle, from the root
    ("350,350", "http://maps.example/a/poly.html"),          # poly, ../ climbs
    ("450,450", "http://abs.example/point1"),                # closest point
    ("900,900", "http://maps.example/a/b/point2.html"),
    ("15,65", "http://maps.example/up.html"),
    ("55,65", "http://test.local/m.map"),                    # "menu": the map itself
])
def test_shapes(srv: Any, q: str, location: str) -> None:
    r = get(srv, f"/m.map?{q}")
    assert (r.status_code, r.headers.get("Location")) == (302, location)


def test_error_and_nocontent(srv: Any) -> None:
    assert get(srv, "/m.map?35,65").status_code == 500
    r = get(srv, "/unf/m.map?900,900")           # ImapDefault referer, without a Referer
    assert r.status_code == 302 and r.headers["Location"] == "http://base.example/dir/sub/p.html"
    # the map's "default referer" beats ImapDefault; without a Referer: the server root
    assert get(srv, "/none/m.map").headers["Location"] == "http://test.local/"
    assert get(srv, "/nc.map?50,50").status_code == 204          # ImapDefault nocontent


def test_formatted_menu(srv: Any) -> None:
    r = get(srv, "/m.map")
    assert r.headers["Content-Type"] == "text/html; charset=ISO-8859-1"
    assert r.text.startswith('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
                             "<html><head>\n<title>Menu for /m.map</title>\n</head><body>\n"
                             "<h1>Menu for /m.map</h1>\n<hr />\n\n\n\n")
    assert '<pre>          <a href="http://maps.example/a/b/rect.html">The rectangle</a>' \
        "</pre>\n" in r.text
    assert '<a href="http://maps.example/a/poly.html">Triangle</a>' in r.text
    assert r.text.endswith("\n\n</body>\n</html>\n")


def test_other_menus(srv: Any) -> None:
    t = get(srv, "/semi/m.map").text
    assert "</head><body>\n A comment line\n<br />\n<pre>" in t
    t = get(srv, "/unf/m.map").text
    assert ('<a href="http://test.local/">http://test.local/</a><a href="http://base.example'
            '/dir/sub/x.html">x.html</a>') in t


def test_syntax_error(srv: Any) -> None:
    assert "[an internal server error occured]" in get(srv, "/bad.map").text
    assert get(srv, "/bad.map?1,1").status_code == 500
    assert "map file /bad.map, line 1 syntax error: requires at least two fields" in \
        srv.error_log()


@pytest.fixture(scope="module")
def pair() -> Iterator[Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
    from compat_harness import Pair, apache_available

    if apache_available() is not None:
        pytest.skip(f"apache2: {apache_available()}")
    p = Pair(BODY, FILES).start()
    yield p
    p.stop()


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c) for c in CASES])
def test_same_as_apache(pair: Any, case: tuple[str, ...]) -> None:
    from compat_harness import req

    f, a = pair.one(req("GET", case[0], "Connection: close", *case[1:]))
    assert (f.status, f.header("Location")) == (a.status, a.header("Location"))
    if a.status == 200:       # 2.2's menus start with the HTML 3.2 DOCTYPE, 2.4's 4.01
        assert f.body.split(b"\n", 1)[1] == a.body.split(b"\n", 1)[1]
