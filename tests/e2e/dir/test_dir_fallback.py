"""mod_dir's FallbackResource (2.2.16; "disabled" from 2.4.4): requests that map to no
file and no handler are served by a local URL. Compared with Apache httpd."""

from __future__ import annotations

from typing import Any

import requests

LOG = """
LogFormat "%U|%f|%q|%>s" fblog
CustomLog logs/fb_log fblog
"""

CONF = LOG + """
<Directory "@ROOT@/htdocs/app">
    FallbackResource /app/front.html
</Directory>
<Directory "@ROOT@/htdocs/app/static">
    FallbackResource disabled
</Directory>
<Directory "@ROOT@/htdocs/rel">
    FallbackResource page.html
</Directory>
<Directory "@ROOT@/htdocs/app/handled">
    SetHandler x-some-handler
</Directory>
"""

FILES = {
    "htdocs/app/front.html": "front controller\n",
    "htdocs/app/style.css": "body {}\n",
    "htdocs/app/static/logo.txt": "logo\n",
    "htdocs/app/handled/.keep": "",
    "htdocs/app/noindex/other.txt": "x\n",
    "htdocs/rel/page.html": "relative page\n",
    "htdocs/elsewhere.txt": "outside\n",
}


def get(srv: Any, path: str, method: str = "GET", **kw: Any) -> requests.Response:
    return requests.request(method, srv.url(path), allow_redirects=False, timeout=5, **kw)


def test_missing_url_is_served_by_the_fallback(make_server: Any) -> None:
    srv = make_server(CONF, files=FILES)
    for path in ("/app/nothing", "/app/a/b/c.php", "/app/missing.css"):
        r = get(srv, path)
        assert r.status_code == 200, path
        assert r.text == "front controller\n"
        assert r.headers["Content-Type"] == "text/html"      # the fallback's metadata


def test_existing_files_are_unaffected(make_server: Any) -> None:
    srv = make_server(CONF, files=FILES)
    r = get(srv, "/app/style.css")
    assert (r.status_code, r.text, r.headers["Content-Type"]) == (200, "body {}\n", "text/css")
    assert get(srv, "/elsewhere.txt").text == "outside\n"
    assert get(srv, "/nothing-here").status_code == 404       # no fallback outside /app


def test_fallback_keeps_the_query_string(make_server: Any) -> None:
    srv = make_server(CONF, files=FILES)
    r = get(srv, "/app/route?id=7&x=y")
    assert r.text == "front controller\n"
    log = srv.access_log("fb_log")
    assert f"|{srv.root}/htdocs/app/front.html|?id=7&x=y|200" in log


def test_disabled_stops_inheritance(make_server: Any) -> None:
    srv = make_server(CONF, files=FILES)
    assert get(srv, "/app/static/logo.txt").text == "logo\n"
    r = get(srv, "/app/static/missing.png")
    assert r.status_code == 404


def test_a_handler_wins_over_the_fallback(make_server: Any) -> None:
    srv = make_server(CONF, files=FILES)
    get(srv, "/app/handled/missing")
    log = srv.error_log()
    assert f'handler "x-some-handler" not found for: {srv.root}/htdocs/app/handled/missing' \
        in log


def test_relative_fallback_and_recursion(make_server: Any) -> None:
    srv = make_server(CONF, files=FILES)
    assert get(srv, "/rel/missing").text == "relative page\n"
    # relative to a deeper directory the fallback does not exist and is itself missing:
    # Apache recurses until the sub-request limit and answers 500
    r = get(srv, "/rel/sub/missing")
    assert r.status_code == 500
    assert "subrequest nesting levels" in srv.error_log()


def test_fallback_for_a_directory_without_index(make_server: Any) -> None:
    # the DirectoryIndex lookup of index.html falls back too (as Apache 2.2.16+ and 2.4)
    srv = make_server(CONF, files=FILES)
    r = get(srv, "/app/noindex/")
    assert (r.status_code, r.text) == (200, "front controller\n")


def test_fallback_to_a_missing_url_outside_its_scope_is_404(make_server: Any) -> None:
    conf = '<Directory "@ROOT@/htdocs/gone">\n    FallbackResource /not-there.html\n' \
           "</Directory>\n"
    srv = make_server(conf, files={"htdocs/gone/.keep": ""})
    assert get(srv, "/gone/x").status_code == 404


def test_fallback_in_htaccess(make_server: Any) -> None:
    conf = '<Directory "@ROOT@/htdocs">\n    AllowOverride Indexes\n</Directory>\n'
    srv = make_server(conf, files={"htdocs/ht/.htaccess": "FallbackResource /ht/index.html\n",
                                   "htdocs/ht/index.html": "ht front\n"})
    r = get(srv, "/ht/some/route")
    assert (r.status_code, r.text) == (200, "ht front\n")


def test_fallback_head_request(make_server: Any) -> None:
    srv = make_server(CONF, files=FILES)
    r = get(srv, "/app/x", "HEAD")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len("front controller\n"))
