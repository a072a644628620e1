"""The same mod_rewrite / mod_alias rule sets through Debian's apache2 (the oracle) and
featherd: status, Location, Set-Cookie, Vary and, for documents, Content-Type and body
must agree. The rule sets avoid the few places where 2.4 differs from 2.2 (2.2 is the
reference; the 2.4 manual is the one installed). Skipped when apache2 is absent.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import requests
from featherd_testlib import SRC, Server, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
from compat_harness import apache_available, apache_server  # noqa: E402

MIME = f"{SRC}/featherd/data/mime.types"
APACHE_MODULES = ("mpm_prefork", "authz_core", "mime", "dir", "alias", "rewrite")
pytestmark = pytest.mark.skipif(apache_available(APACHE_MODULES) is not None,
                                reason=f"apache2 comparison: {apache_available(APACHE_MODULES)}")

SERVER_RULES = r"""
RewriteEngine on
RewriteMap upper int:toupper
RewriteMap lower int:tolower
RewriteMap esc int:escape
RewriteMap unesc int:unescape
RewriteMap pages txt:@ROOT@/maps/pages.txt
RewriteRule ^/s/basic$ /target.html [L]
RewriteRule ^/s/redir$ /target.html [R]
RewriteRule ^/s/perm$ /target.html [R=301,L]
RewriteRule ^/s/seeother$ /target.html [R=seeother,L]
RewriteRule ^/s/abs$ http://other.example/x [L]
RewriteRule ^/s/self$ http://test.local/target.html [L]
RewriteRule ^/s/qsa$ /target.html?a=1 [QSA,R]
RewriteRule ^/s/noqsa$ /target.html?a=1 [R]
RewriteRule ^/s/discard$ /target.html? [R]
RewriteRule ^/s/esc/(.*)$ /x/$1 [R]
RewriteRule ^/s/ne/(.*)$ /x/$1 [R,NE]
RewriteRule ^/s/anchor/(.*)$ /target.html#$1 [R,NE]
RewriteRule ^/s/b/(.*)$ /x?q=$1 [R,B]
RewriteRule ^/s/forbidden - [F]
RewriteRule ^/s/gone - [G]
RewriteRule ^/s/chain/(.*)$ /c1/$1 [C]
RewriteRule ^/c1/(.*)$ /target.html?via=$1 [R,L]
RewriteRule ^/s/brokenchain/(.*)$ /nomatch/$1 [C]
RewriteRule ^/zzz/(.*)$ /target.html?chained [R,L]
RewriteRule ^/s/brokenchain/ /target.html?after-chain [R,L]
RewriteRule ^/s/skip$ /s/skip2 [S=1]
RewriteRule ^/s/skip2$ /target.html?skipped=no [R,L]
RewriteRule ^/s/skip2$ /target.html?skipped=yes [R,L]
RewriteCond %{HTTP_USER_AGENT} ^Bot [NC]
RewriteRule ^/s/ua - [F]
RewriteCond %{QUERY_STRING} (^|&)id=([0-9]+)
RewriteRule ^/s/qs$ /item/%2? [R]
RewriteCond %{HTTP_HOST} ^www\.(.+)$ [NC]
RewriteRule ^/s/host(.*)$ http://%1$1 [R=301,L]
RewriteRule ^/s/type$ /target.html [T=text/plain,L]
RewriteRule ^/s/cookie$ /target.html [CO=k:v:.test.local:0:/p,R,L]
RewriteRule ^/s/n/(.*)x(.*)$ /s/n/$1y$2 [N]
RewriteRule ^/s/n/(.*)$ /target.html?n=$1 [R,L]
RewriteRule !^/s/not/ - [S=1]
RewriteRule ^/s/not/(.*)$ /target.html?not=$1 [R,L]
RewriteCond %{QUERY_STRING} =yes
RewriteRule ^/s/eq$ /target.html?eq [R,L]
RewriteCond %{QUERY_STRING} >m
RewriteRule ^/s/gt$ /target.html?gt [R,L]
RewriteCond %{QUERY_STRING} <m
RewriteRule ^/s/lt$ /target.html?lt [R,L]
RewriteCond %{QUERY_STRING} !=no
RewriteRule ^/s/ne2$ /target.html?ne2 [R,L]
RewriteCond %{DOCUMENT_ROOT}/target.html -f
RewriteRule ^/s/f$ /target.html?f [R,L]
RewriteCond %{DOCUMENT_ROOT}/d1 -d
RewriteRule ^/s/d$ /target.html?d [R,L]
RewriteCond %{DOCUMENT_ROOT}/empty.txt -s
RewriteRule ^/s/size$ /target.html?nonempty [R,L]
RewriteCond %{DOCUMENT_ROOT}/link.html -l
RewriteRule ^/s/link$ /target.html?link [R,L]
RewriteCond %{REQUEST_URI} ^/s/(or1|or2)$ [OR]
RewriteCond %{QUERY_STRING} ^or$
RewriteRule ^/s/or /target.html?or [R,L]
RewriteCond %{HTTP:X-Test} ^(.+)$
RewriteRule ^/s/hdr$ /target.html?h=%1 [R,L]
RewriteRule ^/s/map/(.*)$ /target.html?u=${upper:$1}&l=${lower:$1} [R,L,NE]
RewriteRule ^/s/mapesc/(.*)$ /target.html?e=${esc:$1} [R,L,NE]
RewriteRule ^/s/page/(.*)$ /${pages:$1|target.html} [L]
RewriteRule ^/s/pt$ /aliased/a.txt [PT,L]
RewriteRule ^/s/vary$ - [L]
RewriteCond %{HTTP_REFERER} !^$
RewriteCond %{HTTP_REFERER} !^http://test\.local/ [NC]
RewriteRule \.gif$ - [F]
RewriteRule ^/s/method$ /target.html?%{REQUEST_METHOD} [R,L]
RewriteRule ^/s/dollar$ /target.html?\$1 [R,L]
RewriteRule ^/s/(a)(b)?(c)$ /target.html?x=$1-$2-$3 [R,L]
RewriteRule ^/S/NC$ /target.html?nc [NC,R,L]
RewriteRule ^/s/end$ /d6/e.html [END]
RewriteRule ^/s/qsd$ /target.html [QSD,R,L]
RewriteRule ^/s/qsl$ /target.html?a?b [QSL,R,L]
RewriteCond %{THE_REQUEST} "^GET /s/tr"
RewriteRule ^/s/tr /target.html?tr [R,L]
RewriteCond %{IS_SUBREQ} =false
RewriteCond %{HTTPS} =off
RewriteCond %{SERVER_PORT} ^[0-9]+$
RewriteCond %{REMOTE_ADDR} ^127\.
RewriteCond %{REQUEST_METHOD} =GET
RewriteCond %{SERVER_PROTOCOL} =HTTP/1.1
RewriteCond %{SERVER_NAME} =test.local
RewriteCond %{REQUEST_URI} =/s/vars
RewriteCond %{QUERY_STRING} =q=1
RewriteRule ^/s/vars /target.html?vars [R,L]
RewriteCond /target.html -U
RewriteRule ^/s/lookup$ /target.html?U [R,L]
RewriteCond %{LA-U:REQUEST_FILENAME} ^(.*)/target\.html$
RewriteRule ^/s/lau$ /target.html?lau [R,L]
RewriteRule ^/s/lau$ /target.html?nolau [R,L]
RewriteRule ^/s/unesc/(.*)$ /target.html?v=${unesc:$1} [R,L,NE]
RewriteRule ^/s/default/(.*)$ /target.html?v=${pages:$1|dflt-$1} [R,L]
RewriteRule ^/s/tilde$ /target.html?t=\~ [R,L]
Alias /aliased/ @ROOT@/aliasdir/
RedirectMatch ^/am/(.*)\.html$ http://elsewhere.example/$1
Redirect permanent /rd http://elsewhere.example/new
Redirect gone /rdgone
Redirect seeother /rd303 /target.html
"""

HTACCESS = {
    "d1": r"""RewriteEngine on
