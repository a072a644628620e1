"""mod_imagemap's pieces without sockets: the shape tests, coordinates, the map-line
reader and the URL resolution against a base (with "../")."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from featherd.http.headers import Headers
from featherd.modules.mappers.imagemap import (
    get_coords,
    imap_url,
    map_lines,
    point_in_circle,
    point_in_poly,
    point_in_rect,
    read_quoted,
    read_vertices,
)


def test_shapes() -> None:
    assert point_in_rect((5, 5), [(10, 10), (0, 0)])
    assert not point_in_rect((11, 5), [(0, 0), (10, 10)])
    assert point_in_circle((3, 4), [(0, 0), (5, 0)])
    assert not point_in_circle((4, 4), [(0, 0), (5, 0)])
    tri = [(0, 0), (10, 0), (5, 10)]
    assert point_in_poly((5, 5), tri) and not point_in_poly((9, 9), tri)
    assert point_in_poly((5, 0), tri)                   # on an edge


def test_coordinates_and_vertices() -> None:
    assert get_coords("12,34") == (12, 34)
    assert get_coords("x=12,y=34") == (12, 34)
    assert get_coords(None) == (-1, -1)
    assert get_coords("12") == (12, -1)
    pts, rest = read_vertices('0,0 100, 50 "text"')
    assert pts == [(0, 0), (100, 50)] and rest.strip() == '"text"'
    assert read_quoted(' "Menu text" 1,2') == (" 1,2", "Menu text")
    assert read_quoted("1,2") == ("1,2", None)


def test_map_lines() -> None:
    assert map_lines("  rect a 1,1 \\\n 2,2  \n\n#c\n") == [(1, "rect a 1,1  2,2"), (3, ""),
                                                            (4, "#c")]


def req(referer: str | None = None) -> Any:
    h = Headers([("Referer", referer)] if referer else [])
    return SimpleNamespace(uri="/maps/m.map", headers_in=h, construct_url=lambda p: "http://h" + p,
                           log_error=lambda level, msg: None)


def test_imap_url() -> None:
    r = req()
    base = "http://s.example/a/b/c.map"
    assert imap_url(r, base, "x.html") == "http://s.example/a/b/x.html"
    assert imap_url(r, base, "/x.html") == "http://s.example/x.html"
    assert imap_url(r, base, "../x.html") == "http://s.example/a/x.html"
    assert imap_url(r, base, "../../../x.html") is None     # into the server name
    assert imap_url(r, base, "mailto:me@example.com") == "mailto:me@example.com"
    assert imap_url(r, None, "map") == "http://h/maps/m.map"
    assert imap_url(r, None, "referer") == "http://h/"
    assert imap_url(req("http://ref/x"), None, "referer") == "http://ref/x"
    assert imap_url(r, None, "NoContent") == "NoContent"
    assert imap_url(r, "nobase", "../x") is None
