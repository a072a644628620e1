"""mod_alias against a real server (Apache 2.2 manual, mod_alias): Alias, AliasMatch,
ScriptAlias, ScriptAliasMatch, Redirect (status names and codes, gone), RedirectMatch,
RedirectPermanent, RedirectTemp, in server, <VirtualHost>, <Directory>, <Location> and
.htaccess context, and the "Order of Processing"."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import requests
from featherd_testlib import Server, base_conf, free_port

from featherd.core.config import load_config
from featherd.errors import ConfigError
from featherd.modules import builtin_modules

BODY = """
Alias /icons/ @ROOT@/icons/
Alias /img @ROOT@/images
Alias /foo/bar @ROOT@/baz
Alias /foo @ROOT@/gaq
Alias //multi/ @ROOT@/icons/
Alias /rel/ relative/
AliasMatch ^/am/(.*)\\.jpg$ @ROOT@/images/$1.gif
AliasMatch ^/whole(.*)$ @ROOT@/images/&.txt
ScriptAlias /cgi-bin/ @ROOT@/cgi/
ScriptAliasMatch ^/scm/(.*)$ @ROOT@/cgi/$1
Redirect /old http://example.com/new
Redirect permanent /perm http://example.com/p
Redirect temp /tmp-r http://example.com/t
Redirect seeother /see http://example.com/s
Redirect 307 /r307 http://example.com/7
Redirect gone /gone
Redirect 410 /gone2
Redirect /local /target.html
Redirect /withq http://example.com/q?own=1
RedirectMatch ^/rm/(.*)\\.html$ http://example.com/m/$1.htm
RedirectMatch 301 ^/rm301/(.*)$ http://example.com/$1?x=y#frag
RedirectMatch gone ^/rmgone
RedirectMatch 301 ^/crlf/([\\s\\S]*)$ http://example.com/?q=$1
RedirectPermanent /rp http://example.com/rp
RedirectTemp /rt http://example.com/rt
Redirect /icons/moved http://example.com/moved
Alias /ordered/ @ROOT@/images/
Redirect /ordered/ http://example.com/redirect-wins/
<Directory @ROOT@/images>
Redirect /img/dirredir http://example.com/fromdir
</Directory>
<Location /loc>
Redirect /loc/x http://example.com/fromloc
</Location>
<Directory @ROOT@/htdocs>
AllowOverride All
</Directory>
<Directory @ROOT@/gaq>
ForceType text/x-gaq
</Directory>
"""

FILES = {
    "icons/a.gif": "icon a",
    "images/p.gif": "image p",
    "images/x.txt": "x",
    "images/dirredir": "should not be served",
    "baz/b.txt": "baz b",
    "gaq/g.txt": "gaq g",
    "relative/r.txt": "server-root relative",
    "cgi/s.cgi": "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"cgi $SCRIPT_NAME\"\n",
    "htdocs/target.html": "target",
    "htdocs/ht/.htaccess": "Redirect /ht/away http://example.com/from-htaccess\n"
                           "RedirectMatch 301 ^/ht/m(.*)$ http://example.com/hm$1\n",
    "htdocs/ht/stay.txt": "stay",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("alias")
    (root / "logs").mkdir()
    for rel, text in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / "cgi" / "s.cgi").chmod(0o755)
    (root / "images" / "whole").mkdir(parents=True, exist_ok=True)
    (root / "images" / "whole" / "x.txt").write_text("ampersand")
    port = free_port()
    s = Server(root, base_conf(port, BODY.replace("@ROOT@", str(root))), port).start()
    yield s
    s.stop()


def get(srv: Server, path: str, **kw: object) -> requests.Response:
    return requests.get(srv.url(path), allow_redirects=False, timeout=10, **kw)  # type: ignore


def test_alias_maps_outside_docroot(srv: Server) -> None:
    assert get(srv, "/icons/a.gif").text == "icon a"
    assert get(srv, "/img/p.gif").text == "image p"


def test_alias_trailing_slash_required(srv: Server) -> None:
    # "Alias /icons/ ..." does not alias "/icons"
    assert get(srv, "/icons").status_code == 404
    # a URL-path alias without the slash matches whole segments only
    assert get(srv, "/imgx/p.gif").status_code == 404


def test_alias_slashes_collapse(srv: Server) -> None:
    assert get(srv, "//icons/a.gif").text == "icon a"
    assert get(srv, "/multi/a.gif").text == "icon a"


def test_alias_first_match_wins(srv: Server) -> None:
    assert get(srv, "/foo/bar/b.txt").text == "baz b"
    assert get(srv, "/foo/g.txt").text == "gaq g"


def test_alias_target_directory_sections_apply(srv: Server) -> None:
    r = get(srv, "/foo/g.txt")
    assert r.headers["Content-Type"].startswith("text/x-gaq")


def test_alias_relative_to_server_root(srv: Server) -> None:
    assert get(srv, "/rel/r.txt").text == "server-root relative"


def test_alias_match(srv: Server) -> None:
    assert get(srv, "/am/p.jpg").text == "image p"
    assert get(srv, "/am/p.png").status_code == 404
    # '&' is the whole match in the target (ap_pregsub)
    assert get(srv, "/whole/x").text == "ampersand"


def test_script_alias_runs_cgi(srv: Server) -> None:
    # ScriptAlias sets the cgi-script handler: the file runs instead of being sent
    assert get(srv, "/cgi-bin/s.cgi").text == "cgi /cgi-bin/s.cgi\n"
    assert get(srv, "/scm/s.cgi").text == "cgi /scm/s.cgi\n"
    assert get(srv, "/cgi-bin/missing.cgi").status_code == 404


@pytest.mark.parametrize("path,status,location", [
    ("/old", 302, "http://example.com/new"),
    ("/old/sub/page.html", 302, "http://example.com/new/sub/page.html"),
    ("/old/a%20b", 302, "http://example.com/new/a%20b"),
    ("/old?k=v", 302, "http://example.com/new?k=v"),
    ("/perm/x", 301, "http://example.com/p/x"),
    ("/tmp-r", 302, "http://example.com/t"),
    ("/see", 303, "http://example.com/s"),
    ("/r307", 307, "http://example.com/7"),
    ("/withq/z?k=v", 302, "http://example.com/q?own=1/z"),
    ("/rm/a/b.html", 302, "http://example.com/m/a/b.htm"),
    ("/rm301/p%20q", 301, "http://example.com/p%20q?x=y#frag"),
    ("/rp/1", 301, "http://example.com/rp/1"),
    ("/rt/1", 302, "http://example.com/rt/1"),
    ("/icons/moved", 302, "http://example.com/moved"),
    ("/ordered/p.gif", 302, "http://example.com/redirect-wins/p.gif"),
])
def test_redirects(srv: Server, path: str, status: int, location: str) -> None:
    r = get(srv, path)
    assert r.status_code == status
    assert r.headers["Location"] == location
    assert location.split("?")[0].split("#")[0] in r.text   # the canned page links to it


def test_redirect_prefix_must_end_at_segment(srv: Server) -> None:
    assert get(srv, "/oldish").status_code == 404


def test_redirect_to_local_path_is_made_absolute(srv: Server) -> None:
    r = get(srv, "/local")
    assert r.status_code == 302
    assert r.headers["Location"] == f"http://127.0.0.1:{srv.port}/target.html"


@pytest.mark.parametrize("path", ["/gone", "/gone/x", "/gone2", "/rmgone/y"])
def test_gone(srv: Server, path: str) -> None:
    r = get(srv, path)
    assert r.status_code == 410
    assert "Location" not in r.headers
    assert "is no longer available on this server" in r.text


def test_redirect_in_directory_and_location(srv: Server) -> None:
    r = get(srv, "/img/dirredir")
    assert (r.status_code, r.headers["Location"]) == (302, "http://example.com/fromdir")
    r = get(srv, "/loc/x?q=1")
    assert (r.status_code, r.headers["Location"]) == (302, "http://example.com/fromloc?q=1")


def test_redirect_in_htaccess(srv: Server) -> None:
    r = get(srv, "/ht/away/deeper")
    assert (r.status_code, r.headers["Location"]) == \
        (302, "http://example.com/from-htaccess/deeper")
    r = get(srv, "/ht/more")
    assert (r.status_code, r.headers["Location"]) == (301, "http://example.com/hmore")
    assert get(srv, "/ht/stay.txt").text == "stay"


def test_crlf_never_reaches_a_header(srv: Server) -> None:
    raw = srv.raw(b"GET /crlf/a%0d%0aSet-Cookie:%20x HTTP/1.0\r\n\r\n")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nSet-Cookie" not in head
    assert b"Location: http://example.com/?q=a%0d%0aSet-Cookie: x" in head


def test_vhost_entries_come_first(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    for d in ("main", "vh"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "f.txt").write_text(d)
    port = free_port()
    body = textwrap.dedent(f"""
        NameVirtualHost 127.0.0.1:{port}
        Alias /a/ {tmp_path}/main/
        Alias /b/ {tmp_path}/main/
        Redirect /r http://main.example/
        <VirtualHost 127.0.0.1:{port}>
        ServerName vh.test
        Alias /a/ {tmp_path}/vh/
        Redirect /r http://vh.example/
        </VirtualHost>
        """)
    s = Server(tmp_path, base_conf(port, body), port).start()
    try:
        h = {"Host": "vh.test"}
        assert requests.get(s.url("/a/f.txt"), headers=h, timeout=5).text == "vh"
        assert requests.get(s.url("/b/f.txt"), headers=h, timeout=5).text == "main"
        r = requests.get(s.url("/r"), headers=h, allow_redirects=False, timeout=5)
        assert r.headers["Location"] == "http://vh.example/"
    finally:
        s.stop()


@pytest.mark.parametrize("line,msg", [
    ("Redirect /a", "Redirect takes two or three arguments, an optional status, then "
                    "document to be redirected and destination URL"),
    ("Redirect 301 /a", "URL to redirect to is missing"),
    ("Redirect /a relative/path", "Redirect to non-URL"),
    ("Redirect gone /a http://x/", "Redirect URL not valid for this status"),
    ("RedirectMatch ^/(a http://x/", "Regular expression could not be compiled."),
    ("AliasMatch ^/(a /x", "Regular expression could not be compiled."),
    ("Alias /a", "Alias takes two arguments, a fakename and a realname"),
    ("<Directory />\nAlias /a /b\n</Directory>", "Alias not allowed here"),
])
def test_config_errors(line: str, msg: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(None, builtin_modules(), server_root="/", text=line + "\n")
    assert msg in str(e.value)


def test_overlap_warning() -> None:
    tree = load_config(None, builtin_modules(), server_root="/",
                       text="Alias /foo /a\nAlias /foo/bar /b\n")
    assert any("The Alias directive in <string> at line 2 will probably never match "
               "because it overlaps an earlier Alias." in w for w in tree.warnings)