RewriteBase /d1/
RewriteRule ^a$ b.html [L]
RewriteRule ^r$ b.html [R]
RewriteRule ^abs$ /target.html [L]
RewriteRule ^ext$ http://ext.example/d1 [R=301,L]
RewriteRule ^loop(.*)$ loop$1x
RewriteRule ^qsa$ b.html?x=1 [QSA,L]
RewriteRule ^same\.html$ same.html [L]
RewriteRule ^f$ - [F]
RewriteRule ^sub/(.*)$ $1 [L]
""",
    "d2": """RewriteEngine on
RewriteRule ^a$ b.html [L]
RewriteRule ^r$ b.html [R,L]
""",
    "d4": """RewriteEngine on
RewriteBase /d4/
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^(.*)$ index.html?path=$1 [QSA,L]
""",
    "slash": """RewriteEngine on
RewriteBase /slash/
RewriteCond %{REQUEST_FILENAME} -d
RewriteRule ^(.+[^/])$ $1/ [R]
""",
    "d6": r"""RewriteEngine on
RewriteRule ^e\.html$ - [F]
RewriteRule ^pi(.*)$ target.txt?pi=$1 [L]
RewriteRule ^pt$ /aliased/a.txt [PT,L]
RewriteRule ^type$ target.txt [T=application/json,L]
RewriteRule ^dashtype$ - [T=application/json,L]
RewriteRule ^dpi/(.*)$ target.txt?dpi=$1 [DPI,L]
RewriteRule ^vary$ target.txt [L]
RewriteCond %{HTTP:Accept-Language} ^de
RewriteRule ^lang$ target.txt?de [L]
RewriteRule ^n/(.*)x(.*)$ n/$1y$2 [N]
RewriteRule ^n/(.*)$ target.txt?n=$1 [L]
RewriteRule ^r301$ http://test.local/d6/target.txt [R=301,L]
""",
    "d5": """Redirect /d5/old http://elsewhere.example/d5new
RedirectMatch 301 ^/d5/m(.*)$ http://elsewhere.example/m$1
""",
}

DIRECTORY_RULES = """
<Directory "@ROOT@/htdocs/d3">
RewriteEngine on
RewriteRule ^x$ b.html [L]
RewriteRule ^y$ /target.html [R,L]
</Directory>
"""

REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/s/basic", {}), ("/s/redir", {}), ("/s/perm", {}), ("/s/seeother", {}),
    ("/s/abs", {}), ("/s/self", {}), ("/s/qsa?b=2", {}), ("/s/noqsa?b=2", {}),
    ("/s/discard?b=2", {}), ("/s/esc/a%20b%3Fc", {}), ("/s/ne/a%20b", {}),
    ("/s/anchor/top", {}), ("/s/b/a%20b&c", {}), ("/s/forbidden", {}), ("/s/gone", {}),
    ("/s/chain/abc", {}), ("/s/brokenchain/x", {}), ("/s/skip", {}),
    ("/s/ua", {"User-Agent": "bot/1.0"}), ("/s/ua", {"User-Agent": "Mozilla"}),
    ("/s/qs?x=1&id=42", {}), ("/s/host/p", {"Host": "www.example.com"}),
    ("/s/host/p", {}), ("/s/type", {}), ("/s/cookie", {}), ("/s/n/axbxc", {}),
    ("/s/not/q", {}), ("/s/eq?yes", {}), ("/s/eq?no", {}), ("/s/gt?z", {}), ("/s/gt?a", {}),
    ("/s/lt?a", {}), ("/s/lt?zz", {}), ("/s/ne2?x", {}), ("/s/ne2?no", {}), ("/s/f", {}),
    ("/s/d", {}), ("/s/size", {}), ("/s/link", {}), ("/s/or1", {}), ("/s/orx?or", {}),
    ("/s/orx", {}), ("/s/hdr", {"X-Test": "hello"}), ("/s/hdr", {}),
    ("/s/map/MiXed", {}), ("/s/mapesc/a%20b", {}), ("/s/page/known", {}),
    ("/s/page/unknown", {}), ("/s/pt", {}), ("/img.gif", {"Referer": "http://evil.example/"}),
    ("/img.gif", {"Referer": "http://test.local/page"}), ("/img.gif", {}),
    ("/s/method", {}), ("/s/dollar", {}), ("/s/abc", {}), ("/s/ac", {}), ("/s/nc", {}),
    ("/am/x/y.html?q=1", {}), ("/rd/sub?q=1", {}), ("/rdgone/x", {}), ("/rd303", {}),
    ("/aliased/a.txt", {}), ("/target.html", {}),
    ("/d1/a", {}), ("/d1/r", {}), ("/d1/abs", {}), ("/d1/ext?q=1", {}), ("/d1/loop", {}),
    ("/d1/qsa?y=2", {}), ("/d1/same.html", {}), ("/d1/f", {}), ("/d1/sub/b.html", {}),
    ("/d1", {}), ("/d2/a", {}), ("/d2/r", {}), ("/d3/x", {}), ("/d3/y", {}),
    ("/d4/some/path?z=1", {}), ("/d4/index.html", {}), ("/d4/real.txt", {}),
    ("/slash/sub", {}), ("/slash/sub/", {}), ("/d5/old/x?k=v", {}), ("/d5/mine", {}),
    ("/s/end", {}), ("/d6/e.html", {}), ("/s/qsd?x=1", {}), ("/s/qsl", {}), ("/s/tr", {}),
    ("/s/vars?q=1", {}), ("/s/lookup", {}), ("/s/lau", {}), ("/s/unesc/a%2520b", {}),
    ("/s/default/zz", {}), ("/s/default/known", {}), ("/s/tilde", {}),
    ("/d6/pi/extra/x", {}), ("/d6/pt", {}), ("/d6/type", {}), ("/d6/dashtype", {}),
    ("/d6/dpi/a/b", {}), ("/d6/lang", {"Accept-Language": "de-DE"}), ("/d6/lang", {}),
    ("/d6/n/axbxc", {}), ("/d6/r301?k=1", {}),
]


def _files(root: Path) -> None:
    d = root / "htdocs"
    for sub in ("d1", "d2", "d3", "d4", "slash/sub", "d5", "d6"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "target.html").write_text("<p>target</p>\n")
    (d / "empty.txt").write_text("")
    (d / "img.gif").write_bytes(b"GIF89a")
    if not (d / "link.html").exists():
        os.symlink("target.html", d / "link.html")
    for sub in ("d1", "d2", "d3", "d4"):
        (d / sub / "b.html").write_text(f"<p>{sub} b</p>\n")
    (d / "d1" / "same.html").write_text("same\n")
    (d / "d4" / "index.html").write_text("<p>front controller</p>\n")
    (d / "d4" / "real.txt").write_text("real\n")
    (d / "slash" / "sub" / "index.html").write_text("slash index\n")
    (d / "known.html").write_text("known page\n")
    (d / "d6" / "e.html").write_text("e\n")
    (d / "d6" / "target.txt").write_text("d6 target\n")
    (d / "d6" / "dashtype").write_text("{}\n")
    for name, text in HTACCESS.items():
        (d / name / ".htaccess").write_text(text)
    (root / "maps").mkdir(exist_ok=True)
    (root / "maps" / "pages.txt").write_text("# pages\nknown known.html\n")
    (root / "aliasdir").mkdir(exist_ok=True)
    (root / "aliasdir" / "a.txt").write_text("aliased a\n")


def _body(root: Path) -> str:
    return (SERVER_RULES + DIRECTORY_RULES).replace("@ROOT@", str(root))


def _apache_body(root: Path) -> str:
    """apache2's configuration after compat_harness.apache_server's Listen, LoadModule,
    Mutex, PidFile and ErrorLog lines."""
    return (f"ServerName test.local\n"
            f"DocumentRoot {root}/htdocs\nTypesConfig {MIME}\n"
            f"<Directory {root}>\nAllowOverride All\nRequire all granted\n</Directory>\n"
            + _body(root))


def _featherd_conf(root: Path, port: int) -> str:
    return (f"Listen 127.0.0.1:{port}\nServerName test.local\nDocumentRoot {root}/htdocs\n"
            "ErrorLog logs/error_log\nLogLevel info\nPidFile logs/httpd.pid\n"
            f"TypesConfig {MIME}\n<Directory {root}>\nAllowOverride All\n</Directory>\n"
            + _body(root))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("rwcmp")
    (root / "logs").mkdir()
    _files(root)
    apache = apache_server(root / "apache2", APACHE_MODULES, _apache_body(root))
    apache.start()
    port = free_port()
    fd = Server(root, _featherd_conf(root, port), port)
    try:
        fd.start()
        yield apache.port, fd.port, root
    finally:
        fd.stop()
        apache.stop()


def _fetch(port: int, path: str, headers: dict[str, str]) -> dict[str, object]:
    h = {"User-Agent": "test", **headers}
    r = requests.get(f"http://127.0.0.1:{port}{path}", headers=h, allow_redirects=False,
                     timeout=10)
    out: dict[str, object] = {"status": r.status_code,
                              "location": r.headers.get("Location"),
                              "cookie": r.headers.get("Set-Cookie")}
    vary = r.headers.get("Vary")
    out["vary"] = vary
    if r.status_code == 200:
        out["type"] = r.headers.get("Content-Type")
        out["body"] = r.content
    return out


@pytest.mark.parametrize("path,headers", REQUESTS,
                         ids=[f"{p}{'+' + ','.join(h) if h else ''}" for p, h in REQUESTS])
def test_same_as_apache(servers, path: str, headers: dict[str, str]) -> None:
    aport, fport, root = servers
    want = _fetch(aport, path, headers)
    got = _fetch(fport, path, headers)
    if want["location"] is not None:
        want["location"] = str(want["location"]).replace(f":{aport}", ":PORT")
    if got["location"] is not None:
        got["location"] = str(got["location"]).replace(f":{fport}", ":PORT")
    assert got == want, textwrap.shorten(str(root), 80)
